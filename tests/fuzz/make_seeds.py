#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus (tests/data/gguf/corpus) with an independent struct-based
GGUF writer: small valid files covering every value type, alignment, string arrays, several
tensor types and a vocab-only file, plus the real tiny-llama header (all its kvs, 1024 tokens)
with a few small tensors, and a truncated prefix of tiny-qwen3. Run from the repository root."""
import os
import struct

OUT = "tests/data/gguf/corpus"
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q", 11: "q", 12: "d"}


def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def val(t, v):
    if t == 8:
        return s(v)
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(val(et, i) for i in items)
    return struct.pack("<" + SCALAR[t], v)


def gguf(kvs, tensors, align=32, raw_kvs=b"", n_raw=0):
    """kvs: [(key, type, value)]; tensors: [(name, type, ne, data bytes)]."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs) + n_raw) + raw_kvs
    head += b"".join(s(k) + struct.pack("<I", t) + val(t, v) for k, t, v in kvs)
    off, data = 0, b""
    for name, ty, ne, d in tensors:
        head += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        head += struct.pack("<IQ", ty, off)
        pad = (-len(d)) % align
        data += d + b"\0" * pad
        off += len(d) + pad
    if tensors:
        head += b"\0" * ((-len(head)) % align)
    return head + data


def llama_kvs_raw(path):
    """The raw kv section of a real GGUF (bytes between the counts and the tensor infos)."""
    b = open(path, "rb").read()
    n_kv = struct.unpack_from("<Q", b, 16)[0]
    o = 24

    def skip(t):
        nonlocal o
        if t == 8:
            o += 8 + struct.unpack_from("<Q", b, o)[0]
        elif t == 9:
            et, n = struct.unpack_from("<IQ", b, o)
            o += 12
            for _ in range(n):
                skip(et)
        else:
            o += struct.calcsize("<" + SCALAR[t])

    for _ in range(n_kv):
        o += 8 + struct.unpack_from("<Q", b, o)[0]
        t = struct.unpack_from("<I", b, o)[0]
        o += 4
        skip(t)
    return b[24:o], n_kv


def main():
    os.makedirs(OUT, exist_ok=True)
    f32 = struct.pack("<8f", *[0.5 * i for i in range(8)])
    q8 = bytes(range(68))  # q8_0 [32, 2]: 2 blocks of 34 bytes
    q4k = bytes((7 * i) & 255 for i in range(144))  # q4_K [256]: one 144-byte block
    kvs = [("general.architecture", 8, "llama"), ("a.u8", 0, 200), ("a.i8", 1, -5),
           ("a.u16", 2, 60000), ("a.i16", 3, -300), ("a.u32", 4, 4000000000), ("a.i32", 5, -7),
           ("a.f32", 6, 1.5), ("a.bool", 7, 1), ("a.u64", 10, 1 << 40), ("a.i64", 11, -(1 << 40)),
           ("a.f64", 12, 0.25), ("a.strs", 9, (8, ["x", "", "yz"])), ("a.ints", 9, (5, [1, -2, 3])),
           ("a.empty", 9, (6, []))]
    files = {
        "all-types.gguf": gguf(kvs, [("t.f32", 0, [8], f32), ("t.q8", 8, [32, 2], q8),
                                     ("t.q4k", 12, [256, 1, 1, 1], q4k)]),
        "align64.gguf": gguf([("general.alignment", 4, 64)], [("a", 0, [8], f32), ("b", 8, [32, 2], q8)],
                             align=64),
        "vocab-only.gguf": gguf([("tokenizer.ggml.tokens", 9, (8, ["<s>", "a", "b"]))], []),
        "empty-tensor.gguf": gguf([], [("z", 0, [0, 4], b""), ("w", 30, [4], bytes(8))]),
    }
    raw, n = llama_kvs_raw("models/tiny-llama/tiny-llama-Q4_K_M.gguf")
    files["llama-kvs.gguf"] = gguf([], [("token_embd.weight", 12, [256], q4k), ("norm", 0, [8], f32)],
                                   raw_kvs=raw, n_raw=n)
    files["qwen3-prefix.gguf"] = open("models/tiny-qwen3/tiny-qwen3-bf16.gguf", "rb").read()[:8192]
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as fh:
            fh.write(data)
        print(name, len(data))


main()
