#!/bin/bash
# A/B of environment settings in one device call (H200s differ a few % between calls): the CUDA
# tests first (TESTS=1, default), then tern bench on synthetic models with the default and with
# each variant's settings, interleaved for ROUNDS rounds (default 2). Raw logs: $OUT/raw-logs.txz.
#   bench/cuda/env_ab.sh "SHAPE:TYPE ..." "LABEL:VAR=VAL[,VAR=VAL] ..." [tern bench args, default -p 0 -n 128 -r 3]
#   e.g. bench/cuda/env_ab.sh "llama3-8b:q4_0 qwen3-0.6b:q4_0" "tc:TERN_CUDA_ATTN_TC=2 nofuse:TERN_CUDA_FUSE_QUANT=0"
RAW=${RAW:-/tmp/raw}
. bench/cuda/lib.sh
MODELS=$1
VARIANTS="default: $2"
shift 2
ARGS=${*:--p 0 -n 128 -r 3}
[ "${TESTS:-1}" = 1 ] && bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
unpack
copy_bw
for m in $MODELS; do gen ${m%%:*} ${m##*:}; done
for round in $(seq 1 ${ROUNDS:-2}); do
    for m in $MODELS; do
        for v in $VARIANTS; do
            (IFS=, read -ra vars <<< "${v#*:}"
             for s in "${vars[@]}"; do export "$s"; done
             bench ${v%%:*}-${m/:/-}-r$round /tmp/${m%%:*}-${m##*:}.gguf $ARGS)
        done
    done
done
pack_raw
echo "================ summary"
grep -E "rc=|checks|wide FFN|RoPE in" "$OUT/tests.txt" 2>/dev/null | tail -12
cat "$SUM"
