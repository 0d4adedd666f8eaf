#!/bin/sh
# Packs an A/B variant for bench/cuda/ab.sh: build-cuda/ (bench/cuda/pack.sh first: it rebuilds it
# and empties build-cuda-dev/) copied to build-cuda-NAME/, the listed CUDA sources recompiled with
# extra nvcc flags, and tern plus test_cuda_turbo stripped into build-cuda-dev/var-NAME.txz
# (on the device: build-cuda-dev/v-NAME/tern, .../tests/test_cuda_turbo once ab.sh unpacked it).
#   bench/cuda/pack_variant.sh NAME "NVCC FLAGS" src/cuda/FILE.cu ...
#   e.g. bench/cuda/pack_variant.sh tabrep -DTN_TT_TABREP=1 src/cuda/cuda_turbo_tc.cu
set -e
cd "$(dirname "$0")/../.."
name=$1 flags=$2
shift 2
B=build-cuda-$name
rm -rf "$B" && cp -a build-cuda "$B"
for src in "$@"; do rm -f "$B/$src.o"; done
make CUDA=1 BUILD="$B" CUDA_ARCH="-gencode arch=compute_90a,code=sm_90a $flags" -j"$(nproc)" "$B/tern" "$B/tests/test_cuda_turbo" > /dev/null
S=$(mktemp -d)
mkdir -p "$S/tests"
strip -o "$S/tern" "$B/tern"
strip -o "$S/tests/test_cuda_turbo" "$B/tests/test_cuda_turbo"
XZ_OPT=-9e tar cJf "build-cuda-dev/var-$name.txz" -C "$S" .
rm -rf "$S"
ls -la "build-cuda-dev/var-$name.txz"
