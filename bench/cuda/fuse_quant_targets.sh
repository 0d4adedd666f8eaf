#!/bin/bash
# The issue-4/5 target rows not in fuse_quant.sh, on the build with the RMSNorm items made by the
# residual mat-vecs (default): Llama-2-7B Q4_0 and Llama-3-8B Q8_0 tg128, Llama-3-8B Q4_K_M tg64
# at depth 32768 with f16 and turbo3 caches. Most important first (the device budget may cut it).
. bench/cuda/lib.sh
unpack
copy_bw
gen llama2-7b q4_0
bench l2-q4_0 /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 3
gen llama3-8b Q4_K_M
bench d32k-f16 /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 64 -d 32768 -r 2
bench d32k-turbo3 /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 64 -d 32768 -r 2 -ctk turbo3 -ctv turbo3
gen llama3-8b q8_0
bench l3-q8_0 /tmp/llama3-8b-q8_0.gguf -p 0 -n 128 -r 3
echo "================ summary"
cat "$SUM"
