/* Architectures of the converter: config.json -> hyperparameters and GGUF keys, checkpoint
 * tensor names -> GGUF names, types and layouts. The rules mirror llama.cpp's
 * convert_hf_to_gguf.py and were checked tensor by tensor against its output for the tiny
 * Llama / Qwen3 / Qwen3.5 checkpoints (bench/results/2026-12-01-convert-check.md):
 *  - llama: Q and K rows are permuted per head (HF splits each head into rotary halves, ggml's
 *    rope rotates adjacent pairs); everything else is copied.
 *  - qwen2 / qwen3: no permutation (NEOX-style rope in ggml too).
 *  - qwen35: RMSNorm weights are stored as w but applied as (1 + w), so 1 is added (except the
 *    gated norm of the linear attention); A_log becomes A = -exp(A_log); the value heads of the
 *    linear attention are reordered from grouped (the heads sharing key head k are adjacent) to
 *    tiled (head p uses key head p % n_k), which is what ggml's broadcasting expects. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert_internal.h"
#include "core/error.h"
#include "formats/types.h"

static const conv_arch archs[] = {
    {"LlamaForCausalLM", "llama", ARCH_LLAMA},
    {"MistralForCausalLM", "llama", ARCH_LLAMA},
    {"Qwen2ForCausalLM", "qwen2", ARCH_QWEN2},
    {"Qwen3ForCausalLM", "qwen3", ARCH_QWEN3},
    {"Qwen3_5ForCausalLM", "qwen35", ARCH_QWEN35},
};

const conv_arch *conv_arch_find(const char *hf_name) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].hf_name, hf_name)) return &archs[i];
    return NULL;
}

const char *conv_arch_list(void) {
    return "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
           "Qwen3_5ForCausalLM";
}

int conv_missing(const conv *c, const char *key) {
    return tn_set_error("%s/config.json: missing or invalid key '%s' (needed for %s)", c->dir, key,
                        c->arch ? c->arch->hf_name : "conversion");
}

static int need_int(const conv *c, const char *key, int64_t *out) {
    if (!tn_json_get_int(c->config, key, out) || *out <= 0) return conv_missing(c, key);
    return 0;
}

/* rope settings live in "rope_parameters" (transformers 5) or "rope_scaling" plus top-level
 * "rope_theta" (older files). */
static const tn_json *rope_obj(const conv *c) {
    const tn_json *r = tn_json_get(c->config, "rope_parameters");
    if (!r || r->type != TN_JSON_OBJECT) r = tn_json_get(c->config, "rope_scaling");
    return r && r->type == TN_JSON_OBJECT ? r : NULL;
}

