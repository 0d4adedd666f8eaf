# Dev-time generator of tests/data/convert/: small Hugging Face checkpoints cut out of the shared
# tiny models, and for each the GGUF that llama.cpp's converter produced for the full model, cut
# the same way. test_convert converts the small checkpoints with tern and compares byte for byte.
#
#   /usr/bin/python3 tests/scripts/make_convert_fixtures.py SHARED_MODELS_DIR tests/data/convert
# (SHARED_MODELS_DIR: the shared tiny models with their HF checkpoints, outside the repository)
#
# Why cutting is sound: every rearrangement llama.cpp makes works within a head (llama's Q/K row
# permutation), elementwise (qwen35's 1 + w norms, -exp(A_log)) or over whole value heads
# (qwen35's linear-attention reorder, all heads kept here); the cuts keep whole leading heads and
# leading rows/columns, so cut(convert(full)) == convert(cut(full)), and the expected tensors
# below are llama.cpp's own bytes, only sliced. Expected metadata is llama.cpp's, with the shape
# keys (block_count, embedding_length, ...) and general.size_label set for the smaller model.
# The fp64 logits of the cut llama / qwen3 checkpoints (a float64 numpy forward pass, as in
# fp64_reference.py) let test_convert run the converted model too.
import json, os, shutil, struct, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_raw  # noqa: E402

SRC, DST = sys.argv[1], sys.argv[2]
HIDDEN, FFN = 32, 64
N_LOGIT_TOKENS = 16

# model -> (layers kept, new n_head, new n_kv, extra config changes)
SPECS = {
    'tiny-llama': ([0, 1], 2, 1, {}),
    'tiny-qwen3': ([0, 1], 2, 1, {}),
    'tiny-qwen35': ([0, 3], 2, 1, {'full_attention_interval': 2}),
}

# ---- GGUF (read raw, write in llama.cpp's layout: 32-byte alignment, data padded per tensor) ----

def read_gguf(path):
    """-> kvs, [(name, type, array)] of a bf16/f32 GGUF (gguf_raw.read, data as numpy arrays)"""
    _, kvs, infos, _ = gguf_raw.read(path)
    tensors = []
    for name, ne, ty, data in infos:
        dt = {0: np.float32, 30: np.uint16}[ty]
        n = int(np.prod(ne))
        tensors.append((name, ty, np.frombuffer(data, dt, n).reshape(list(reversed(ne)))))
    return kvs, tensors

def write_gguf(path, kvs, tensors):
    def s(x): x = x.encode(); return struct.pack('<Q', len(x)) + x
    out = bytearray(b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kvs)))
    for key, t, raw in kvs: out += s(key) + struct.pack('<I', t) + raw
    off = 0; datas = []
    for name, ty, a in tensors:
        ne = list(reversed(a.shape))
        out += s(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', d) for d in ne)
        out += struct.pack('<IQ', ty, off)
        d = np.ascontiguousarray(a).tobytes(); datas.append(d); off += (len(d) + 31) // 32 * 32
    out += b'\0' * ((32 - len(out) % 32) % 32)
    for d in datas: out += d + b'\0' * ((32 - len(d) % 32) % 32)
    open(path, 'wb').write(out)

# ---- safetensors ----
def read_st(path):
    raw = open(path, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]
    hdr = json.loads(raw[8:8 + n]); base = 8 + n; W = {}
    for k, v in hdr.items():
        if k == '__metadata__': continue
        a, e = v['data_offsets']; assert v['dtype'] == 'BF16'
        W[k] = np.frombuffer(raw[base + a:base + e], np.uint16).reshape(v['shape'])
    return W

def write_st(path, W):
    hdr = {'__metadata__': {'format': 'pt'}}; off = 0; data = []
    for k in sorted(W):
        d = np.ascontiguousarray(W[k]).tobytes()
        hdr[k] = {'dtype': 'BF16', 'shape': list(W[k].shape), 'data_offsets': [off, off + len(d)]}
        off += len(d); data.append(d)
    h = json.dumps(hdr, separators=(',', ':')).encode(); h += b' ' * ((8 - len(h) % 8) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(h)) + h + b''.join(data))

def bf16(a): return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)

