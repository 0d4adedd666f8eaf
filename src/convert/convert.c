/* Converter driver (see convert.h): reads and checks every input (config.json, tokenizer files,
 * safetensors headers) before the first byte is written, then streams tensors one at a time into
 * the GGUF writer, which writes OUT.tmp and renames it at the end. Tensor data is converted to
 * f32, rearranged as the architecture needs (convert_arch.c) and encoded to the output type with
 * the same rounding as llama.cpp's gguf-py (round-to-nearest-even for f16/bf16, ggml's reference
 * q8_0). */
#include "convert/convert.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/convert_internal.h"
#include "core/error.h"
#include "core/half.h"
#include "formats/types.h"

const char *tn_convert_supported(void) { return conv_arch_list(); }

/* A file that may be absent: 0 with *doc NULL if it is, -1 if it is there but unreadable. */
static int parse_optional(const char *dir, const char *name, tn_json_doc **doc) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *doc = NULL;
    if (access(path, F_OK) != 0) return 0;
    return (*doc = tn_json_parse_file(path)) ? 0 : -1;
}

/* ---- tensor data ---- */

static void load_f32(const tn_st_tensor *s, float *dst) {
    const uint8_t *p = s->data;
    for (int64_t i = 0; i < s->n_elements; i++) {
        switch (s->dtype) {
        case TN_ST_F32: memcpy(&dst[i], p + 4 * i, 4); break;
        case TN_ST_F64: {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
            break;
        }
        default: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = s->dtype == TN_ST_F16 ? tn_fp16_to_fp32(h) : tn_bf16_to_fp32(h);
        }
        }
    }
}

/* Value head p of the tiled GGUF order comes from head (p % n_k) * (n_v / n_k) + p / n_k of the
 * grouped HF order. */
static int64_t vhead_src(const conv_hparams *h, int64_t p) {
    return (p % h->lin_nk) * (h->lin_nv / h->lin_nk) + p / h->lin_nk;
}

static void transform(const conv *c, const conv_tensor *t, const float *a, float *b, int64_t n) {
    int64_t cols = t->n_dims == 1 ? 1 : t->ne[0], rows = n / cols;
    switch (t->xf) {
    case XF_NONE: memcpy(b, a, (size_t)n * sizeof *b); break;
    case XF_PLUS_ONE:
        for (int64_t i = 0; i < n; i++) b[i] = a[i] + 1.0f;
        break;
    case XF_NEG_EXP:
        for (int64_t p = 0; p < n; p++) b[p] = (float)-exp((double)a[vhead_src(&c->hp, p)]);
        break;
    case XF_PERMUTE_QK: { /* out row h*hd + 2j + i <- in row h*hd + i*hd/2 + j */
        int64_t hd = rows / t->xa, half = hd / 2;
        for (int64_t r = 0; r < rows; r++) {
            int64_t h = r / hd, k = r % hd, src = h * hd + (k % 2) * half + k / 2;
            memcpy(b + r * cols, a + src * cols, (size_t)cols * sizeof *b);
        }
        break;
    }
    case XF_VHEAD_ROWS:
        for (int64_t r = 0; r < rows; r++) {
            int64_t src = r;
            if (r >= t->xoff) {
                int64_t q = r - t->xoff;
                src = t->xoff + vhead_src(&c->hp, q / t->xa) * t->xa + q % t->xa;
            }
            memcpy(b + r * cols, a + src * cols, (size_t)cols * sizeof *b);
        }
        break;
    case XF_VHEAD_COLS:
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < cols; k++)
                b[r * cols + k] = a[r * cols + vhead_src(&c->hp, k / t->xa) * t->xa + k % t->xa];
        break;
    }
}

