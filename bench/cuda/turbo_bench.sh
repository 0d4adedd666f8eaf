#!/bin/bash
# Issue 5's speed set on the GPU machine (after bench/cuda/run_device.sh has unpacked
# build-cuda-dev/): Llama-3-8B shape Q4_K_M, f16 vs turbo3 K/V caches, decode at depth 8192 and
# 32768, pp512 at depth 8192, and a 131072-token context with turbo3. Raw logs go to $OUT, the
# tables to $OUT/summary.txt.   bench/cuda/turbo_bench.sh [quick]
set -u
OUT=${OUT:-/tmp/out}
B=build-cuda-dev
SUM=$OUT/summary.txt
BW=$(sed -n 's/.*median \([0-9.]*\) GB.*/\1/p' "$SUM" | tail -1)
BW=${BW:-4258.9}
F=/tmp/llama3-8b-Q4_K_M.gguf
[ -f $F ] || timeout 300 $B/tern bench --synthetic llama3-8b -w Q4_K_M --write $F > /dev/null 2>&1
bench() { # label args...
    local label=$1; shift
    local t0=$(date +%s)
    timeout ${BENCH_TIMEOUT:-300} $B/tern bench -m $F -ngl 99 --bw $BW "$@" > "$OUT/b-$label.log" 2>&1
    echo "== $label: tern bench -m $(basename $F) -ngl 99 --bw $BW $*  (rc $?, $(( $(date +%s) - t0 )) s)" >> "$SUM"
    grep -E "^\| (llama|qwen)" "$OUT/b-$label.log" >> "$SUM" || tail -3 "$OUT/b-$label.log" >> "$SUM"
}
bench tg-f16 -p 0 -n 128 -d 8192,32768 -r 2
bench tg-turbo3 -p 0 -n 128 -d 8192,32768 -r 2 -ctk turbo3 -ctv turbo3
bench pp-f16 -p 512 -n 0 -d 8192 -r 2
bench pp-turbo3 -p 512 -n 0 -d 8192 -r 2 -ctk turbo3 -ctv turbo3
[ "${1:-}" = quick ] && exit 0
bench tg-turbo4 -p 0 -n 128 -d 32768 -r 2 -ctk turbo4 -ctv turbo4
bench tg-turbo2 -p 0 -n 128 -d 32768 -r 2 -ctk turbo2 -ctv turbo2
TERN_CUDA_TURBO_REF=1 bench tg-turbo3-ref -p 0 -n 32 -d 8192 -r 1 -ctk turbo3 -ctv turbo3
( while sleep 5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader; done ) > "$OUT/mem-128k.log" 2>&1 &
MP=$!
BENCH_TIMEOUT=420 bench ctx-131072-turbo3 -p 0 -n 32 -d 131072 -r 1 -ctk turbo3 -ctv turbo3
kill $MP
echo "GPU memory used during the 131072 run (max): $(sort -n "$OUT/mem-128k.log" | tail -1)" >> "$SUM"
