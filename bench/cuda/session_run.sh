#!/bin/bash
# One device call for a session's record (GPU machine, from the repository root, build-cuda-dev/
# carried): the CUDA tests with compute-sanitizer, then the issue-4 rows not measured by
# `targets.sh quick` and issue 5's long-context rows (turbo_bench.sh without its quick part).
#   bench/cuda/session_run.sh
set -u
OUT=${OUT:-/tmp/out}
export OUT
bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
B=build-cuda-dev
SUM=$OUT/summary.txt
BW=$(sed -n 's/.*median \([0-9.]*\) GB.*/\1/p' "$SUM" | tail -1)
gen() { [ -f /tmp/$1-$2.gguf ] || timeout 300 $B/tern bench --synthetic $1 -w $2 --write /tmp/$1-$2.gguf > /dev/null 2>&1; }
bench() { # label file args...
    local label=$1 f=$2; shift 2
    local t0=$(date +%s)
    timeout ${BENCH_TIMEOUT:-300} $B/tern bench -m $f -ngl 99 --bw $BW "$@" > "$OUT/b-$label.log" 2>&1
    echo "== $label: tern bench -m $(basename $f) -ngl 99 --bw $BW $*  (rc $?, $(( $(date +%s) - t0 )) s)" >> "$SUM"
    grep -E "^\| (llama|qwen)" "$OUT/b-$label.log" >> "$SUM" || tail -3 "$OUT/b-$label.log" >> "$SUM"
}
gen llama3-8b Q4_K_M
bench l3-q4km /tmp/llama3-8b-Q4_K_M.gguf -p 512 -n 128 -r 5
gen qwen3-0.6b q4_0
bench q3-q4_0 /tmp/qwen3-0.6b-q4_0.gguf -p 512 -n 128 -r 5
gen llama2-7b q4_0
bench l2-q4_0 /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 5
rm -f /tmp/llama2-7b-q4_0.gguf
gen llama3-8b q8_0
bench l3-q8_0 /tmp/llama3-8b-q8_0.gguf -p 0 -n 128 -r 5
rm -f /tmp/llama3-8b-q8_0.gguf
gen llama3-8b f16
bench l3-f16 /tmp/llama3-8b-f16.gguf -p 512 -n 128 -r 5
rm -f /tmp/llama3-8b-f16.gguf
F=/tmp/llama3-8b-Q4_K_M.gguf
bench tg-turbo4 $F -p 0 -n 128 -d 32768 -r 2 -ctk turbo4 -ctv turbo4
bench tg-turbo2 $F -p 0 -n 128 -d 32768 -r 2 -ctk turbo2 -ctv turbo2
( while sleep 3; do nvidia-smi --query-gpu=memory.used --format=csv,noheader; done ) > "$OUT/mem-128k.log" 2>&1 &
MP=$!
BENCH_TIMEOUT=300 bench ctx-131072-turbo3 $F -p 0 -n 32 -d 131072 -r 1 -ctk turbo3 -ctv turbo3
kill $MP
echo "GPU memory used during the 131072-token run (max of 3 s samples): $(sort -n "$OUT/mem-128k.log" | tail -1)" >> "$SUM"
echo "================ summary"
cat "$SUM"
