# Helpers shared by the device scripts (sourced; GPU machine, repository root, build-cuda-dev/
# carried). OUT: where results go ($OUT/summary.txt collects the tables); BW: the measured copy
# bandwidth (GB/s) that `tern bench --bw` reports fractions of.
set -u
OUT=${OUT:-/tmp/out}
export OUT
B=build-cuda-dev
SUM=$OUT/summary.txt
mkdir -p "$OUT"
# Unpacks the carried binaries (bench/cuda/pack.sh) once.
unpack() { [ -f $B/tern ] || tar xJf $B/bin.txz -C $B; }
# Measures the copy bandwidth into the summary unless an earlier step did; sets BW.
copy_bw() {
    grep -q "copy_bw:" "$SUM" 2> /dev/null ||
        { echo "built from $(cat $B/COMMIT 2> /dev/null || echo '?') (bench/cuda/pack.sh)"; $B/bench/copy_bw; } >> "$SUM"
    BW=$(sed -n 's/.*median \([0-9.]*\) GB.*/\1/p' "$SUM" | tail -1)
    BW=${BW:-4230}
}
# gen SHAPE TYPE: a synthetic model of that shape and weight type in /tmp/SHAPE-TYPE.gguf.
gen() { [ -f /tmp/$1-$2.gguf ] || timeout 300 $B/tern bench --synthetic $1 -w $2 --write /tmp/$1-$2.gguf > /dev/null 2>&1; }
# Raw logs go to $RAW (default $OUT; only 8 files come back from a device call, so scripts with
# many runs set RAW elsewhere and pack it with pack_raw).
RAW=${RAW:-$OUT}
mkdir -p "$RAW"
pack_raw() { [ "$RAW" = "$OUT" ] || tar cJf "$OUT/raw-logs.txz" -C "$RAW" .; }
# bench LABEL FILE ARGS...: tern bench on the GPU ($TERN, default the carried build); raw log
# $RAW/b-LABEL.log, table rows in the summary.
bench() {
    local label=$1 f=$2; shift 2
    local t0=$(date +%s) rc
    timeout ${BENCH_TIMEOUT:-300} ${TERN:-$B/tern} bench -m $f -ngl 99 --bw $BW "$@" > "$RAW/b-$label.log" 2>&1
    rc=$?
    echo "== $label: $(env | grep -E '^TERN_CUDA' | tr '\n' ' ')tern bench -m $(basename $f) -ngl 99 --bw $BW $*  (rc $rc, $(( $(date +%s) - t0 )) s)" >> "$SUM"
    grep -E "^\| (llama|qwen)" "$RAW/b-$label.log" >> "$SUM" || tail -3 "$RAW/b-$label.log" >> "$SUM"
}
# ncu_time LABEL NCU-FILTER MARKER-REGEX FILE ARGS...: Nsight Compute time and DRAM bytes per
# kernel (each alone: --clock-control none --cache-control none), summarized by ncu_summary.py;
# MARKER-REGEX names a kernel launched once per step ("" for none).
ncu_time() {
    local label=$1 filt=$2 mark=$3 f=$4; shift 4
    local t0=$(date +%s) rc
    timeout ${NCU_TIMEOUT:-300} ncu --clock-control none --cache-control none --csv --log-file "$OUT/ncu-$label.csv" \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum $filt \
        ${TERN:-$B/tern} bench -m $f -ngl 99 --bw $BW "$@" > "$OUT/ncu-$label.log" 2>&1
    rc=$?
    echo "== ncu $label: $filt | tern bench -m $(basename $f) -ngl 99 $*  (rc $rc, $(( $(date +%s) - t0 )) s)" >> "$SUM"
    python3 bench/cuda/ncu_summary.py "$OUT/ncu-$label.csv" $mark >> "$SUM" 2>&1 || tail -5 "$OUT/ncu-$label.log" >> "$SUM"
}
