#!/bin/bash
# Why small decode kernels take microseconds (GPU machine, repository root, build-cuda-dev/
# carried): Nsight Compute warp-state (stall reason) and launch sections for one launch each of
# the decode attention at short and long depth, the q/k/v mat-vec and the RMSNorm, Llama-3-8B
# shape. Text reports in $OUT/stalls-*.txt, the stall lines in $OUT/summary.txt.
#   bench/cuda/ncu_stalls.sh
. bench/cuda/lib.sh
unpack
st() { # label kernel-regex skip file args...
    local label=$1 k=$2 skip=$3 f=$4; shift 4
    timeout 300 ncu --clock-control none --cache-control none --section WarpStateStats --section LaunchStats \
        --section SpeedOfLight --section Occupancy --metrics $M -k regex:$k --launch-skip $skip --launch-count 1 \
        $B/tern bench -m $f -ngl 99 "$@" > "$OUT/stalls-$label.txt" 2>&1
    echo "== $label: ncu ... -k regex:$k --launch-skip $skip --launch-count 1 | tern bench -m $(basename $f) -ngl 99 $*" >> "$SUM"
    grep -E "Duration|Stall|Warp Cycles Per|Avg. Active Threads|Registers Per|Achieved Occupancy|Memory Throughput|Block Size|Grid Size|One or More|No Eligible|Issued Warp|stalled" "$OUT/stalls-$label.txt" | sed 's/  */ /g' >> "$SUM"
}
M=$(for r in no_instruction long_scoreboard barrier wait imc_miss membar short_scoreboard lg_throttle branch_resolving drain math_pipe_throttle mio_throttle; do printf 'smsp__average_warps_issue_stalled_%s_per_issue_active.ratio,' $r; done)
M=${M%,}
gen llama3-8b q4_0
gen llama3-8b Q4_K_M
L=/tmp/llama3-8b-q4_0.gguf
st attn-short attn_dec 100 $L -p 0 -n 8 -r 1
st attn-d32k attn_dec 100 /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 4 -d 32768 -r 1
st rmsnorm k_rmsnorm4 300 $L -p 0 -n 8 -r 1
st mv-q4_0 k_mv_q 300 $L -p 0 -n 8 -r 1
cat "$SUM"
