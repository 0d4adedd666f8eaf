#!/bin/sh
# Builds a fuzzer (tests/fuzz/fuzz_TARGET.c: gguf, the default, tokenizer or serve) with clang's
# libFuzzer + ASan + UBSan against the library sources compiled with the same flags, then runs it
# for SECONDS (default 300).
#   sh tests/fuzz/run.sh [SECONDS] [gguf|tokenizer|serve]
# Output goes to $FUZZ_BUILD (default build-fuzz): the growing corpus in corpus/ (gguf) or
# corpus-tokenizer/, crash inputs in crashes/. Seeds (read only): tests/data/gguf/corpus or
# tests/data/tok-fuzz.tar.xz (unpacked into $FUZZ_BUILD/seeds-tokenizer). Needs clang with compiler-rt
# (Debian/Ubuntu: apt-get update && apt-get install -y clang).
set -eu
secs=${1:-300}
target=${2:-gguf}
case "$target" in
gguf) seeds=tests/data/gguf/corpus corpus=corpus dict=tests/fuzz/gguf.dict max_len=65536 ;;
tokenizer) seeds=seeds-tokenizer corpus=corpus-tokenizer dict=tests/fuzz/tok.dict max_len=4096 ;;
serve) seeds=tests/data/serve-fuzz corpus=corpus-serve dict=tests/fuzz/serve.dict max_len=16384 ;;
*) echo "unknown fuzz target '$target' (gguf, tokenizer, serve)" >&2; exit 1 ;;
esac
cd "$(dirname "$0")/../.."
out=${FUZZ_BUILD:-build-fuzz}
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "clang not found: apt-get update && apt-get install -y clang" >&2
    exit 1
fi
flags="-std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -Itests -fno-omit-frame-pointer
       -fsanitize=address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$out/obj" "$out/$corpus" "$out/crashes"
# Every library source goes into an archive, so the link pulls in only what the fuzzer needs;
# a file that does not compile (someone mid-edit) is skipped with a warning.
rm -f "$out/libtern-fuzz.a"
for f in $(find src -name '*.c' | sort); do
    o="$out/obj/$(echo "$f" | tr / _).o"
    case "$f" in
    *_avx2.c) extra="-mavx2 -mfma -mf16c" ;;
    *_avx512.c) extra="-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni" ;;
    *) extra="" ;;
    esac
    # shellcheck disable=SC2086
    if $CLANG $flags -fsanitize=fuzzer-no-link $extra -c "$f" -o "$o" 2>"$o.log"; then
        ar rcs "$out/libtern-fuzz.a" "$o"
    else
        echo "warning: skipping $f (see $o.log)" >&2
    fi
done
# shellcheck disable=SC2086
$CLANG $flags -fsanitize=fuzzer "tests/fuzz/fuzz_$target.c" "$out/libtern-fuzz.a" -lm -lpthread \
    -lpcre2-8 -o "$out/fuzz_$target"
if [ "$target" = tokenizer ]; then
    rm -rf "$out/seeds-tokenizer" && mkdir -p "$out/seeds-tokenizer"
    xz -dc tests/data/tok-fuzz.tar.xz | tar -xf - -C "$out/seeds-tokenizer" --strip-components=1
    seeds="$out/seeds-tokenizer"
fi
echo "built $out/fuzz_$target; fuzzing for $secs s"
exec "$out/fuzz_$target" "$out/$corpus" "$seeds" -dict="$dict" \
    -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/crashes/" -print_final_stats=1
