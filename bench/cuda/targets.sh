#!/bin/bash
# The issue-4 benchmark set (shapes and tests of shared/docs/ANCHORS.md), run on the GPU machine
# after bench/cuda/run_device.sh has unpacked build-cuda-dev/. Each model is generated once into
# /tmp and benchmarked with `tern bench`; raw logs go to $OUT, the tables to $OUT/summary.txt.
#   bench/cuda/targets.sh [quick]
set -u
OUT=${OUT:-/tmp/out}
B=build-cuda-dev
SUM=$OUT/summary.txt
BW=$(sed -n 's/.*median \([0-9.]*\) GB.*/\1/p' "$SUM" | tail -1)
BW=${BW:-4258.9}
gen() { # shape type -> /tmp/shape-type.gguf
    [ -f /tmp/$1-$2.gguf ] || timeout 300 $B/tern bench --synthetic $1 -w $2 --write /tmp/$1-$2.gguf > /dev/null 2>&1
}
bench() { # label file args...
    local label=$1 f=$2; shift 2
    local t0=$(date +%s)
    timeout ${BENCH_TIMEOUT:-300} $B/tern bench -m $f -ngl 99 --bw $BW "$@" > "$OUT/b-$label.log" 2>&1
    echo "== $label: tern bench -m $(basename $f) -ngl 99 --bw $BW $*  (rc $?, $(( $(date +%s) - t0 )) s)" >> "$SUM"
    grep -E "^\| (llama|qwen)" "$OUT/b-$label.log" >> "$SUM" || tail -3 "$OUT/b-$label.log" >> "$SUM"
}
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
