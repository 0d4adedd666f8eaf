#!/bin/bash
# The mat-vecs' output quantization (tn_cu_mv_io: no RMSNorm / quantize kernels between decode
# mat-vecs) against TERN_CUDA_FUSE_QUANT=0, in one device call: the CUDA tests first (when
# TESTS=1), then tg128 on three synthetic shapes, both settings interleaved for two rounds.
. bench/cuda/lib.sh
[ "${TESTS:-1}" = 1 ] && bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
unpack
copy_bw
for m in llama3-8b:q4_0 llama3-8b:Q4_K_M qwen3-0.6b:q4_0; do gen ${m%%:*} ${m##*:}; done
for round in 1 2; do
    for m in llama3-8b:q4_0 llama3-8b:Q4_K_M qwen3-0.6b:q4_0; do
        f=/tmp/${m%%:*}-${m##*:}.gguf
        bench fused-$m-r$round $f -p 0 -n 128 -r 3
        TERN_CUDA_FUSE_QUANT=0 bench kernels-$m-r$round $f -p 0 -n 128 -r 3
    done
done
echo "================ summary"
grep -E "rc=|checks" "$OUT/tests.txt" | tail -8
cat "$SUM"
