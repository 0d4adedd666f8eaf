#!/bin/bash
# Where the decode step's time at depth goes (GPU machine, build-cuda-dev/ carried): Llama-3-8B
# shape Q4_K_M, f16 and turbo3 caches, tg64 at several depths with and without the attention
# kernels (TERN_CUDA_SKIP=attn: wrong results, the difference is what attention costs in the
# replayed graph), Nsight Compute durations of the attention kernels at d8192, and the SASS
# opcode histogram of the turbo3 tensor-core decode kernel (head size 128). Summary in $OUT.
#   bench/cuda/depth_diag.sh
. bench/cuda/lib.sh
unpack
copy_bw
gen llama3-8b Q4_K_M
F=/tmp/llama3-8b-Q4_K_M.gguf
A="-p 0 -n 64 -r 2"
T="-ctk turbo3 -ctv turbo3"
bench f16 $F $A -d 0,2048,8192,32768
TERN_CUDA_SKIP=attn bench f16-noattn $F $A -d 0,8192,32768
bench turbo3 $F $A -d 0,2048,8192,32768 $T
TERN_CUDA_SKIP=attn bench turbo3-noattn $F $A -d 8192,32768 $T
ncu_time f16-d8192 "--graph-profiling node -k regex:k_attn_dec --launch-count 64" "" $F -r 1 -p 0 -n 2 -d 8192
ncu_time t3-d8192 "--graph-profiling node -k regex:k_attn_dec|tq_dec|tq_merge --launch-count 96" "" $F -r 1 -p 0 -n 2 -d 8192 $T
PATH=$PATH:/usr/local/cuda/bin
if command -v cuobjdump > /dev/null; then
    cuobjdump -sass $B/tern 2>&1 | awk '/Function : /{p = /tq_dec_tcILi128ELi3/} p' > "$OUT/tq_dec_tc-128-3.sass"
    echo "== SASS tq_dec_tc<128,3>: $(grep -c '/\*[0-9a-f]*\*/' "$OUT/tq_dec_tc-128-3.sass") instructions" >> "$SUM"
fi
echo "================ summary"
cat "$SUM"