static int read_qwen35(conv *c) {
    conv_hparams *h = &c->hp;
    if (need_int(c, "linear_conv_kernel_dim", &h->conv_kernel) ||
        need_int(c, "linear_key_head_dim", &h->lin_kd) ||
        need_int(c, "linear_value_head_dim", &h->lin_vd) ||
        need_int(c, "linear_num_key_heads", &h->lin_nk) ||
        need_int(c, "linear_num_value_heads", &h->lin_nv))
        return -1;
    if (h->lin_nv % h->lin_nk)
        return tn_set_error("%s/config.json: linear_num_value_heads %" PRId64
                            " is not a multiple of linear_num_key_heads %" PRId64,
                            c->dir, h->lin_nv, h->lin_nk);
    if (!h->has_head_dim) return conv_missing(c, "head_dim");
    /* the layer pattern: every full_attention_interval-th layer is full attention */
    if (!tn_json_get_int(c->config, "full_attention_interval", &h->full_attn_interval)) {
        const tn_json *lt = tn_json_get(c->config, "layer_types");
        h->full_attn_interval = 4; /* transformers' default */
        if (lt && lt->type == TN_JSON_ARRAY) {
            int64_t first = -1;
            for (size_t i = 0; i < lt->n && first < 0; i++)
                if (lt->items[i]->type == TN_JSON_STRING &&
                    !strcmp(lt->items[i]->str, "full_attention"))
                    first = (int64_t)i;
            if (first >= 0) h->full_attn_interval = first + 1;
            for (size_t i = 0; i < lt->n; i++) {
                bool full = lt->items[i]->type == TN_JSON_STRING &&
                            !strcmp(lt->items[i]->str, "full_attention");
                if (full != ((int64_t)(i + 1) % h->full_attn_interval == 0))
                    return tn_set_error("%s/config.json: layer_types is not periodic (layer %zu); "
                                        "GGUF qwen35 stores only full_attention_interval",
                                        c->dir, i);
            }
        }
    }
    if (h->full_attn_interval <= 0) return conv_missing(c, "full_attention_interval");
    const tn_json *r = rope_obj(c);
    double partial = 0.25; /* Qwen3.5's default */
    if (!tn_json_get_num(r, "partial_rotary_factor", &partial))
        tn_json_get_num(c->config, "partial_rotary_factor", &partial);
    h->rope_dims = (int64_t)(h->head_dim * partial);
    /* Multimodal rope sections (pairs per axis). Without mrope_section in config.json llama.cpp
     * wrote [3, 3, 2, 0] for tiny-qwen35's 8 rotary pairs; Qwen3.5's published [11, 11, 10] for 32
     * pairs splits the same way: ceil(n/3), ceil(n/3), the rest. */
    const tn_json *ms = r ? tn_json_get(r, "mrope_section") : NULL;
    memset(h->rope_sections, 0, sizeof h->rope_sections);
    if (ms && ms->type == TN_JSON_ARRAY && ms->n <= 4) {
        for (size_t i = 0; i < ms->n; i++) {
            if (ms->items[i]->type != TN_JSON_NUMBER || !ms->items[i]->is_int)
                return conv_missing(c, "rope_parameters.mrope_section");
            h->rope_sections[i] = (int32_t)ms->items[i]->i;
        }
    } else {
        int32_t n = (int32_t)(h->rope_dims / 2), a = (n + 2) / 3;
        h->rope_sections[0] = a;
        h->rope_sections[1] = a;
        h->rope_sections[2] = n - 2 * a;
    }
    return 0;
}

int conv_read_hparams(conv *c) {
    conv_hparams *h = &c->hp;
    memset(h, 0, sizeof *h);
    if (need_int(c, "num_hidden_layers", &h->n_layer) ||
        need_int(c, "hidden_size", &h->n_embd) ||
        need_int(c, "intermediate_size", &h->n_ff) ||
        need_int(c, "num_attention_heads", &h->n_head) ||
        need_int(c, "max_position_embeddings", &h->n_ctx))
        return -1;
    h->n_head_kv = h->n_head;
    if (tn_json_get(c->config, "num_key_value_heads") &&
        need_int(c, "num_key_value_heads", &h->n_head_kv))
        return -1;
    if (!tn_json_get_num(c->config, "rms_norm_eps", &h->rms_eps) || !(h->rms_eps > 0))
        return conv_missing(c, "rms_norm_eps");
    h->has_head_dim = tn_json_get_int(c->config, "head_dim", &h->head_dim) && h->head_dim > 0;
    if (!h->has_head_dim) {
        if (h->n_embd % h->n_head)
            return tn_set_error("%s/config.json: hidden_size %" PRId64
                                " is not a multiple of num_attention_heads %" PRId64,
                                c->dir, h->n_embd, h->n_head);
        h->head_dim = h->n_embd / h->n_head;
    }
    if (h->n_head % h->n_head_kv)
        return tn_set_error("%s/config.json: num_attention_heads %" PRId64
                            " is not a multiple of num_key_value_heads %" PRId64,
                            c->dir, h->n_head, h->n_head_kv);
    h->has_vocab_size = tn_json_get_int(c->config, "vocab_size", &h->vocab_size) &&
                        h->vocab_size > 0;
    const tn_json *r = rope_obj(c);
    h->has_rope_theta = tn_json_get_num(r, "rope_theta", &h->rope_theta) ||
                        tn_json_get_num(c->config, "rope_theta", &h->rope_theta);
    h->rope_type = "default";
    if (r) {
        const char *t = tn_json_get_str(r, "rope_type");
        if (!t) t = tn_json_get_str(r, "type");
        if (t) h->rope_type = t;
    }
    if (!strcmp(h->rope_type, "linear")) {
        if (!tn_json_get_num(r, "factor", &h->rope_factor) || !(h->rope_factor > 0))
            return conv_missing(c, "rope_scaling.factor");
    } else if (strcmp(h->rope_type, "default") != 0) {
        return tn_set_error("%s/config.json: rope scaling type '%s' is not supported by tern "
                            "convert (supported: default, linear)",
                            c->dir, h->rope_type);
    }
    if (c->arch->kind == ARCH_QWEN35) return read_qwen35(c);
    return 0;
}

