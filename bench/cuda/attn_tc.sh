#!/bin/bash
# Decode attention on long caches (GPU machine, repository root, build-cuda-dev/ carried),
# Llama-3-8B shape Q4_K_M, f16 cache: the tensor-core kernel's cells per split swept at depths
# 8192 and 32768 (TERN_CUDA_TC_SPLIT_CELLS=CELLS), the f32 kernel (TERN_CUDA_ATTN_TC=0) beside
# it, then (NCU=1) one Nsight Compute report of each kernel at d32768 (speed of light, occupancy,
# warp stall reasons; NCU_F32=0: the tensor-core kernel's only) in $OUT/stalls-*.txt with the key lines in $OUT/summary.txt.
#   CELLS="256 512 1024" NCU=1 bench/cuda/attn_tc.sh
. bench/cuda/lib.sh
unpack
copy_bw
gen llama3-8b Q4_K_M
F=/tmp/llama3-8b-Q4_K_M.gguf
for sc in ${CELLS:-256 512 1024 2048}; do
    export TERN_CUDA_TC_SPLIT_CELLS=$sc
    bench tc-$sc $F -p 0 -n 64 -d ${DEPTHS:-8192,32768} -r 2
    unset TERN_CUDA_TC_SPLIT_CELLS
done
export TERN_CUDA_ATTN_TC=0
bench f32 $F -p 0 -n 64 -d ${DEPTHS:-8192,32768} -r 2
unset TERN_CUDA_ATTN_TC
if [ "${NCU:-1}" = 1 ]; then
    st() { # label kernel-regex: one launch of the decode step at d32768
        timeout 240 ncu --clock-control none --cache-control none --section WarpStateStats --section LaunchStats \
            --section SpeedOfLight --section Occupancy --section MemoryWorkloadAnalysis -k regex:$2 --launch-skip 40 \
            --launch-count 1 $B/tern bench -m $F -ngl 99 -p 0 -n 4 -d 32768 -r 1 > "$OUT/stalls-$1.txt" 2>&1
        echo "== ncu $1: -k regex:$2 --launch-skip 40 --launch-count 1 | tern bench -p 0 -n 4 -d 32768 -r 1 $(env | grep -E '^TERN_CUDA' | tr '\n' ' ')" >> "$SUM"
        grep -E "Duration|Stall|Warp Cycles Per|Registers Per|Achieved Occupancy|Theoretical Occupancy|Block Limit|Memory Throughput|DRAM Throughput|Grid Size|Dynamic Shared|No Eligible|Issued Warp" \
            "$OUT/stalls-$1.txt" | sed 's/  */ /g' >> "$SUM"
    }
    st tc k_attn_dec_tc
    if [ "${NCU_F32:-1}" = 1 ]; then
        export TERN_CUDA_ATTN_TC=0
        st f32 k_attn_dec
        unset TERN_CUDA_ATTN_TC
    fi
fi
pack_raw
echo "================ summary"
cat "$SUM"
