#!/bin/sh
# Host side of the TurboQuant tensor-core decode A/B (src/cuda/cuda_turbo_tc.cu's TN_TT_*
# switches): builds the current tree (pack.sh) and packs one variant per switch set. Then, on the
# GPU machine (build-cuda-dev carried), each variant's test_cuda_turbo and the benchmark:
#   TESTS=1 bash bench/cuda/ab.sh "llama3-8b:Q4_K_M:-p_0_-n_64_-d_8192,32768_-r_2_-ctk_turbo3_-ctv_turbo3"
set -e
cd "$(dirname "$0")/../.."
bash bench/cuda/pack.sh
S=src/cuda/cuda_turbo_tc.cu
bench/cuda/pack_variant.sh tabrep "-DTN_TT_TABREP=1" $S
bench/cuda/pack_variant.sh cp16 "-DTN_TT_CP16=1" $S
bench/cuda/pack_variant.sh kreg "-DTN_TT_KREG=1" $S
bench/cuda/pack_variant.sh kregtab "-DTN_TT_KREG=1 -DTN_TT_TABREP=1" $S
du -sh build-cuda-dev