/* ---- tensors ---- */

/* The GGUF name of a per-layer HF tensor (the part after "model.layers.N."), its transform and
 * transform argument. NULL if the architecture has no such tensor. */
static const char *map_layer(const conv *c, const char *n, conv_xform *xf, int64_t *xa,
                             int64_t *xoff) {
    static const struct {
        const char *hf, *gguf;
    } common[] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.bias", "attn_output.bias"},
        {"self_attn.q_norm.weight", "attn_q_norm.weight"},
        {"self_attn.k_norm.weight", "attn_k_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    static const struct {
        const char *hf, *gguf;
        conv_xform xf;
    } qwen35[] = {
        {"post_attention_layernorm.weight", "post_attention_norm.weight", XF_PLUS_ONE},
        {"linear_attn.A_log", "ssm_a", XF_NEG_EXP},
        {"linear_attn.dt_bias", "ssm_dt.bias", XF_VHEAD_ROWS},
        {"linear_attn.conv1d.weight", "ssm_conv1d.weight", XF_VHEAD_ROWS},
        {"linear_attn.in_proj_a.weight", "ssm_alpha.weight", XF_VHEAD_ROWS},
        {"linear_attn.in_proj_b.weight", "ssm_beta.weight", XF_VHEAD_ROWS},
        {"linear_attn.in_proj_qkv.weight", "attn_qkv.weight", XF_VHEAD_ROWS},
        {"linear_attn.in_proj_z.weight", "attn_gate.weight", XF_VHEAD_ROWS},
        {"linear_attn.norm.weight", "ssm_norm.weight", XF_NONE},
        {"linear_attn.out_proj.weight", "ssm_out.weight", XF_VHEAD_COLS},
    };
    const conv_hparams *h = &c->hp;
    *xf = XF_NONE;
    *xa = 0;
    *xoff = 0;
    if (c->arch->kind == ARCH_QWEN35) {
        for (size_t i = 0; i < sizeof qwen35 / sizeof qwen35[0]; i++) {
            if (strcmp(n, qwen35[i].hf)) continue;
            *xf = qwen35[i].xf;
            bool per_row = strstr(n, "proj_a") || strstr(n, "proj_b") || strstr(n, "dt_bias") ||
                           strstr(n, "A_log");
            *xa = per_row ? 1 : h->lin_vd;
            if (strstr(n, "qkv") || strstr(n, "conv1d")) *xoff = 2 * h->lin_nk * h->lin_kd;
            return qwen35[i].gguf;
        }
    } else if (!strcmp(n, "post_attention_layernorm.weight")) {
        return "ffn_norm.weight";
    }
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) {
        if (strcmp(n, common[i].hf)) continue;
        if (c->arch->kind == ARCH_LLAMA && !strncmp(n, "self_attn.q_proj.", 17)) {
            *xf = XF_PERMUTE_QK;
            *xa = h->n_head;
        } else if (c->arch->kind == ARCH_LLAMA && !strncmp(n, "self_attn.k_proj.", 17)) {
            *xf = XF_PERMUTE_QK;
            *xa = h->n_head_kv;
        } else if (c->arch->kind == ARCH_QWEN35 && strstr(n, "norm.weight")) {
            *xf = XF_PLUS_ONE;
        }
        return common[i].gguf;
    }
    return NULL;
}

