# Dev-time: compares two GGUF files key by key (type and serialized value) and tensor by tensor
# (name, shape, type, data bytes), independently of tern's C reader. Used for the one-off check of
# `tern convert` against llama.cpp's files (bench/results/2026-12-01-convert-check.md).
#   /usr/bin/python3 tests/scripts/compare_gguf.py GOT.gguf WANT.gguf [--data-only]
# --data-only: tensors only (e.g. a converter's q8_0 against llama-quantize's Q8_0, whose
# metadata differs by design). Exit status 0 if everything compared is identical.
import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_raw import read  # noqa: E402

TNAME = {0: 'f32', 1: 'f16', 8: 'q8_0', 30: 'bf16'}

got, want = sys.argv[1], sys.argv[2]; data_only = '--data-only' in sys.argv
vg, kg, tg, ng = read(got); vw, kw, tw, nw = read(want); bad = 0
if not data_only:
    wk = {k: (t, r) for k, t, r in kw}
    for i, (k, t, raw) in enumerate(kg):
        if k not in wk: print(f'  kv {k}: only in {got}'); bad += 1
        elif wk[k] != (t, raw): print(f'  kv {k}: differs (type {t} vs {wk[k][0]})'); bad += 1
    for k, t, r in kw:
        if k not in {x[0] for x in kg}: print(f'  kv {k}: missing'); bad += 1
    order_same = [k for k, _, _ in kg] == [k for k, _, _ in kw]
    print(f'metadata: {len(kg)} keys vs {len(kw)}, {bad} differing, same order: {order_same}')
tb = 0; wt = {t[0]: t for t in tw}
for name, ne, ty, data in tg:
    if name not in wt: print(f'  tensor {name}: only in {got}'); tb += 1; continue
    _, ne2, ty2, data2 = wt[name]
    if ne != ne2 or ty != ty2 or data.rstrip(b'\0') != data2.rstrip(b'\0'):
        print(f'  tensor {name}: {ne} {TNAME.get(ty, ty)} vs {ne2} {TNAME.get(ty2, ty2)}, data equal: {data.rstrip(chr(0).encode()) == data2.rstrip(chr(0).encode())}'); tb += 1
for name, *_ in tw:
    if name not in {t[0] for t in tg}: print(f'  tensor {name}: missing'); tb += 1
types = {}
for _, _, ty, _ in tg: types[TNAME.get(ty, ty)] = types.get(TNAME.get(ty, ty), 0) + 1
print(f'tensors: {len(tg)} vs {len(tw)}, {tb} differing (name/shape/type/bytes); types {types}; same order: {[t[0] for t in tg] == [t[0] for t in tw]}')
if not data_only:
    same = open(got, 'rb').read() == open(want, 'rb').read()
    print(f'files: {ng} vs {nw} bytes, byte-identical: {same}')
sys.exit(1 if bad or tb else 0)
