#!/bin/bash
# Nsight Compute timing of the TurboQuant decode kernels (GPU machine, after run_device.sh has
# unpacked build-cuda-dev/): Llama-3-8B shape Q4_0, turbo3 K/V. Attention (+ split merge) at
# depth 8192 and 32768, and the cache store of decode steps. Mean duration per kernel in
# $OUT/summary.txt (ncu_summary.py). TERN=build-cuda-dev/v-NAME/tern profiles a variant.
#   bench/cuda/turbo_profile.sh
. bench/cuda/lib.sh
unpack
copy_bw
F=/tmp/llama3-8b-q4_0.gguf
gen llama3-8b q4_0
prof() { # label kernel-regex tern-bench-args...
    local label=$1 re=$2; shift 2
    ncu_time "$label" "--graph-profiling node -k regex:$re --launch-count ${COUNT:-96}" "" $F -r 1 "$@"
}
prof d8192 "tq_dec|tq_merge|k_attn_dec" -p 0 -n 2 -d 8192 -ctk turbo3 -ctv turbo3
prof d32768 "tq_dec|tq_merge|k_attn_dec" -p 0 -n 2 -d 32768 -ctk turbo3 -ctv turbo3
prof f16-d32768 "k_attn_dec" -p 0 -n 2 -d 32768
prof store "tq_store|k_rope" -p 0 -n 4 -ctk turbo3 -ctv turbo3
# details of one long-depth launch of each attention kernel (Nsight Compute's detailed set)
detail() { # label kernel-regex args...
    local label=$1 re=$2; shift 2
    timeout 300 ncu --clock-control none --graph-profiling node -k "regex:$re" --launch-skip 40 --launch-count 1 \
        --set detailed ${TERN:-$B/tern} bench -m $F -ngl 99 -r 1 "$@" > "$OUT/ncu-detail-$label.txt" 2>&1
    grep -E "Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Theoretical Occupancy|Issue Slots Busy|Executed Ipc A|Warp Cycles Per Issued|Block Limit|L1/TEX Hit|L1/TEX Cache Throughput|L2 Hit|Compute \(SM\) Th" "$OUT/ncu-detail-$label.txt" | sed "s/^/$label /"
}
[ "${1:-}" = detail ] || exit 0
detail tq_dec "tq_dec" -p 0 -n 2 -d 32768 -ctk turbo3 -ctv turbo3
detail attn_dec "k_attn_dec" -p 0 -n 2 -d 32768