static int fill(void *user, size_t index, void *dst, size_t nbytes) {
    const conv *c = user;
    const conv_tensor *t = &c->tensors[index];
    const tn_st_tensor *s = t->src;
    bool same = (s->dtype == TN_ST_BF16 && t->type == TN_TYPE_BF16) ||
                (s->dtype == TN_ST_F16 && t->type == TN_TYPE_F16) ||
                (s->dtype == TN_ST_F32 && t->type == TN_TYPE_F32);
    if (t->xf == XF_NONE && same) { /* the common case: a straight copy */
        memcpy(dst, s->data, nbytes);
        return 0;
    }
    int64_t n = s->n_elements;
    float *a = malloc((size_t)(n ? n : 1) * sizeof *a), *b = malloc((size_t)(n ? n : 1) * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return tn_set_error("convert: out of memory for tensor '%s'", t->name);
    }
    load_f32(s, a);
    transform(c, t, a, b, n);
    int rc = 0;
    if (t->type == TN_TYPE_F32) {
        memcpy(dst, b, (size_t)n * 4);
    } else if (t->type == TN_TYPE_F16 || t->type == TN_TYPE_BF16) {
        uint16_t *o = dst;
        for (int64_t i = 0; i < n; i++)
            o[i] = t->type == TN_TYPE_F16 ? tn_fp32_to_fp16(b[i]) : tn_fp32_to_bf16(b[i]);
    } else {
        size_t rs = tn_row_size(t->type, t->ne[0]);
        for (int64_t r = 0; r < n / t->ne[0] && rc == 0; r++)
            rc = tn_quantize_row(t->type, b + r * t->ne[0], (uint8_t *)dst + r * rs, t->ne[0]);
    }
    free(a);
    free(b);
    return rc;
}

/* ---- general.* ---- */

/* general.name as llama.cpp derives it: the checkpoint folder's name in Python's str.title()
 * (a checkpoint kept in a folder called "hf" is named after the folder above it). */
static void model_name(const char *dir, char *out, size_t cap) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    char *slash = strrchr(buf, '/');
    const char *s = slash ? slash + 1 : buf;
    if (!strcmp(s, "hf") && slash && slash != buf) {
        *slash = 0;
        slash = strrchr(buf, '/');
        s = slash ? slash + 1 : buf;
    }
    size_t o = 0;
    bool prev_cased = false;
    for (; *s && o + 1 < cap; s++) {
        char ch = *s == '-' || *s == '_' ? ' ' : *s;
        bool lower = ch >= 'a' && ch <= 'z', upper = ch >= 'A' && ch <= 'Z';
        if (lower && !prev_cased) ch = (char)(ch - 32);
        if (upper && prev_cased) ch = (char)(ch + 32);
        prev_cased = lower || upper;
        out[o++] = ch;
    }
    out[o] = 0;
}

/* llama.cpp's size label: the parameter count with at least two significant digits. */
static void size_label(uint64_t params, char *out, size_t cap) {
    double x = (double)params;
    const char *suffix = "K";
    if (x > 1e12) x *= 1e-12, suffix = "T";
    else if (x > 1e9) x *= 1e-9, suffix = "B";
    else if (x > 1e6) x *= 1e-6, suffix = "M";
    else x *= 1e-3;
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", nearbyint(x));
    int nd = (int)strlen(digits[0] == '0' ? "" : digits);
    int fix = 2 - nd > 0 ? 2 - nd : 0;
    snprintf(out, cap, "%.*f%s", fix, x, suffix);
}

static int file_type_of(int outtype) {
    switch (outtype) {
    case TN_TYPE_F32: return 0;
    case TN_TYPE_F16: return 1;
    case TN_TYPE_Q8_0: return 7;
    default: return 32; /* bf16 */
    }
}

