#!/bin/bash
# The switches prepared without a GPU on 2026-12-02 (fifth session), in one device call (~6 min):
# the CUDA tests (their exact-equality checks of each switch), then each switch against the
# default, interleaved. Summary in $OUT/summary.txt.
TESTS=1 A=nopipe B=pipe bash bench/cuda/env_ab.sh TERN_CUDA_MV_PIPE=1 "llama3-8b:q4_0 llama3-8b:Q4_K_M"
TESTS=0 A=quantkernel B=quantin bash bench/cuda/env_ab.sh TERN_CUDA_QUANT_IN=1 "llama3-8b:q4_0 llama3-8b:Q4_K_M"
TESTS=0 A=ropekernel B=ropein bash bench/cuda/env_ab.sh TERN_CUDA_ATTN_ROPE=1 "qwen3-0.6b:q4_0"
