#!/bin/sh
# Host side of the TurboQuant decode A/B (the TN_TT_* switches of src/cuda/cuda_turbo_tc.cu and
# TN_TQ_MERGE_WROT of src/cuda/cuda_turbo.cu): builds the current tree (pack.sh) and packs one
# variant per switch set. Then, on the GPU machine (build-cuda-dev carried), each variant's
# test_cuda_turbo and the benchmark (six binaries: ~20 s of tests and ~40 s of benchmark each, so
# one round fits a 600-second call; a second round in a second call):
#   TESTS=1 REPS=1 bash bench/cuda/ab.sh "llama3-8b:Q4_K_M:-p_0_-n_64_-d_8192,32768_-r_2_-ctk_turbo3_-ctv_turbo3"
set -e
cd "$(dirname "$0")/../.."
bash bench/cuda/pack.sh
S=src/cuda/cuda_turbo_tc.cu
bench/cuda/pack_variant.sh prmt "-DTN_TT_PRMT=1" $S
bench/cuda/pack_variant.sh prmt16 "-DTN_TT_PRMT=1 -DTN_TT_CP16=1" $S
bench/cuda/pack_variant.sh qwarp "-DTN_TT_QWARP=1" $S
bench/cuda/pack_variant.sh prmtq "-DTN_TT_PRMT=1 -DTN_TT_QWARP=1" $S
bench/cuda/pack_variant.sh wrot "-DTN_TQ_MERGE_WROT=1" src/cuda/cuda_turbo.cu
du -sh build-cuda-dev
