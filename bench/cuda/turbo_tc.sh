#!/bin/bash
# The TurboQuant tensor-core decode kernel (the default, src/cuda/cuda_turbo_tc.cu) against the
# f32 turbo kernel (TERN_CUDA_TURBO_TC=0) and the f16 cache (GPU machine, repository root,
# build-cuda-dev/ carried; run bench/cuda/run_device.sh tests first: test_cuda_turbo and
# test_cuda_kv_turbo check the kernel). Llama-3-8B shape Q4_K_M, tg64 at depth 8192 and 32768;
# the tensor-core kernel's splits follow the f16 tensor-core kernel's one-wave rule (CELLS entry
# 0) unless TERN_CUDA_SPLIT_CELLS sets cells per split (the other CELLS entries; the f32 turbo
# kernel uses 128).
#   CELLS="0 128 1024 2048" bench/cuda/turbo_tc.sh
. bench/cuda/lib.sh
unpack
copy_bw
F=/tmp/llama3-8b-Q4_K_M.gguf
gen llama3-8b Q4_K_M
D=${DEPTHS:-8192,32768}
bench f16 $F -p 0 -n 64 -d $D -r 2
TERN_CUDA_TURBO_TC=0 bench turbo3-f32 $F -p 0 -n 64 -d $D -r 2 -ctk turbo3 -ctv turbo3
for sc in ${CELLS:-0 128 1024 2048}; do
    export TERN_CUDA_SPLIT_CELLS=$sc
    bench turbo3-tc-$sc $F -p 0 -n 64 -d $D -r 2 -ctk turbo3 -ctv turbo3
done
unset TERN_CUDA_SPLIT_CELLS
bench turbo4-tc $F -p 0 -n 64 -d 32768 -r 2 -ctk turbo4 -ctv turbo4
pack_raw
echo "================ summary"
cat "$SUM"
