#!/bin/bash
# Runs on the GPU machine (from the repository root, build-cuda/ carried): the CUDA tests,
# compute-sanitizer memcheck on two tiny models, then synthetic-model benchmarks. Logs go to
# $OUT (or /tmp/out); a summary table is printed last.
#   bench/cuda/run_device.sh [tests|bench|all] [model-list]
# model-list: comma-separated SHAPE:FTYPE (default llama3-8b:q4_0)
set -u
MODE=${1:-all}
LIST=${2:-llama3-8b:q4_0}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
B=build-cuda-dev
if [ -f $B/bin.txz ]; then tar xJf $B/bin.txz -C $B; fi
SUM=$OUT/summary.txt
: > "$SUM"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader | tee -a "$SUM"
echo "built from $(cat $B/COMMIT 2>/dev/null || echo '?') (bench/cuda/pack.sh) $(date -u +%FT%TZ)" | tee -a "$SUM"
$B/bench/copy_bw | tee -a "$SUM"
BW=$(sed -n 's/.*median \([0-9.]*\) GB.*/\1/p' "$SUM" | tail -1)
if [ "$MODE" = tests ] || [ "$MODE" = all ]; then
    timeout ${TEST_TIMEOUT:-300} $B/tests/test_cuda > "$OUT/test_cuda.log" 2>&1
    echo "test_cuda rc=$? : $(tail -1 "$OUT/test_cuda.log")" >> "$SUM"
    grep -E "FAIL|GPU-CPU|parity|prefill vs|greedy|poison|interleaved|600-token|micro-batches|top-k|sampling|unsupported|-ngl|SKIP" "$OUT/test_cuda.log" | head -120
    for t in test_cuda_turbo test_cuda_kv_turbo; do
        timeout ${TEST_TIMEOUT:-300} $B/tests/$t > "$OUT/$t.log" 2>&1
        echo "$t rc=$? : $(tail -1 "$OUT/$t.log")" >> "$SUM"
        grep -E "FAIL|GPU-CPU|worst|SKIP" "$OUT/$t.log" | head -40
    done
    [ "${MEMCHECK:-1}" = 1 ] && TN_TEST_CUDA_QUICK=1 timeout ${MEMCHECK_TIMEOUT:-400} compute-sanitizer --tool memcheck --leak-check no $B/tests/test_cuda > "$OUT/memcheck.log" 2>&1
    echo "memcheck rc=$? : $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1) $(tail -1 "$OUT/test_cuda.log" >/dev/null; grep 'checks' "$OUT/memcheck.log" | tail -1)" >> "$SUM"
    grep -m 20 -E "Invalid|ERROR|FAIL" "$OUT/memcheck.log"
    [ "${MEMCHECK:-1}" = 1 ] && TN_TEST_CUDA_QUICK=1 timeout ${MEMCHECK_TIMEOUT:-400} compute-sanitizer --tool memcheck --leak-check no $B/tests/test_cuda_kv_turbo > "$OUT/memcheck-turbo.log" 2>&1
    echo "memcheck (turbo) rc=$? : $(grep -E 'ERROR SUMMARY' "$OUT/memcheck-turbo.log" | tail -1) $(grep 'checks' "$OUT/memcheck-turbo.log" | tail -1)" >> "$SUM"
    grep -m 20 -E "Invalid|ERROR|FAIL" "$OUT/memcheck-turbo.log"
fi
if [ "$MODE" = bench ] || [ "$MODE" = all ]; then
    # LIST: comma-separated SHAPE:TYPE for `tern bench --synthetic` (types as tern bench -w takes)
    for sm in ${LIST//,/ }; do
        shape=${sm%%:*}; ft=${sm##*:}
        t0=$(date +%s)
        args="--synthetic $shape -w $ft -ngl 99 ${BENCH_ARGS:--p 512 -n 128 -r 5} --bw ${BW:-4300}"
        timeout ${BENCH_TIMEOUT:-400} $B/tern bench $args > "$OUT/bench-$shape-$ft.log" 2>&1
        rc=$?
        echo "== tern bench $args  (rc $rc, $(( $(date +%s) - t0 )) s incl. generation)" >> "$SUM"
        grep -E "^\|" "$OUT/bench-$shape-$ft.log" >> "$SUM" || tail -5 "$OUT/bench-$shape-$ft.log" >> "$SUM"
    done
fi
echo "================ summary"
cat "$SUM"
