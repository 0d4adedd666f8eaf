#!/bin/sh
# Builds (bench/cuda/build.sh) and packs the stripped binaries the device run needs into
# build-cuda-dev/bin.txz (xz: small enough to carry with the working tree under the 64 MiB limit).
set -e
cd "$(dirname "$0")/../.."
bench/cuda/build.sh > /dev/null
rm -rf build-cuda-dev && mkdir -p build-cuda-dev/stage/tests build-cuda-dev/stage/bench
strip -o build-cuda-dev/stage/tern build-cuda/tern
strip -o build-cuda-dev/stage/tests/test_cuda build-cuda/tests/test_cuda
strip -o build-cuda-dev/stage/tests/test_cuda_turbo build-cuda/tests/test_cuda_turbo
strip -o build-cuda-dev/stage/tests/test_cuda_kv_turbo build-cuda/tests/test_cuda_kv_turbo
/usr/local/cuda/bin/nvcc -O2 -gencode arch=compute_90a,code=sm_90a -o build-cuda-dev/stage/bench/copy_bw bench/cuda/copy_bw.cu
XZ_OPT=-9e tar cJf build-cuda-dev/bin.txz -C build-cuda-dev/stage .
rm -rf build-cuda-dev/stage
ls -la build-cuda-dev/bin.txz
