#!/bin/sh
# Packs an A/B variant for bench/cuda/ab.sh: build-cuda/ (bench/cuda/pack.sh first: it rebuilds it
# and starts a new set of variants) copied to build-cuda-NAME/, the listed CUDA sources recompiled
# with extra nvcc flags, tern and test_cuda_turbo stripped into build-cuda-stage/v-NAME/, and
# build-cuda-dev/bin.txz packed again with every variant so far (on the device, after ab.sh
# unpacked it: build-cuda-dev/v-NAME/tern and .../tests/test_cuda_turbo, test_cuda).
#   bench/cuda/pack_variant.sh NAME "NVCC FLAGS" src/cuda/FILE.cu ...
#   e.g. bench/cuda/pack_variant.sh lanemap -DTN_TT_LANEMAP=1 src/cuda/cuda_turbo_tc.cu
set -e
cd "$(dirname "$0")/../.."
name=$1 flags=$2
shift 2
S=build-cuda-stage
[ -f "$S/tern" ] || { echo "pack_variant: run bench/cuda/pack.sh first" >&2; exit 1; }
B=build-cuda-$name
rm -rf "$B" && cp -a build-cuda "$B"
for src in "$@"; do rm -f "$B/$src.o"; done
make CUDA=1 BUILD="$B" CUDA_ARCH="-gencode arch=compute_90a,code=sm_90a $flags" -j"$(nproc)" "$B/tern" "$B/tests/test_cuda_turbo" "$B/tests/test_cuda" > /dev/null
rm -rf "$S/v-$name" && mkdir -p "$S/v-$name/tests"
strip -o "$S/v-$name/tern" "$B/tern"
for t in test_cuda_turbo test_cuda; do strip -o "$S/v-$name/tests/$t" "$B/tests/$t"; done
XZ_OPT=-9e tar cJf build-cuda-dev/bin.txz -C "$S" .
ls -la build-cuda-dev/bin.txz
