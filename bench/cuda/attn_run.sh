#!/bin/bash
# Decode attention check (GPU machine, repository root, build-cuda-dev/ carried): the CUDA tests
# (bench/cuda/run_device.sh tests), decode speed at short and long depth, and Nsight Compute
# timings of the decode attention kernel alone at both depths. Summary in $OUT/summary.txt.
#   bench/cuda/attn_run.sh
set -u
OUT=${OUT:-/tmp/out}
export OUT
B=build-cuda-dev
bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
SUM=$OUT/summary.txt
BW=$(sed -n 's/.*median \([0-9.]*\) GB.*/\1/p' "$SUM" | tail -1)
gen() { [ -f /tmp/$1-$2.gguf ] || timeout 300 $B/tern bench --synthetic $1 -w $2 --write /tmp/$1-$2.gguf > /dev/null 2>&1; }
bench() { # label file args...
    local label=$1 f=$2; shift 2
    local t0=$(date +%s)
    timeout ${BENCH_TIMEOUT:-300} $B/tern bench -m $f -ngl 99 --bw $BW "$@" > "$OUT/b-$label.log" 2>&1
    echo "== $label: $(env | grep -E '^TERN_CUDA' | tr '\n' ' ')tern bench -m $(basename $f) -ngl 99 --bw $BW $*  (rc $?, $(( $(date +%s) - t0 )) s)" >> "$SUM"
    grep -E "^\| (llama|qwen)" "$OUT/b-$label.log" >> "$SUM" || tail -3 "$OUT/b-$label.log" >> "$SUM"
}
ncu_attn() { # label file args...
    local label=$1 f=$2; shift 2
    timeout 300 ncu --clock-control none --cache-control none --csv --log-file "$OUT/ncu-$label.csv" \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum -k regex:attn_dec \
        --launch-skip 64 --launch-count 64 $B/tern bench -m $f -ngl 99 "$@" > /dev/null 2>&1
    echo "== ncu $label: -k regex:attn_dec --launch-skip 64 --launch-count 64 | tern bench -m $(basename $f) -ngl 99 $*" >> "$SUM"
    python3 bench/cuda/ncu_summary.py "$OUT/ncu-$label.csv" >> "$SUM" 2>&1
}
gen llama3-8b q4_0
gen qwen3-0.6b q4_0
gen llama3-8b Q4_K_M
bench l3-q4_0 /tmp/llama3-8b-q4_0.gguf -p 0 -n 128 -r 3
bench q3-q4_0 /tmp/qwen3-0.6b-q4_0.gguf -p 0 -n 128 -r 3
bench l3-q4km-d32k /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 128 -d 32768 -r 2
ncu_attn short /tmp/llama3-8b-q4_0.gguf -p 0 -n 8 -r 1
ncu_attn d32k /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 4 -d 32768 -r 1
echo "================ summary"
cat "$SUM"
