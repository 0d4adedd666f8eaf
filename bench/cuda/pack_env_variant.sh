#!/bin/sh
# Packs an A/B variant for bench/cuda/ab.sh that is the current tern run with environment
# settings (a runtime switch such as TERN_CUDA_ATTN_LPC), instead of a rebuilt binary
# (bench/cuda/pack_variant.sh): build-cuda-stage/v-NAME/tern is a script that sets them and runs
# the current build's tern. bench/cuda/pack.sh first.
#   bench/cuda/pack_env_variant.sh NAME "VAR=VALUE ..."   e.g. lpc1 TERN_CUDA_ATTN_LPC=1
set -e
cd "$(dirname "$0")/../.."
name=$1 vars=$2
S=build-cuda-stage
[ -f "$S/tern" ] || { echo "pack_env_variant: run bench/cuda/pack.sh first" >&2; exit 1; }
rm -rf "$S/v-$name" && mkdir -p "$S/v-$name"
printf '#!/bin/sh\nexec env %s "$(dirname "$0")/../tern" "$@"\n' "$vars" > "$S/v-$name/tern"
chmod +x "$S/v-$name/tern"
XZ_OPT=-9e tar cJf build-cuda-dev/bin.txz -C "$S" .
ls -la build-cuda-dev/bin.txz
