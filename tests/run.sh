#!/bin/sh
# Runs every test program in the given folder from the repository root and prints a closing
# summary line "N passed, N failed" (one count per test program).
dir=${1:-build/tests}
passed=0; failed=0; failed_names=""
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    start=$(date +%s)
    if "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names="$failed_names $name"; fi
    echo "  ($name took $(( $(date +%s) - start ))s)"
done
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
