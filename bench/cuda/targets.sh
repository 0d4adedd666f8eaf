#!/bin/bash
# The issue-4/5 decode target rows on the current build (GPU machine, build-cuda-dev/ carried),
# tests first unless TESTS=0: tg128 of Llama-3-8B Q4_0, Q4_K_M, Q8_0, Llama-2-7B Q4_0 and
# Qwen3-0.6B Q4_0, then Llama-3-8B Q4_K_M tg64 at depth 32768 with f16 and turbo3 caches. Most
# important first (the device budget may cut it). Summary in $OUT/summary.txt.
RAW=${RAW:-/tmp/raw}
. bench/cuda/lib.sh
[ "${TESTS:-1}" = 1 ] && bash bench/cuda/run_device.sh tests > "$OUT/tests.txt" 2>&1
unpack
copy_bw
A="-p 0 -n 128 -r 3"
for m in llama3-8b:q4_0 llama3-8b:Q4_K_M llama2-7b:q4_0 qwen3-0.6b:q4_0 llama3-8b:q8_0; do
    gen ${m%%:*} ${m##*:}
    bench ${m/:/-} /tmp/${m%%:*}-${m##*:}.gguf $A
done
bench d32k-f16 /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 64 -d 32768 -r 2
bench d32k-turbo3 /tmp/llama3-8b-Q4_K_M.gguf -p 0 -n 64 -d 32768 -r 2 -ctk turbo3 -ctv turbo3
pack_raw
echo "================ summary"
grep -E "rc=|checks|wide FFN|RoPE in" "$OUT/tests.txt" 2>/dev/null | tail -14
cat "$SUM"
