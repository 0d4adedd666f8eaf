#!/bin/bash
# A/B comparison in one device call (H200s differ a few % between calls, so variants are only
# compared within one). Each variant is a stripped tern in build-cuda-dev/v-NAME/ once bin.txz is
# unpacked (bench/cuda/pack_variant.sh; the current tree, bench/cuda/pack.sh, is "cur"); every
# variant runs the same benchmarks, interleaved, REPS rounds (TESTS=1: each variant's
# test_cuda_turbo first, or the test named by TEST, e.g. TEST=test_cuda; VARIANTS="cur NAME ...":
# only those).
#   bench/cuda/ab.sh "SHAPE:TYPE[:ARGS] ..."      e.g. "llama3-8b:q4_0 llama3-8b:Q4_K_M:-d_32768"
# ARGS: extra tern bench arguments with '_' for spaces (default -p 0 -n 128 -r 3).
RAW=${RAW:-/tmp/raw}
. bench/cuda/lib.sh
unpack
copy_bw
VARS="cur"
for d in $B/v-*/; do
    [ -x "$d/tern" ] && v=$(basename "$d") && VARS="$VARS ${v#v-}"
done
VARS=${VARIANTS:-$VARS} # VARIANTS="cur a b": only those
# TESTS=1: each variant's own test_cuda_turbo first (bench/cuda/pack_variant.sh packs it)
if [ "${TESTS:-0}" = 1 ]; then
    for v in $VARS; do
        tn=${TEST:-test_cuda_turbo}
        t=$B/tests/$tn; [ "$v" = cur ] || t=$B/v-$v/tests/$tn
        [ -x "$t" ] || continue
        timeout 300 "$t" > "$RAW/test-$v.log" 2>&1
        echo "== $v $tn rc=$?: $(grep -E 'tensor cores|wide FFN|FAIL' "$RAW/test-$v.log" | tr -s ' ' | tr '\n' ' ')$(tail -1 "$RAW/test-$v.log")" >> "$SUM"
    done
fi
for round in $(seq 1 ${REPS:-1}); do
    for sm in $1; do
        IFS=: read -r shape ft args <<< "$sm"
        gen "$shape" "$ft"
        for v in $VARS; do
            t=$B/tern; [ "$v" = cur ] || t=$B/v-$v/tern
            TERN=$t bench "$v-$shape-$ft-r$round" "/tmp/$shape-$ft.gguf" ${args:+${args//_/ }} $([ -z "$args" ] && echo -p 0 -n 128 -r 3)
        done
    done
done
pack_raw
echo "================ summary"
cat "$SUM"
