#!/bin/bash
# Nsight Compute timing of the TurboQuant decode kernels (GPU machine, after run_device.sh has
# unpacked build-cuda-dev/): Llama-3-8B shape Q4_0, turbo3 K/V. Attention (+ split merge) at
# depth 8192 and 32768, and the cache store of decode steps. Prints the mean duration per kernel.
#   bench/cuda/turbo_profile.sh
set -u
OUT=${OUT:-/tmp/out}
B=build-cuda-dev
F=/tmp/llama3-8b-q4_0.gguf
[ -f $F ] || timeout 300 $B/tern bench --synthetic llama3-8b -w q4_0 --write $F > /dev/null 2>&1
prof() { # label kernel-regex tern-bench-args...
    local label=$1 re=$2; shift 2
    timeout 300 ncu --clock-control none --cache-control none --graph-profiling node -k "regex:$re" \
        --launch-count ${COUNT:-96} --csv --page raw --metrics gpu__time_duration.sum \
        $B/tern bench -m $F -ngl 99 -r 1 "$@" > "$OUT/ncu-$label.csv" 2> "$OUT/ncu-$label.err"
    python3 - "$OUT/ncu-$label.csv" "$label" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 5]
if not rows: print(sys.argv[2], "no data"); sys.exit()
h = rows[0]; ki = h.index("Kernel Name"); ti = h.index("gpu__time_duration.sum")
t = collections.defaultdict(list)
for r in rows[2:]:
    try: t[r[ki].split("(")[0].split("<")[0]].append(float(r[ti]))
    except ValueError: pass
for k, v in sorted(t.items()):
    print(f"{sys.argv[2]:>14} {k[:60]:60s} n={len(v):4d} mean {sum(v)/len(v)/1000:8.2f} us")
PY
}
prof d8192 "tq_dec|tq_merge|k_attn_dec" -p 0 -n 2 -d 8192 -ctk turbo3 -ctv turbo3
prof d32768 "tq_dec|tq_merge|k_attn_dec" -p 0 -n 2 -d 32768 -ctk turbo3 -ctv turbo3
prof f16-d32768 "k_attn_dec" -p 0 -n 2 -d 32768
prof store "tq_store|k_rope" -p 0 -n 4 -ctk turbo3 -ctv turbo3
# details of one long-depth launch of each attention kernel (Nsight Compute's detailed set)
detail() { # label kernel-regex args...
    local label=$1 re=$2; shift 2
    timeout 300 ncu --clock-control none --graph-profiling node -k "regex:$re" --launch-skip 40 --launch-count 1 \
        --set detailed $B/tern bench -m $F -ngl 99 -r 1 "$@" > "$OUT/ncu-detail-$label.txt" 2>&1
    grep -E "Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Theoretical Occupancy|Issue Slots Busy|Executed Ipc A|Warp Cycles Per Issued|Block Limit|L1/TEX Hit|L2 Hit|Compute \(SM\) Th" "$OUT/ncu-detail-$label.txt" | sed "s/^/$label /"
}
[ "${1:-}" = detail ] || exit 0
detail tq_dec "tq_dec" -p 0 -n 2 -d 32768 -ctk turbo3 -ctv turbo3
detail attn_dec "k_attn_dec" -p 0 -n 2 -d 32768
