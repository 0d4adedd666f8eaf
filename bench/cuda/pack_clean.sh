#!/bin/sh
# Like pack.sh, but builds in a separate worktree (/tmp/tern-pack) from HEAD plus this checkout's
# uncommitted changes under src/cuda, bench/cuda and tests/test_cuda*.c, so that other people's
# half-edited files elsewhere in a shared tree do not break the device pack. The pack lands in
# this checkout's build-cuda-dev/bin.txz (carry build-cuda-dev to the GPU machine).
set -e
cd "$(dirname "$0")/../.."
repo=$(pwd)
wt=${PACK_WORKTREE:-/tmp/tern-pack}
git worktree prune
[ -d "$wt" ] || git worktree add -f --detach "$wt" HEAD >/dev/null
cd "$wt"
git checkout -q -f --detach "$(git -C "$repo" rev-parse HEAD)"
git -C "$repo" diff -- src/cuda bench/cuda 'tests/test_cuda*.c' > "$wt.diff"
[ -s "$wt.diff" ] && git apply "$wt.diff"
for f in $(git -C "$repo" ls-files --others --exclude-standard src/cuda bench/cuda); do
    mkdir -p "$(dirname "$f")" && cp "$repo/$f" "$f"
done
bench/cuda/pack.sh | tail -1
mkdir -p "$repo/build-cuda-dev" && cp build-cuda-dev/bin.txz "$repo/build-cuda-dev/bin.txz"
git checkout -q -f .
