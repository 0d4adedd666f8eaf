#!/bin/sh
# Dev-time, one-off: `tern convert` on the full shared tiny checkpoints vs llama.cpp's files, and
# the converted Llama / Qwen3 through test_model's logits checks. Reads the full shared checkpoints
# (outside the repository, given as an argument), so it is not
# part of `make test` (test_convert covers cut-down copies). Usage, from the repository root:
#   sh tests/scripts/convert_check.sh BUILD_DIR SHARED_MODELS_DIR
set -u
B=${1:?usage: convert_check.sh BUILD_DIR SHARED_MODELS_DIR}; S=${2:?usage: convert_check.sh BUILD_DIR SHARED_MODELS_DIR}; W=$(mktemp -d /tmp/tern-convert-check-XXXXXX)
st=0
for m in tiny-llama tiny-qwen3 tiny-qwen35; do
    echo "== $m: tern convert $S/$m/hf (auto -> bf16) vs $S/$m/$m-bf16.gguf"
    $B/tern convert "$S/$m/hf" "$W/$m-bf16.gguf" 2>&1 | tr '\r' '\n' | grep -v '^convert \[' || st=1
    /usr/bin/python3 tests/scripts/compare_gguf.py "$W/$m-bf16.gguf" "$S/$m/$m-bf16.gguf" || st=1
    echo "== $m: --outtype q8_0 tensors vs llama-quantize's $m-Q8_0.gguf (data only)"
    $B/tern convert "$S/$m/hf" "$W/$m-q8_0.gguf" --outtype q8_0 2>/dev/null || st=1
    /usr/bin/python3 tests/scripts/compare_gguf.py "$W/$m-q8_0.gguf" "$S/$m/$m-Q8_0.gguf" --data-only || st=1
done
# test_model reads models/NAME/NAME-bf16.gguf and tests/data/ref-fp64 relative to the working
# directory: give it the converted files in a copy of that layout.
for m in tiny-llama tiny-qwen3; do
    mkdir -p "$W/run/models/$m"
    cp "$S/$m/ref.json" "$S/$m/ref-logits-f32.bin" "$W/run/models/$m/"
    mv "$W/$m-bf16.gguf" "$W/run/models/$m/$m-bf16.gguf"
done
mkdir -p "$W/run/tests/data" && cp -r tests/data/ref-fp64 "$W/run/tests/data/"
echo "== test_model on the converted tiny-llama / tiny-qwen3"
T=$(cd "$B/tests" && pwd)/test_model
(cd "$W/run" && "$T") || st=1
rm -rf "$W"
echo "convert check: $([ $st -eq 0 ] && echo PASS || echo FAIL)"
exit $st