/* Fills t->name/xf from the HF name; 1 if the tensor is deliberately dropped. */
static int map_name(const conv *c, const char *hf, conv_tensor *t) {
    const char *n = hf, *g = NULL;
    if (strstr(hf, "rotary_emb.inv_freq")) return 1; /* recomputed by the runtime */
    if (!strncmp(n, "model.", 6)) n += 6;
    if (!strcmp(n, "embed_tokens.weight")) {
        g = "token_embd.weight";
    } else if (!strcmp(n, "norm.weight")) {
        g = "output_norm.weight";
        if (c->arch->kind == ARCH_QWEN35) t->xf = XF_PLUS_ONE;
    } else if (!strcmp(hf, "lm_head.weight")) {
        g = "output.weight";
    } else if (!strncmp(n, "layers.", 7)) {
        char *end;
        long il = strtol(n + 7, &end, 10);
        if (end == n + 7 || *end != '.' || il < 0 || il >= c->hp.n_layer)
            return tn_set_error("%s: tensor '%s': layer index outside 0..%" PRId64, c->dir, hf,
                                c->hp.n_layer - 1);
        const char *gl = map_layer(c, end + 1, &t->xf, &t->xa, &t->xoff);
        if (gl) {
            snprintf(t->name, sizeof t->name, "blk.%ld.%s", il, gl);
            return 0;
        }
    }
    if (!g)
        return tn_set_error("%s: tensor '%s' has no GGUF name for %s (unexpected tensor for "
                            "this architecture)",
                            c->dir, hf, c->arch->hf_name);
    snprintf(t->name, sizeof t->name, "%s", g);
    return 0;
}

/* llama.cpp keeps these in f32 whatever the output type: 1-D tensors, norms, conv kernels and
 * anything not named *.weight. */
static int pick_type(const conv *c, const conv_tensor *t) {
    size_t len = strlen(t->name);
    bool keep_f32 = t->n_dims <= 1 || (len >= 12 && !strcmp(t->name + len - 12, "_norm.weight")) ||
                    (len < 7 || strcmp(t->name + len - 7, ".weight") != 0) ||
                    strstr(t->name, "ssm_conv1d");
    if (keep_f32 || c->outtype == TN_TYPE_F32) return TN_TYPE_F32;
    /* llama.cpp falls back to f16 where a row is not a whole number of q8_0 blocks */
    if (c->outtype == TN_TYPE_Q8_0 && t->ne[0] % 32) return TN_TYPE_F16;
    return c->outtype;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const tn_st_tensor *const *)a)->name, (*(const tn_st_tensor *const *)b)->name);
}

int conv_plan_tensors(conv *c) {
    int64_t n = tn_st_n_tensors(c->st);
    const tn_st_tensor **order = malloc((size_t)(n ? n : 1) * sizeof *order);
    c->tensors = calloc((size_t)(n ? n : 1), sizeof *c->tensors);
    if (!order || !c->tensors) {
        free(order);
        return tn_set_error("convert: out of memory");
    }
    /* llama.cpp goes shard by shard (sorted file names, as the index reader opens them) and
     * within a shard by tensor name */
    for (int64_t i = 0; i < n; i++) order[i] = tn_st_tensor_at(c->st, i);
    for (int64_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && order[j]->file == order[i]->file;) j++;
        qsort(order + i, (size_t)(j - i), sizeof *order, cmp_tensor_name);
    }
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        const tn_st_tensor *s = order[i];
        conv_tensor *t = &c->tensors[c->n_tensors];
        memset(t, 0, sizeof *t);
        t->src = s;
        int m = map_name(c, s->name, t);
        if (m < 0) {
            rc = -1;
            break;
        }
        if (m > 0) continue;
        if (s->dtype != TN_ST_F32 && s->dtype != TN_ST_F16 && s->dtype != TN_ST_BF16 &&
            s->dtype != TN_ST_F64) {
            rc = tn_set_error("%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 weights "
                              "can be converted",
                              s->file, s->name, tn_st_dtype_name(s->dtype));
            break;
        }
        /* ggml's order of dimensions is the reverse of torch's; the conv kernel's middle
         * dimension of 1 is dropped as llama.cpp does */
        int64_t shape[TN_ST_MAX_DIMS];
        int nd = 0;
        for (int d = 0; d < s->n_dims; d++)
            if (!(t->xf == XF_VHEAD_ROWS && strstr(t->name, "ssm_conv1d") && d == 1 &&
                  s->shape[d] == 1))
                shape[nd++] = s->shape[d];
        if (nd > 4) {
            rc = tn_set_error("%s: tensor '%s' has %d dimensions, GGUF allows 4", s->file,
                              s->name, nd);
            break;
        }
        t->n_dims = nd ? nd : 1;
        for (int d = 0; d < 4; d++) t->ne[d] = d < nd ? shape[nd - 1 - d] : 1;
        /* the transforms work on rows (ne[1] of them, ne[0] long): check they divide evenly */
        int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        if (t->n_dims == 1) rows = t->ne[0];
        const conv_hparams *h = &c->hp;
        bool bad = false;
        if (t->xf == XF_PERMUTE_QK) bad = rows != t->xa * h->head_dim || h->head_dim % 2;
        if (t->xf == XF_VHEAD_ROWS || t->xf == XF_NEG_EXP)
            bad = rows != t->xoff + h->lin_nv * (t->xa ? t->xa : 1);
        if (t->xf == XF_VHEAD_COLS) bad = t->ne[0] != h->lin_nv * t->xa;
        if (bad) {
            rc = tn_set_error("%s: tensor '%s' has a shape that does not match config.json's "
                              "head counts",
                              s->file, s->name);
            break;
        }
        t->type = pick_type(c, t);
        c->n_tensors++;
    }
    free(order);
    if (rc == 0 && c->n_tensors == 0)
        rc = tn_set_error("%s: the checkpoint has no tensors", c->dir);
    if (rc == 0) {
        bool embd = false;
        for (int64_t i = 0; i < c->n_tensors; i++)
            embd |= !strcmp(c->tensors[i].name, "token_embd.weight");
        if (!embd) rc = tn_set_error("%s: no model.embed_tokens.weight in the checkpoint", c->dir);
    }
    return rc;
}

