#!/bin/bash
# A/B of the decode RoPE fusion (GPU machine, repository root, build-cuda-dev/ carried): the CUDA
# tests, then tg128 on Llama-3-8B, Qwen3-0.6B and Llama-2-7B Q4_0 shapes with the RoPE + cache
# store in the q/k/v mat-vec epilogue (default) and as a separate kernel (TERN_CUDA_FUSE_ROPE=0).
#   bench/cuda/fuse_run.sh
set -u
OUT=${OUT:-/tmp/out}
export OUT
MEMCHECK=${MEMCHECK:-1} bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
B=build-cuda-dev
SUM=$OUT/summary.txt
BW=$(sed -n 's/.*median \([0-9.]*\) GB.*/\1/p' "$SUM" | tail -1)
gen() { [ -f /tmp/$1-$2.gguf ] || timeout 300 $B/tern bench --synthetic $1 -w $2 --write /tmp/$1-$2.gguf > /dev/null 2>&1; }
bench() { # label file args...
    local label=$1 f=$2; shift 2
    local t0=$(date +%s)
    timeout ${BENCH_TIMEOUT:-300} $B/tern bench -m $f -ngl 99 --bw $BW "$@" > "$OUT/b-$label.log" 2>&1
    echo "== $label: $(env | grep -E '^TERN_CUDA' | tr '\n' ' ')tern bench -m $(basename $f) -ngl 99 --bw $BW $*  (rc $?, $(( $(date +%s) - t0 )) s)" >> "$SUM"
    grep -E "^\| (llama|qwen)" "$OUT/b-$label.log" >> "$SUM" || tail -3 "$OUT/b-$label.log" >> "$SUM"
}
gen llama3-8b q4_0
F=/tmp/llama3-8b-q4_0.gguf
bench l3-fused $F -p 0 -n 128 -r 3
TERN_CUDA_FUSE_ROPE=0 bench l3-norope $F -p 0 -n 128 -r 3
bench l3-fused-again $F -p 512 -n 128 -r 3
gen qwen3-0.6b q4_0
Q=/tmp/qwen3-0.6b-q4_0.gguf
bench q3-fused $Q -p 0 -n 128 -r 3
TERN_CUDA_FUSE_ROPE=0 bench q3-norope $Q -p 0 -n 128 -r 3
gen llama2-7b q4_0
bench l2-fused /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 3
TERN_CUDA_FUSE_ROPE=0 bench l2-norope /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 3
echo "================ summary"
cat "$SUM"