static int run(conv *c, const tn_convert_params *p) {
    const char *dir = p->hf_dir;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!(c->config_doc = tn_json_parse_file(path))) return -1;
    c->config = tn_json_root(c->config_doc);
    const tn_json *archs = tn_json_get(c->config, "architectures");
    if (!archs || archs->type != TN_JSON_ARRAY || archs->n == 0 ||
        archs->items[0]->type != TN_JSON_STRING)
        return tn_set_error("%s: no \"architectures\" list naming the model class", path);
    if (!(c->arch = conv_arch_find(archs->items[0]->str)))
        return tn_set_error("%s: architecture '%s' is not supported by tern convert (supported: "
                            "%s)",
                            path, archs->items[0]->str, conv_arch_list());
    if (conv_read_hparams(c)) return -1;
    if (parse_optional(dir, "tokenizer_config.json", &c->tok_config_doc) ||
        parse_optional(dir, "tokenizer.json", &c->tok_json_doc))
        return -1;
    c->tok_config = c->tok_config_doc ? tn_json_root(c->tok_config_doc) : NULL;
    c->tok_json = c->tok_json_doc ? tn_json_root(c->tok_json_doc) : NULL;
    if (!(c->st = tn_st_open_dir(dir))) return -1;
    c->outtype = p->outtype;
    if (c->outtype == TN_CONVERT_AUTO) {
        c->outtype = TN_TYPE_F16;
        for (int64_t i = 0; i < tn_st_n_tensors(c->st); i++)
            if (tn_st_tensor_at(c->st, i)->dtype == TN_ST_BF16) c->outtype = TN_TYPE_BF16;
    }
    if (conv_plan_tensors(c)) return -1;

    if (!(c->w = tn_gguf_writer_new())) return -1;
    uint64_t params = 0;
    for (int64_t i = 0; i < c->n_tensors; i++)
        params += (uint64_t)(c->tensors[i].ne[0] * c->tensors[i].ne[1] * c->tensors[i].ne[2] *
                             c->tensors[i].ne[3]);
    char name[256], label[32];
    if (p->name) snprintf(name, sizeof name, "%s", p->name);
    else model_name(dir, name, sizeof name);
    size_label(params, label, sizeof label);
    if (tn_gguf_writer_set_str(c->w, "general.architecture", c->arch->gguf_name) ||
        tn_gguf_writer_set_str(c->w, "general.type", "model") ||
        tn_gguf_writer_set_str(c->w, "general.name", name) ||
        tn_gguf_writer_set_str(c->w, "general.size_label", label) ||
        conv_write_arch_kv(c, file_type_of(c->outtype)) ||
        tn_gguf_writer_set_u32(c->w, "general.quantization_version", 2) || conv_write_vocab(c) ||
        conv_write_arch_kv_late(c))
        return -1;
    for (int64_t i = 0; i < c->n_tensors; i++) {
        const conv_tensor *t = &c->tensors[i];
        size_t nbytes = tn_row_size(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        if (tn_gguf_writer_add_tensor_fill(c->w, t->name, t->type, t->n_dims, t->ne, nbytes, fill,
                                           c))
            return -1;
    }
    return tn_gguf_writer_write(c->w, p->out_path, p->progress, p->user);
}

int tn_convert(const tn_convert_params *p) {
    if (!p || !p->hf_dir || !p->out_path) return tn_set_error("convert: missing input or output");
    if (p->outtype != TN_CONVERT_AUTO && p->outtype != TN_TYPE_F32 && p->outtype != TN_TYPE_F16 &&
        p->outtype != TN_TYPE_BF16 && p->outtype != TN_TYPE_Q8_0)
        return tn_set_error("convert: output type %s is not one of f32, f16, bf16, q8_0",
                            tn_type_name(p->outtype));
    if (!p->overwrite && access(p->out_path, F_OK) == 0)
        return tn_set_error("%s already exists (use --force to replace it)", p->out_path);
    conv c = {.dir = p->hf_dir};
    int rc = run(&c, p);
    tn_gguf_writer_free(c.w);
    free(c.tensors);
    tn_st_close(c.st);
    tn_json_free(c.config_doc);
    tn_json_free(c.tok_config_doc);
    tn_json_free(c.tok_json_doc);
    return rc;
}
