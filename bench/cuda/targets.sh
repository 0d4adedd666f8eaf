#!/bin/bash
# The issue-4 benchmark set (shapes and tests of shared/docs/ANCHORS.md), run on the GPU machine
# after bench/cuda/run_device.sh has unpacked build-cuda-dev/. Each model is generated once into
# /tmp and benchmarked with `tern bench`; raw logs go to $OUT, the tables to $OUT/summary.txt.
#   bench/cuda/targets.sh [quick]
. bench/cuda/lib.sh
unpack
copy_bw
gen llama3-8b q4_0
bench l3-q4_0 /tmp/llama3-8b-q4_0.gguf -p 512 -n 128 -r 5
TERN_CUDA_PDL=0 bench l3-q4_0-nopdl /tmp/llama3-8b-q4_0.gguf -p 0 -n 128 -r 3
TERN_CUDA_STAGE=0 bench l3-q4_0-nostage /tmp/llama3-8b-q4_0.gguf -p 0 -n 128 -r 3
[ "${1:-}" = quick ] && exit 0
gen llama3-8b Q4_K_M
bench l3-q4km /tmp/llama3-8b-Q4_K_M.gguf -p 512 -n 128 -r 5
bench l3-q4km-d32k /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 128 -d 32768 -r 2
gen llama3-8b q8_0
bench l3-q8_0 /tmp/llama3-8b-q8_0.gguf -p 0 -n 128 -r 5
rm -f /tmp/llama3-8b-q8_0.gguf
gen llama3-8b f16
bench l3-f16 /tmp/llama3-8b-f16.gguf -p 512 -n 128 -r 5
rm -f /tmp/llama3-8b-f16.gguf
gen llama2-7b q4_0
bench l2-q4_0 /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 5
gen qwen3-0.6b q4_0
bench q3-q4_0 /tmp/qwen3-0.6b-q4_0.gguf -p 512 -n 128 -r 5
