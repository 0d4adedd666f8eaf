#!/bin/bash
# A session's benchmark record in two device calls of < 10 minutes (GPU machine, repository root,
# build-cuda-dev/ carried). Part a: the CUDA tests with compute-sanitizer, Llama-3-8B Q4_0 and
# Q4_K_M (pp512, tg128, tg128 @ d32768 with f16 and turbo3 caches), Qwen3-0.6B Q4_0, Llama-2-7B
# Q4_0, and Nsight Compute timings of the decode attention kernel. Part b: Llama-3-8B Q8_0 and F16, and issue 5's TurboQuant
# rows (bench/cuda/turbo_bench.sh quick). Tables in $OUT/summary.txt.
#   bench/cuda/record_run.sh a|b
. bench/cuda/lib.sh
if [ "${1:-}" = a ]; then
    bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
fi
unpack
copy_bw
ncu_attn() { ncu_time $1 "-k regex:attn_dec --launch-skip 64 --launch-count 64" "" "${@:2}"; }
if [ "${1:-}" = a ]; then
    gen llama3-8b q4_0
    bench l3-q4_0 /tmp/llama3-8b-q4_0.gguf -p 512 -n 128 -r 5
    TERN_CUDA_FUSE_ROPE=0 bench l3-q4_0-norope /tmp/llama3-8b-q4_0.gguf -p 0 -n 128 -r 3
    gen qwen3-0.6b q4_0
    bench q3-q4_0 /tmp/qwen3-0.6b-q4_0.gguf -p 512 -n 128 -r 5
    gen llama3-8b Q4_K_M
    bench l3-q4km /tmp/llama3-8b-Q4_K_M.gguf -p 512 -n 128 -r 5
    bench l3-q4km-d32k /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 128 -d 32768 -r 2
    ncu_attn short /tmp/llama3-8b-q4_0.gguf -p 0 -n 8 -r 1
    ncu_attn d32k /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 4 -d 32768 -r 1
    bench l3-q4km-d32k-turbo3 /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 128 -d 32768 -r 1 -ctk turbo3 -ctv turbo3
    gen llama2-7b q4_0
    bench l2-q4_0 /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 5
else
    gen llama3-8b q8_0
    bench l3-q8_0 /tmp/llama3-8b-q8_0.gguf -p 0 -n 128 -r 5
    rm -f /tmp/llama3-8b-q8_0.gguf
    gen llama3-8b f16
    bench l3-f16 /tmp/llama3-8b-f16.gguf -p 512 -n 128 -r 5
    rm -f /tmp/llama3-8b-f16.gguf
    bash bench/cuda/turbo_bench.sh quick
fi
echo "================ summary"
cat "$SUM"
