# Dev-time GGUF reader shared by compare_gguf.py and make_convert_fixtures.py, written from the
# format description (independent of tern's C reader): the header's key/values as raw bytes and
# each tensor's info and data bytes (up to the next tensor's offset, so padding included).
import struct

SCALAR = {0: '<B', 1: '<b', 2: '<H', 3: '<h', 4: '<I', 5: '<i', 6: '<f', 7: '<?', 10: '<Q', 11: '<q', 12: '<d'}


def read(path):
    """-> (version, kvs [(key, type, raw value bytes)], tensors [(name, ne, type, data bytes)], file bytes)"""
    b = open(path, 'rb').read(); p = 4
    def u(f):
        nonlocal p; v = struct.unpack_from(f, b, p)[0]; p += struct.calcsize(f); return v
    def skip(t):
        nonlocal p
        if t == 8: n = u('<Q'); p += n
        elif t == 9:
            et = u('<I'); n = u('<Q')
            if et in SCALAR: p += n * struct.calcsize(SCALAR[et])
            else:
                for _ in range(n): skip(et)
        else: p += struct.calcsize(SCALAR[t])
    assert b[:4] == b'GGUF', path
    ver = u('<I'); nt = u('<Q'); nkv = u('<Q'); kvs = []
    for _ in range(nkv):
        n = u('<Q'); k = b[p:p + n].decode(); p += n; t = u('<I'); s = p; skip(t); kvs.append((k, t, b[s:p]))
    infos = []
    for _ in range(nt):
        n = u('<Q'); name = b[p:p + n].decode(); p += n
        nd = u('<I'); ne = [u('<Q') for _ in range(nd)]; ty = u('<I'); off = u('<Q'); infos.append((name, ne, ty, off))
    align = 32
    for k, t, raw in kvs:
        if k == 'general.alignment': align = struct.unpack('<I', raw)[0]
    base = (p + align - 1) // align * align
    offs = sorted(o for _, _, _, o in infos) + [len(b) - base]
    ts = []
    for name, ne, ty, off in infos:
        end = offs[offs.index(off) + 1]
        ts.append((name, ne, ty, b[base + off:base + end]))
    return ver, kvs, ts, len(b)
