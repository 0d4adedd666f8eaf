#!/bin/bash
# The TurboQuant tensor-core decode kernel: its tests (kernel vs CPU, model decode; a failing model
# test is re-run without CUDA graphs and without programmatic dependent launch to tell the causes
# apart), then f16 vs turbo3 (tensor cores) at depth 32768 and one Nsight Compute report of the
# kernel there (GPU machine, repository root, build-cuda-dev/ carried).
. bench/cuda/lib.sh
unpack
copy_bw
for t in test_cuda_turbo test_cuda_kv_turbo; do
    timeout 300 $B/tests/$t > "$OUT/$t.log" 2>&1
    echo "$t rc=$? : $(tail -1 "$OUT/$t.log")" >> "$SUM"
    grep -E "FAIL|tensor|scaled" "$OUT/$t.log" | head -20 >> "$SUM"
done
if grep -q FAIL "$OUT/test_cuda_kv_turbo.log"; then
    TN_CUDA_NO_GRAPHS=1 timeout 300 $B/tests/test_cuda_kv_turbo 2>&1 | grep -E "FAIL|tensor-core decode" | sed 's/^/no graphs: /' >> "$SUM"
    TERN_CUDA_PDL=0 timeout 300 $B/tests/test_cuda_kv_turbo 2>&1 | grep -E "FAIL|tensor-core decode" | sed 's/^/no PDL: /' >> "$SUM"
fi
[ "${BENCH:-1}" = 1 ] || { cat "$SUM"; exit 0; }
gen llama3-8b Q4_K_M
F=/tmp/llama3-8b-Q4_K_M.gguf
bench f16 $F -p 0 -n 64 -d 32768 -r 2
bench turbo3-tc $F -p 0 -n 64 -d 32768 -r 2 -ctk turbo3 -ctv turbo3
timeout 240 ncu --clock-control none --cache-control none --section WarpStateStats --section LaunchStats \
    --section SpeedOfLight --section Occupancy --section MemoryWorkloadAnalysis --section SourceCounters -k regex:tq_dec_tc --launch-skip 40 \
    --launch-count 1 $B/tern bench -m $F -ngl 99 -p 0 -n 4 -d 32768 -r 1 -ctk turbo3 -ctv turbo3 > "$OUT/stalls-turbo-tc.txt" 2>&1
echo "== ncu tq_dec_tc (turbo3, d32768)" >> "$SUM"
grep -E "Duration|Stall|Warp Cycles Per|Registers Per|Achieved Occupancy|Theoretical Occupancy|Block Limit|Memory Throughput|DRAM Throughput|Grid Size|Dynamic Shared|No Eligible|Issued Warp|Bank" \
    "$OUT/stalls-turbo-tc.txt" | sed 's/  */ /g' >> "$SUM"
echo "================ summary"
cat "$SUM"
