#!/bin/bash
# Issue 5's speed set on the GPU machine (after bench/cuda/run_device.sh has unpacked
# build-cuda-dev/): Llama-3-8B shape Q4_K_M, f16 vs turbo3 K/V caches, decode at depth 8192 and
# 32768, pp512 at depth 8192, and a 131072-token context with turbo3. Raw logs go to $OUT, the
# tables to $OUT/summary.txt.   bench/cuda/turbo_bench.sh [quick|ctx]   (ctx: only the 131072 run)
. bench/cuda/lib.sh
unpack
copy_bw
F=/tmp/llama3-8b-Q4_K_M.gguf
gen llama3-8b Q4_K_M
if [ "${1:-}" != ctx ]; then
    bench tg-f16 $F -p 0 -n 128 -d 8192,32768 -r 2
    bench tg-turbo3 $F -p 0 -n 128 -d 8192,32768 -r 2 -ctk turbo3 -ctv turbo3
    bench pp-f16 $F -p 512 -n 0 -d 8192 -r 2
    bench pp-turbo3 $F -p 512 -n 0 -d 8192 -r 2 -ctk turbo3 -ctv turbo3
    [ "${1:-}" = quick ] && exit 0
    bench tg-turbo4 $F -p 0 -n 128 -d 32768 -r 2 -ctk turbo4 -ctv turbo4
    bench tg-turbo2 $F -p 0 -n 128 -d 32768 -r 2 -ctk turbo2 -ctv turbo2
    TERN_CUDA_TURBO_REF=1 bench tg-turbo3-ref $F -p 0 -n 32 -d 8192 -r 1 -ctk turbo3 -ctv turbo3
fi
( while sleep 5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader; done ) > "$OUT/mem-128k.log" 2>&1 &
MP=$!
BENCH_TIMEOUT=420 bench ctx-131072-turbo3 $F -p 0 -n 32 -d 131072 -r 1 -ctk turbo3 -ctv turbo3
kill $MP
echo "GPU memory used during the 131072 run (max): $(sort -n "$OUT/mem-128k.log" | tail -1)" >> "$SUM"
pack_raw
