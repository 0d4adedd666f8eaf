#!/bin/bash
# Nsight Compute kernel summaries (GPU machine, repository root, build-cuda-dev/ carried): where
# a decode step and a pp512 prefill spend their time, kernel by kernel, measured alone
# (--clock-control none, --cache-control none: the clocks and L2 as the real run has them).
# Compare the per-step kernel sum with the measured t/s to see the launch gaps.
#   bench/cuda/ncu_profile.sh [decode]   (summary in $OUT/summary.txt, raw CSVs in $OUT/ncu-*.csv;
#   decode: only the two decode steps at short depth)
. bench/cuda/lib.sh
unpack
copy_bw
prof() { ncu_time "$1" "$3" "$4" "$2" "${@:5}"; } # label file filter marker args...
gen llama3-8b q4_0
gen qwen3-0.6b q4_0
L=/tmp/llama3-8b-q4_0.gguf
# decode at short depth: skip the warm-up's launches, then ~4 steps (marker: the output head, a
# Q6_K mat-vec in these files, once per step)
prof tg-l3 $L "--launch-skip 1500 --launch-count 1000" "k_mv_q<14," -p 0 -n 16 -r 1
prof tg-q3 /tmp/qwen3-0.6b-q4_0.gguf "--launch-skip 1500 --launch-count 1000" "k_mv_q<14," -p 0 -n 16 -r 1
if [ "${1:-}" != decode ]; then
    gen llama3-8b q4_k_m
    prof pp512-l3 $L "--launch-count 3000" "" -p 512 -n 0 -r 1
    prof tg-d32k-attn /tmp/llama3-8b-q4_k_m.gguf "-k regex:attn_dec --launch-count 64" "" -p 0 -n 4 -d 32768 -r 1
    prof tg-d32k-turbo3-attn /tmp/llama3-8b-q4_k_m.gguf "-k regex:tq_ --launch-skip 200 --launch-count 128" "" -p 0 -n 4 -d 32768 -r 1 -ctk turbo3 -ctv turbo3
fi
echo "================ summary"
cat "$SUM"