/* ---- metadata ---- */

static int set_u32(conv *c, const char *key, int64_t v) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", c->arch->gguf_name, key);
    if (v < 0 || v > UINT32_MAX) return tn_set_error("convert: %s = %" PRId64 " out of range", full, v);
    return tn_gguf_writer_set_u32(c->w, full, (uint32_t)v);
}

static int set_f32(conv *c, const char *key, double v) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", c->arch->gguf_name, key);
    return tn_gguf_writer_set_f32(c->w, full, (float)v);
}

int conv_write_arch_kv(conv *c, int file_type) {
    const conv_hparams *h = &c->hp;
    if (set_u32(c, "block_count", h->n_layer) || set_u32(c, "context_length", h->n_ctx) ||
        set_u32(c, "embedding_length", h->n_embd) || set_u32(c, "feed_forward_length", h->n_ff) ||
        set_u32(c, "attention.head_count", h->n_head) ||
        set_u32(c, "attention.head_count_kv", h->n_head_kv))
        return -1;
    if (h->has_rope_theta && set_f32(c, "rope.freq_base", h->rope_theta)) return -1;
    if (set_f32(c, "attention.layer_norm_rms_epsilon", h->rms_eps)) return -1;
    if (h->has_head_dim && (set_u32(c, "attention.key_length", h->head_dim) ||
                            set_u32(c, "attention.value_length", h->head_dim)))
        return -1;
    if (tn_gguf_writer_set_u32(c->w, "general.file_type", (uint32_t)file_type)) return -1;
    if (!strcmp(h->rope_type, "linear")) {
        char key[128];
        snprintf(key, sizeof key, "%s.rope.scaling.type", c->arch->gguf_name);
        if (tn_gguf_writer_set_str(c->w, key, "linear") ||
            set_f32(c, "rope.scaling.factor", h->rope_factor))
            return -1;
    }
    if (c->arch->kind == ARCH_LLAMA) {
        if (h->has_vocab_size && set_u32(c, "vocab_size", h->vocab_size)) return -1;
        return set_u32(c, "rope.dimension_count", h->head_dim);
    }
    if (c->arch->kind == ARCH_QWEN35)
        return set_u32(c, "ssm.conv_kernel", h->conv_kernel) ||
               set_u32(c, "ssm.state_size", h->lin_kd) ||
               set_u32(c, "ssm.group_count", h->lin_nk) ||
               set_u32(c, "ssm.time_step_rank", h->lin_nv) ||
               set_u32(c, "ssm.inner_size", h->lin_vd * h->lin_nv) ||
               set_u32(c, "full_attention_interval", h->full_attn_interval) ||
               set_u32(c, "rope.dimension_count", h->rope_dims)
                   ? -1
                   : 0;
    return 0;
}

int conv_write_arch_kv_late(conv *c) {
    if (c->arch->kind != ARCH_QWEN35) return 0;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.dimension_sections", c->arch->gguf_name);
    return tn_gguf_writer_set_arr(c->w, key, TN_GGUF_I32, c->hp.rope_sections, 4);
}
