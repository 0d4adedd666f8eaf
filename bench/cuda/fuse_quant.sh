#!/bin/bash
# The RMSNorm items made by the residual mat-vecs (tn_cu_mv_io, default) against their kernel
# (TERN_CUDA_FUSE_QUANT=0), tests first: the 2026-12-02e record's calls 6-8.
exec bash bench/cuda/env_ab.sh "llama3-8b:q4_0 llama3-8b:Q4_K_M qwen3-0.6b:q4_0" "kernels:TERN_CUDA_FUSE_QUANT=0"
