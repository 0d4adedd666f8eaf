#!/bin/bash
# Nsight Compute kernel summaries (GPU machine, repository root, build-cuda-dev/ carried): where
# a decode step and a pp512 prefill spend their time, kernel by kernel, measured alone
# (--clock-control none, --cache-control none: the clocks and L2 as the real run has them).
# Compare the per-step kernel sum with the measured t/s to see the launch gaps.
#   bench/cuda/ncu_profile.sh        (summary in $OUT/summary.txt, raw CSVs in $OUT/ncu-*.csv)
set -u
OUT=${OUT:-/tmp/out}
export OUT
B=build-cuda-dev
mkdir -p "$OUT"; [ -f $B/tern ] || tar xJf $B/bin.txz -C $B
SUM=$OUT/summary.txt
[ -f "$SUM" ] || $B/bench/copy_bw > "$SUM"
BW=$(sed -n 's/.*median \([0-9.]*\) GB.*/\1/p' "$SUM" | tail -1)
gen() { [ -f /tmp/$1-$2.gguf ] || timeout 300 $B/tern bench --synthetic $1 -w $2 --write /tmp/$1-$2.gguf > /dev/null 2>&1; }
prof() { # label file "ncu filter args" marker-regex bench-args...
    local label=$1 f=$2 filt=$3 mark=$4; shift 4
    local t0=$(date +%s)
    timeout ${NCU_TIMEOUT:-300} ncu --clock-control none --cache-control none --csv --log-file "$OUT/ncu-$label.csv" \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum $filt \
        $B/tern bench -m $f -ngl 99 --bw $BW "$@" > /tmp/ncu-$label.log 2>&1
    echo "== ncu $label: $filt | tern bench -m $(basename $f) -ngl 99 $*  (rc $?, $(( $(date +%s) - t0 )) s)" >> "$SUM"
    python3 bench/cuda/ncu_summary.py "$OUT/ncu-$label.csv" "$mark" >> "$SUM" 2>&1 || tail -5 /tmp/ncu-$label.log >> "$SUM"
}
gen llama3-8b q4_0
gen qwen3-0.6b q4_0
gen llama3-8b q4_k_m
L=/tmp/llama3-8b-q4_0.gguf
# decode at short depth: skip the warm-up's launches, then ~4 steps (marker: the output head,
# the mat-vec with the largest grid, one per step)
prof tg-l3 $L "--launch-skip 1500 --launch-count 1000" "k_argmax|k_sample" -p 0 -n 16 -r 1
prof tg-q3 /tmp/qwen3-0.6b-q4_0.gguf "--launch-skip 1500 --launch-count 1000" "k_argmax|k_sample" -p 0 -n 16 -r 1
prof pp512-l3 $L "--launch-count 3000" "k_argmax|k_sample" -p 512 -n 0 -r 1
prof tg-d32k-attn /tmp/llama3-8b-q4_k_m.gguf "-k regex:attn_dec --launch-count 64" "attn_dec" -p 0 -n 4 -d 32768 -r 1
prof tg-d32k-turbo3-attn /tmp/llama3-8b-q4_k_m.gguf "-k regex:turbo --launch-skip 200 --launch-count 128" "zzz" -p 0 -n 4 -d 32768 -r 1 -ctk turbo3 -ctv turbo3
echo "================ summary"
cat "$SUM"
