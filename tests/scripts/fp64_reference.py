# Independent float64 reference forward pass (numpy) for the tiny Llama / Qwen3 checkpoints.
#
# Why: the transformers fp32 logits in ref-logits-f32.bin drift from exact arithmetic as the
# position grows (max |diff| 0.0097 for tiny-llama and 0.042 for tiny-qwen3 at 128 tokens, the same
# for this script and for tern), so they cannot separate "tern is exact" from "tern is a little
# off". This script recomputes the logits of ref.json's logits_tokens from the bf16 safetensors in
# float64 and writes them as float32 [128 x 1024]; tests/data/ref-fp64/*.bin were made with
#   /usr/bin/python3 tests/scripts/fp64_reference.py SHARED_MODELS_DIR/tiny-qwen3
# (SHARED_MODELS_DIR: the shared tiny models with their HF checkpoints, outside the repository)
#   cp /tmp/dbg/np-logits.bin tests/data/ref-fp64/tiny-qwen3-logits-f32.bin
# (Debian's python3-numpy; the script reads only the HF checkpoint and ref.json.)
import json, struct, sys, numpy as np
d = sys.argv[1]
cfg = json.load(open(d + '/hf/config.json'))
raw = open(d + '/hf/model.safetensors', 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]; hdr = json.loads(raw[8:8+n]); base = 8 + n
W = {}
for k, v in hdr.items():
    if k == '__metadata__': continue
    a, b = v['data_offsets']; assert v['dtype'] == 'BF16'
    u = np.frombuffer(raw[base+a:base+b], dtype=np.uint16).astype(np.uint32) << 16
    W[k] = u.view(np.float32).astype(np.float64).reshape(v['shape'])
ref = json.load(open(d + '/ref.json')); toks = ref['logits_tokens']
R = np.fromfile(d + '/ref-logits-f32.bin', dtype=np.float32).reshape(128, 1024)
H = cfg['num_attention_heads']; KV = cfg['num_key_value_heads']; hd = cfg['head_dim']; eps = cfg['rms_norm_eps']
theta = cfg['rope_parameters']['rope_theta']; L = cfg['num_hidden_layers']
def rms(x, w): return x / np.sqrt((x*x).mean(-1, keepdims=True) + eps) * w
T = len(toks); x = W['model.embed_tokens.weight'][toks]
inv = 1.0 / (theta ** (np.arange(0, hd, 2) / hd)); ang = np.arange(T)[:, None] * inv[None]
cos = np.cos(np.concatenate([ang, ang], -1)); sin = np.sin(np.concatenate([ang, ang], -1))
def rope(q):  # q [T, h, hd], rotate_half
    q1, q2 = q[..., :hd//2], q[..., hd//2:]
    return q * cos[:, None] + np.concatenate([-q2, q1], -1) * sin[:, None]
qk_norm = 'model.layers.0.self_attn.q_norm.weight' in W
for l in range(L):
    p = f'model.layers.{l}.'
    h = rms(x, W[p+'input_layernorm.weight'])
    q = (h @ W[p+'self_attn.q_proj.weight'].T).reshape(T, H, hd)
    k = (h @ W[p+'self_attn.k_proj.weight'].T).reshape(T, KV, hd)
    v = (h @ W[p+'self_attn.v_proj.weight'].T).reshape(T, KV, hd)
    if qk_norm:
        q = rms(q, W[p+'self_attn.q_norm.weight']); k = rms(k, W[p+'self_attn.k_norm.weight'])
    q = rope(q); k = rope(k)
    k = np.repeat(k, H // KV, axis=1); v = np.repeat(v, H // KV, axis=1)
    s = np.einsum('thd,shd->hts', q, k) / np.sqrt(hd)
    s = s + np.triu(np.full((T, T), -np.inf), 1)[None]
    s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
    o = np.einsum('hts,shd->thd', s, v).reshape(T, H*hd)
    x = x + o @ W[p+'self_attn.o_proj.weight'].T
    h = rms(x, W[p+'post_attention_layernorm.weight'])
    g = h @ W[p+'mlp.gate_proj.weight'].T; u = h @ W[p+'mlp.up_proj.weight'].T
    x = x + (g / (1 + np.exp(-g)) * u) @ W[p+'mlp.down_proj.weight'].T
x = rms(x, W['model.norm.weight'])
out = W.get('lm_head.weight', W['model.embed_tokens.weight'])
logits = x @ out.T
err = np.abs(logits - R).max(-1)
print('fp64 numpy vs ref: max', err.max(), 'per pos (every 16):', np.round(err[::16], 4))
np.asarray(logits, dtype=np.float32).tofile(sys.argv[2] if len(sys.argv) > 2 else '/tmp/dbg/np-logits.bin')
