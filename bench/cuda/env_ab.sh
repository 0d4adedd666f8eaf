#!/bin/bash
# A/B of one environment setting in one device call (H200s differ a few % between calls): the CUDA
# tests first (TESTS=1, default), then tern bench on synthetic models with and without the setting,
# interleaved for ROUNDS rounds (default 2). Labels: $A (default "default") and $B (default "env").
#   bench/cuda/env_ab.sh "VAR=VAL [VAR=VAL...]" "SHAPE:TYPE ..." [tern bench args, default -p 0 -n 128 -r 3]
#   e.g. bench/cuda/env_ab.sh TERN_CUDA_MV_PIPE=1 "llama3-8b:q4_0 llama2-7b:q4_0"
. bench/cuda/lib.sh
SETTING=$1
MODELS=$2
shift 2
ARGS=${*:--p 0 -n 128 -r 3}
[ "${TESTS:-1}" = 1 ] && bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
unpack
copy_bw
for m in $MODELS; do gen ${m%%:*} ${m##*:}; done
for round in $(seq 1 ${ROUNDS:-2}); do
    for m in $MODELS; do
        f=/tmp/${m%%:*}-${m##*:}.gguf
        bench ${A:-default}-${m/:/-}-r$round $f $ARGS
        (export $SETTING; bench ${B:-env}-${m/:/-}-r$round $f $ARGS)
    done
done
echo "================ summary"
grep -E "rc=|checks|wide FFN" "$OUT/tests.txt" 2>/dev/null | tail -10
cat "$SUM"
