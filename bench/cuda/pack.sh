#!/bin/sh
# Builds (bench/cuda/build.sh) and packs the stripped binaries the device run needs into
# build-cuda-dev/bin.txz (xz: small enough to carry with the working tree under the 64 MiB limit).
# The stripped files stay in build-cuda-stage/ (not carried), where bench/cuda/pack_variant.sh
# adds A/B variants and packs everything again as one archive: in one xz stream (64 MiB window)
# a variant's binaries, mostly the same bytes as the current ones, add about 0.2 MB instead of
# 1.4 MB alone, so that several fit under the limit.
set -e
cd "$(dirname "$0")/../.."
bench/cuda/build.sh > /dev/null
S=build-cuda-stage
rm -rf build-cuda-dev "$S" && mkdir -p build-cuda-dev "$S/tests" "$S/bench"
strip -o "$S/tern" build-cuda/tern
for t in test_cuda test_cuda_turbo test_cuda_kv_turbo; do strip -o "$S/tests/$t" "build-cuda/tests/$t"; done
/usr/local/cuda/bin/nvcc -O2 -gencode arch=compute_90a,code=sm_90a -o "$S/bench/copy_bw" bench/cuda/copy_bw.cu
# the commit the binaries were built from (+dirty: with uncommitted source changes); the device's
# copy of the tree does not report it reliably
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include || echo +dirty)" > "$S/COMMIT"
XZ_OPT=-9e tar cJf build-cuda-dev/bin.txz -C "$S" .
ls -la build-cuda-dev/bin.txz