# ---- the cut ----
def cut(name, a, cfg, nh, nkv, qwen35):
    """Slices an HF-layout array (GGUF arrays have the same orientation); `name` is the HF name."""
    hd = cfg['head_dim']; H, F = HIDDEN, FFN
    qrows = nh * hd * (2 if qwen35 else 1)  # qwen35's q_proj holds query and gate per head
    if name.endswith(('embed_tokens.weight', 'lm_head.weight')): return a[:, :H]
    if name.endswith(('input_layernorm.weight', 'post_attention_layernorm.weight')) or name == 'model.norm.weight': return a[:H]
    if 'q_proj' in name: return a[:qrows, :H]
    if 'k_proj' in name or 'v_proj' in name: return a[:nkv * hd, :H]
    if 'o_proj' in name: return a[:H, :nh * hd]
    if 'gate_proj' in name or 'up_proj' in name: return a[:F, :H]
    if 'down_proj' in name: return a[:H, :F]
    if 'linear_attn.in_proj' in name: return a[:, :H]
    if 'linear_attn.out_proj' in name: return a[:H, :]
    return a  # q/k norms, conv1d, A_log, dt_bias, linear_attn.norm: no hidden dimension

HF2GGUF = [('model.embed_tokens.weight', 'token_embd.weight'), ('lm_head.weight', 'output.weight'),
           ('model.norm.weight', 'output_norm.weight')]
LAYER = {'input_layernorm.weight': 'attn_norm.weight', 'self_attn.q_proj.weight': 'attn_q.weight',
         'self_attn.k_proj.weight': 'attn_k.weight', 'self_attn.v_proj.weight': 'attn_v.weight',
         'self_attn.o_proj.weight': 'attn_output.weight', 'self_attn.q_norm.weight': 'attn_q_norm.weight',
         'self_attn.k_norm.weight': 'attn_k_norm.weight', 'mlp.gate_proj.weight': 'ffn_gate.weight',
         'mlp.up_proj.weight': 'ffn_up.weight', 'mlp.down_proj.weight': 'ffn_down.weight',
         'linear_attn.A_log': 'ssm_a', 'linear_attn.dt_bias': 'ssm_dt.bias',
         'linear_attn.conv1d.weight': 'ssm_conv1d.weight', 'linear_attn.in_proj_a.weight': 'ssm_alpha.weight',
         'linear_attn.in_proj_b.weight': 'ssm_beta.weight', 'linear_attn.in_proj_qkv.weight': 'attn_qkv.weight',
         'linear_attn.in_proj_z.weight': 'attn_gate.weight', 'linear_attn.norm.weight': 'ssm_norm.weight',
         'linear_attn.out_proj.weight': 'ssm_out.weight'}

def gguf_to_hf(name, qwen35):
    """HF name of a GGUF tensor (to pick the cut)."""
    for h, g in HF2GGUF:
        if name == g: return h
    _, il, rest = name.split('.', 2)
    if rest in ('ffn_norm.weight', 'post_attention_norm.weight'): return f'model.layers.{il}.post_attention_layernorm.weight'
    for h, g in LAYER.items():
        if rest == g: return f'model.layers.{il}.{h}'
    raise KeyError(name)

def size_label(n):  # llama.cpp's model_weight_count_rounded_notation
    for lim, sc, suf in ((1e12, 1e-12, 'T'), (1e9, 1e-9, 'B'), (1e6, 1e-6, 'M'), (0, 1e-3, 'K')):
        if n > lim or suf == 'K':
            x = n * sc; fix = max(2 - len(str(round(x)).lstrip('0')), 0)
            return f'{x:.{fix}f}{suf}'

