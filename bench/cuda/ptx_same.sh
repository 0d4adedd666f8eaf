#!/bin/sh
# Compiles FILE.cu as it is at REV (default HEAD) and as it is now to PTX (sm_90a, the build's
# flags) and compares the kernels with ptx_same.py: a CUDA refactor checked without a GPU.
#   bench/cuda/ptx_same.sh src/cuda/cuda_matvec.cu [REV]
# (Headers come from the working tree for both: to compare a header change, pass the .cu that
# includes it and stash the header for the old side.)
set -e
cd "$(dirname "$0")/../.."
f=$1
rev=${2:-HEAD}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
tmp=$(mktemp -d)
d=$(dirname "$f")
git show "$rev:$f" > "$d/.ptx_same_old.cu"
cp "$f" "$d/.ptx_same_new.cu"
for v in old new; do
    $NVCC -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -Iinclude -Isrc -ptx -o "$tmp/$v.ptx" "$d/.ptx_same_$v.cu" || { rm -f "$d"/.ptx_same_*.cu; exit 2; }
done
rm -f "$d"/.ptx_same_*.cu
python3 bench/cuda/ptx_same.py "$tmp/old.ptx" "$tmp/new.ptx"
