#!/bin/sh
# Builds the GGUF fuzzer (tests/fuzz/fuzz_gguf.c) with clang's libFuzzer + ASan + UBSan against
# the library sources compiled with the same flags, then runs it for SECONDS (default 300).
#   sh tests/fuzz/run.sh [SECONDS]
# Output goes to $FUZZ_BUILD (default build-fuzz): the growing corpus in corpus/, crash inputs in
# crashes/. Seeds come from tests/data/gguf/corpus (read only). Needs clang with compiler-rt
# (Debian/Ubuntu: apt-get update && apt-get install -y clang).
set -eu
secs=${1:-300}
cd "$(dirname "$0")/../.."
out=${FUZZ_BUILD:-build-fuzz}
CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "clang not found: apt-get update && apt-get install -y clang" >&2
    exit 1
fi
flags="-std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -fno-omit-frame-pointer
       -fsanitize=address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$out/obj" "$out/corpus" "$out/crashes"
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
$CLANG $flags -fsanitize=fuzzer tests/fuzz/fuzz_gguf.c "$out/libtern-fuzz.a" -lm -lpthread \
    -o "$out/fuzz_gguf"
echo "built $out/fuzz_gguf; fuzzing for $secs s"
exec "$out/fuzz_gguf" "$out/corpus" tests/data/gguf/corpus -dict=tests/fuzz/gguf.dict \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/crashes/" -print_final_stats=1
