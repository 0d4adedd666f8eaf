#!/bin/bash
# A session's benchmark record in two device calls of < 10 minutes (GPU machine, repository root,
# build-cuda-dev/ carried). Part a: the CUDA tests with compute-sanitizer, Llama-3-8B Q4_0 and
# Q4_K_M (pp512, tg128, tg128 @ d32768 with f16 and turbo3 caches), Qwen3-0.6B Q4_0, Llama-2-7B
# Q4_0, and Nsight Compute timings of the decode attention kernel. Part b: Llama-3-8B Q8_0 and F16, and issue 5's TurboQuant
# rows (bench/cuda/turbo_bench.sh quick). Tables in $OUT/summary.txt.
#   bench/cuda/record_run.sh a|b
set -u
OUT=${OUT:-/tmp/out}
export OUT
B=build-cuda-dev
mkdir -p "$OUT"
SUM=$OUT/summary.txt
if [ "$1" = a ]; then
    bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
else
    [ -f $B/tern ] || tar xJf $B/bin.txz -C $B
    $B/bench/copy_bw > "$SUM"
fi
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
if [ "$1" = a ]; then
    gen llama3-8b q4_0
    bench l3-q4_0 /tmp/llama3-8b-q4_0.gguf -p 512 -n 128 -r 5
    TERN_CUDA_FUSE_ROPE=0 bench l3-q4_0-norope /tmp/llama3-8b-q4_0.gguf -p 0 -n 128 -r 3
    gen qwen3-0.6b q4_0
    bench q3-q4_0 /tmp/qwen3-0.6b-q4_0.gguf -p 512 -n 128 -r 5
    gen llama3-8b Q4_K_M
    bench l3-q4km /tmp/llama3-8b-Q4_K_M.gguf -p 512 -n 128 -r 5
    bench l3-q4km-d32k /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 128 -d 32768 -r 2
    ncu_attn short /tmp/llama3-8b-q4_0.gguf -p 0 -n 8 -r 1
    ncu_attn d32k /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 4 -d 32768 -r 1
    bench l3-q4km-d32k-turbo3 /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 128 -d 32768 -r 1 -ctk turbo3 -ctv turbo3
    gen llama2-7b q4_0
    bench l2-q4_0 /tmp/llama2-7b-q4_0.gguf -p 0 -n 128 -r 5
else
    gen llama3-8b q8_0
    bench l3-q8_0 /tmp/llama3-8b-q8_0.gguf -p 0 -n 128 -r 5
    rm -f /tmp/llama3-8b-q8_0.gguf
    gen llama3-8b f16
    bench l3-f16 /tmp/llama3-8b-f16.gguf -p 512 -n 128 -r 5
    rm -f /tmp/llama3-8b-f16.gguf
    bash bench/cuda/turbo_bench.sh quick
fi
echo "================ summary"
cat "$SUM"
