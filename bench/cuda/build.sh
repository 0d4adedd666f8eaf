#!/bin/sh
# Builds the CUDA library, tests, tern and the two benchmark helpers into build-cuda/ (run here,
# on the machine with nvcc; the device machine gets build-cuda/ carried along).
set -e
cd "$(dirname "$0")/../.."
make CUDA=1 BUILD=build-cuda -j"$(nproc)" build-cuda/tern build-cuda/tests/test_cuda build-cuda/tests/test_cuda_turbo build-cuda/tests/test_cuda_kv_turbo build-cuda/tests/test_model
LIBS="build-cuda/libtern.a -lm -lpthread -lpcre2-8 -L/usr/local/cuda/lib64 -lcudart -lcublas -lstdc++ -Wl,-rpath,/usr/local/cuda/lib64"
mkdir -p build-cuda/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iinclude -Isrc -o build-cuda/bench/gen_synth bench/cuda/gen_synth.c $LIBS
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iinclude -Isrc -o build-cuda/bench/bench_cuda bench/cuda/bench_cuda.c $LIBS
echo "built build-cuda/{tern,tests/test_cuda,bench/gen_synth,bench/bench_cuda}"
