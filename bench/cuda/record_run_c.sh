#!/bin/bash
# The targets' benchmark rows in one device call of < 8 minutes (GPU machine, repository root,
# build-cuda-dev/ carried), without the tests (bench/cuda/run_device.sh tests runs those): Llama-3-8B
# Q4_0 and Q4_K_M (pp512, tg128, tg128 @ d32768 with f16 and turbo3 caches), Qwen3-0.6B Q4_0,
# Llama-2-7B Q4_0, and `tern run`'s per-step device vs host time (TERN_CUDA_TIMING=1).
. bench/cuda/lib.sh
unpack
copy_bw
gen llama3-8b q4_0
bench l3-q4_0 /tmp/llama3-8b-q4_0.gguf -p 512 -n 128 -r 5
gen llama3-8b Q4_K_M
bench l3-q4km /tmp/llama3-8b-Q4_K_M.gguf -p 512 -n 128 -r 5
bench l3-q4km-d32k /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 128 -d 32768 -r 2
bench l3-q4km-d32k-turbo3 /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 128 -d 32768 -r 1 -ctk turbo3 -ctv turbo3
gen qwen3-0.6b q4_0
bench q3-q4_0 /tmp/qwen3-0.6b-q4_0.gguf -p 512 -n 128 -r 5
gen llama2-7b q4_0
bench l2-q4_0 /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 5
for t in 0 0.8; do
    TERN_CUDA_TIMING=1 timeout 120 $B/tern run -m /tmp/llama3-8b-q4_0.gguf -ngl 99 -p "The quick brown fox" -n 256 --temp $t --ignore-eos > "$RAW/run-$t.log" 2>&1
    echo "== TERN_CUDA_TIMING=1 tern run -m llama3-8b-q4_0.gguf -ngl 99 -n 256 --temp $t --ignore-eos (rc $?)" >> "$SUM"
    grep -E "generation|CUDA timing" "$RAW/run-$t.log" >> "$SUM"
done
pack_raw
echo "================ summary"
cat "$SUM"