def forward_f64(W, cfg, toks):
    """float64 forward pass of a llama / qwen3 checkpoint (the method of fp64_reference.py)."""
    H = cfg['num_attention_heads']; KV = cfg['num_key_value_heads']; hd = cfg['head_dim']
    eps = cfg['rms_norm_eps']; theta = cfg['rope_parameters']['rope_theta']
    W = {k: bf16(v) for k, v in W.items()}
    def rms(x, w): return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
    T = len(toks); x = W['model.embed_tokens.weight'][toks]
    inv = 1.0 / (theta ** (np.arange(0, hd, 2) / hd)); ang = np.arange(T)[:, None] * inv[None]
    cos = np.cos(np.concatenate([ang, ang], -1)); sin = np.sin(np.concatenate([ang, ang], -1))
    def rope(q):
        q1, q2 = q[..., :hd // 2], q[..., hd // 2:]
        return q * cos[:, None] + np.concatenate([-q2, q1], -1) * sin[:, None]
    for l in range(cfg['num_hidden_layers']):
        p = f'model.layers.{l}.'
        h = rms(x, W[p + 'input_layernorm.weight'])
        q = (h @ W[p + 'self_attn.q_proj.weight'].T).reshape(T, H, hd)
        k = (h @ W[p + 'self_attn.k_proj.weight'].T).reshape(T, KV, hd)
        v = (h @ W[p + 'self_attn.v_proj.weight'].T).reshape(T, KV, hd)
        if p + 'self_attn.q_norm.weight' in W:
            q = rms(q, W[p + 'self_attn.q_norm.weight']); k = rms(k, W[p + 'self_attn.k_norm.weight'])
        q = rope(q); k = rope(k)
        k = np.repeat(k, H // KV, axis=1); v = np.repeat(v, H // KV, axis=1)
        s = np.einsum('thd,shd->hts', q, k) / np.sqrt(hd) + np.triu(np.full((T, T), -np.inf), 1)[None]
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        x = x + np.einsum('hts,shd->thd', s, v).reshape(T, H * hd) @ W[p + 'self_attn.o_proj.weight'].T
        h = rms(x, W[p + 'post_attention_layernorm.weight'])
        g = h @ W[p + 'mlp.gate_proj.weight'].T; u = h @ W[p + 'mlp.up_proj.weight'].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + 'mlp.down_proj.weight'].T
    x = rms(x, W['model.norm.weight'])
    return x @ W.get('lm_head.weight', W['model.embed_tokens.weight']).T

for m, (layers, nh, nkv, extra) in SPECS.items():
    src = f'{SRC}/{m}'; qwen35 = m == 'tiny-qwen35'
    cfg = json.load(open(f'{src}/hf/config.json'))
    out_hf = f'{DST}/{m}/hf'; os.makedirs(out_hf, exist_ok=True)
    # checkpoint: kept layers renumbered 0..n-1, every tensor cut
    W = read_st(f'{src}/hf/model.safetensors'); Wc = {}
    for k, a in W.items():
        if k.startswith('model.layers.'):
            il = int(k.split('.')[2])
            if il not in layers: continue
            k2 = k.replace(f'model.layers.{il}.', f'model.layers.{layers.index(il)}.')
        else: k2 = k
        Wc[k2] = cut(k, a, cfg, nh, nkv, qwen35)
    write_st(f'{out_hf}/model.safetensors', Wc)
    c2 = dict(cfg, num_hidden_layers=len(layers), hidden_size=HIDDEN, intermediate_size=FFN,
              num_attention_heads=nh, num_key_value_heads=nkv, **extra)
    if 'layer_types' in cfg: c2['layer_types'] = [cfg['layer_types'][i] for i in layers]
    json.dump(c2, open(f'{out_hf}/config.json', 'w'), indent=2)
    for f in ('tokenizer.model', 'tokenizer_config.json'): shutil.copy(f'{src}/hf/{f}', out_hf)
    # expected GGUF: llama.cpp's tensors of the kept layers, cut the same way
    kvs, tensors = read_gguf(f'{src}/{m}-bf16.gguf'); exp_t = []
    for name, ty, a in tensors:
        if name.startswith('blk.'):
            il = int(name.split('.')[1])
            if il not in layers: continue
            new = name.replace(f'blk.{il}.', f'blk.{layers.index(il)}.', 1)
        else: new = name
        exp_t.append((new, ty, cut(gguf_to_hf(name, qwen35), a, cfg, nh, nkv, qwen35)))
    arch = [r for k, t, r in kvs if k == 'general.architecture'][0][8:].decode()
    params = sum(int(np.prod(a.shape)) for _, _, a in exp_t)
    new_vals = {f'{arch}.block_count': len(layers), f'{arch}.embedding_length': HIDDEN,
                f'{arch}.feed_forward_length': FFN, f'{arch}.attention.head_count': nh,
                f'{arch}.attention.head_count_kv': nkv}
    if qwen35: new_vals[f'{arch}.full_attention_interval'] = 2
    exp_kv = []
    for k, t, raw in kvs:
        if k in new_vals: assert t == 4; raw = struct.pack('<I', new_vals.pop(k))
        if k == 'general.size_label': lab = size_label(params).encode(); raw = struct.pack('<Q', len(lab)) + lab
        exp_kv.append((k, t, raw))
    assert not new_vals, new_vals
    write_gguf(f'{DST}/{m}-expected.gguf', exp_kv, exp_t)
    if not qwen35:
        toks = json.load(open(f'{src}/ref.json'))['logits_tokens'][:N_LOGIT_TOKENS]
        np.asarray(forward_f64(Wc, c2, toks), np.float32).tofile(f'{DST}/{m}-logits-f64.bin')
        json.dump(toks, open(f'{DST}/{m}-logits-tokens.json', 'w'))
    print(m, len(Wc), 'tensors,', params, 'params, size label', size_label(params))
