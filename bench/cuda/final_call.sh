#!/bin/bash
# One device call: the CUDA tests + memcheck of the tree (run_device.sh tests), turbo3 and f16
# tg64 at depth, and a source-correlated Nsight Compute report of one tq_dec_tc launch at d32768
# (variant "li": the tree built with -lineinfo). Logs packed into $OUT/logs.txz.
set -u
bash bench/cuda/run_device.sh tests > "$OUT/tests-console.txt" 2>&1
. bench/cuda/lib.sh
unpack
copy_bw
F=/tmp/llama3-8b-Q4_K_M.gguf
gen llama3-8b Q4_K_M
timeout 240 ncu --clock-control none --graph-profiling node --set full --import-source yes -k regex:tq_dec_tc \
    --launch-skip 40 --launch-count 1 -o /tmp/tq $B/v-li/tern bench -m $F -ngl 99 -r 1 -p 0 -n 2 -d 32768 \
    -ctk turbo3 -ctv turbo3 > "$RAW/ncu-run.txt" 2>&1
ncu -i /tmp/tq.ncu-rep --page source --csv --print-source cuda,sass 2> /dev/null | xz > "$OUT/tq-src.csv.xz"
ncu -i /tmp/tq.ncu-rep --page details > "$RAW/tq-details.txt" 2>&1
grep -E "Duration|DRAM Throughput|Issue Slots Busy|Achieved Occupancy|Registers Per" "$RAW/tq-details.txt" >> "$SUM"
bench turbo3 $F -p 0 -n 64 -d 8192,32768 -r 2 -ctk turbo3 -ctv turbo3
bench f16 $F -p 0 -n 64 -d 32768 -r 2
cat "$SUM"
cd "$OUT" && tar cJf /tmp/logs.txz --exclude=summary.txt --exclude=tq-src.csv.xz . && find . -type f ! -name summary.txt ! -name tq-src.csv.xz -delete && mv /tmp/logs.txz .
