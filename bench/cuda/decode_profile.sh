#!/bin/bash
# Where a decode step's time goes (GPU machine, repository root, build-cuda-dev/ carried):
# Llama-3-8B shape Q4_0 tg128 with the RoPE mat-vec epilogue on and off (TERN_CUDA_FUSE_ROPE=0),
# and with one kind of kernel left out (TERN_CUDA_SKIP, with RoPE as its own kernel so that it can
# be: wrong results, the time difference is what that kernel costs inside the replayed graph); an
# Nsight Systems kernel summary of the graph replay when nsys is installed. Everything goes to
# $OUT/summary.txt.
#   bench/cuda/decode_profile.sh [tests]
. bench/cuda/lib.sh
[ "${1:-}" = tests ] && bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
unpack
copy_bw
gen llama3-8b q4_0
F=/tmp/llama3-8b-q4_0.gguf
A="-p 0 -n 128 -r 3"
bench default $F $A
TERN_CUDA_FUSE_ROPE=0 bench none $F $A
for s in attn norm quant rope; do TERN_CUDA_FUSE_ROPE=0 TERN_CUDA_SKIP=$s bench skip-$s $F $A; done
TERN_CUDA_FUSE_ROPE=0 TERN_CUDA_SKIP=attn,norm,quant,rope bench skip-all-small $F $A
gen qwen3-0.6b q4_0
Q=/tmp/qwen3-0.6b-q4_0.gguf
bench q3-default $Q $A
TERN_CUDA_SKIP=attn,norm,quant,rope bench q3-skip-all-small $Q $A
if command -v nsys > /dev/null; then
    timeout 200 nsys profile -o /tmp/prof --cuda-graph-trace=node -t cuda $B/tern bench -m $F -ngl 99 -p 0 -n 64 -r 1 > /tmp/nsys.log 2>&1
    echo "== nsys kernel summary (tg64, Llama-3-8B Q4_0, default fusions)" >> "$SUM"
    timeout 200 nsys stats -r cuda_gpu_kern_sum -f csv /tmp/prof.nsys-rep 2>&1 | cut -c1-220 | head -40 >> "$SUM"
else
    echo "nsys: not installed" >> "$SUM"
fi
echo "================ summary"
cat "$SUM"
