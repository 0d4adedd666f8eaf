/* KV cache type registry and row codecs (see kv.h): which types a cache may use, the bytes of a
 * cell, and encoding / decoding of one cell for every type. */
#include "kv/kv.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/half.h"
#include "formats/types.h"

typedef struct kv_type_entry {
    int type;
    const char *name;
} kv_type_entry;

/* Order is the order of tn_kv_type_names(). */
static const kv_type_entry kv_types[] = {
    {TN_TYPE_F16, "f16"},       {TN_TYPE_BF16, "bf16"},      {TN_TYPE_Q8_0, "q8_0"},
    {TN_TYPE_Q4_0, "q4_0"},     {TN_KV_TURBO2, "turbo2"},    {TN_KV_TURBO3, "turbo3"},
    {TN_KV_TURBO4, "turbo4"},   {TN_TYPE_F32, "f32"},
};
#define N_KV_TYPES (int)(sizeof kv_types / sizeof kv_types[0])

const char *tn_kv_type_name(int type) {
    for (int i = 0; i < N_KV_TYPES; i++)
        if (kv_types[i].type == type) return kv_types[i].name;
    return NULL;
}

int tn_kv_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < N_KV_TYPES; i++)
        if (strcasecmp(kv_types[i].name, name) == 0) return kv_types[i].type;
    return -1;
}

const char *tn_kv_type_names(void) { return "f16, bf16, q8_0, q4_0, turbo2, turbo3, turbo4, f32"; }

int tn_kv_turbo_bits(int type) {
    return type >= TN_KV_TURBO2 && type <= TN_KV_TURBO4 ? type - TN_KV_TURBO2 + 2 : 0;
}

int tn_kv_type_check(int type, int head_dim) {
    const char *name = tn_kv_type_name(type);
    if (!name)
        return tn_set_error("type %d (%s) cannot be a KV cache type (supported: %s)", type,
                            tn_type_name(type), tn_kv_type_names());
    if (head_dim <= 0) return tn_set_error("KV cache: bad head size %d", head_dim);
    if ((type == TN_TYPE_Q8_0 || type == TN_TYPE_Q4_0) && head_dim % 32)
        return tn_set_error("KV cache type %s needs a head size that is a multiple of 32, the model "
                            "has %d",
                            name, head_dim);
    if (tn_kv_turbo_bits(type) && !tn_turbo_n_sub(head_dim))
        return tn_set_error("KV cache type %s needs a head size that is a multiple of 16 up to %d, "
                            "the model has %d",
                            name, TN_TURBO_MAX_DIM, head_dim);
    return 0;
}

size_t tn_kv_row_size(int type, int64_t n_embd, int head_dim) {
    if (head_dim <= 0 || n_embd % head_dim || !tn_kv_type_name(type)) return 0;
    int bits = tn_kv_turbo_bits(type);
    if (!bits) return tn_row_size(type, n_embd);
    int n_sub = tn_turbo_n_sub(head_dim);
    if (!n_sub) return 0;
    return (size_t)(n_embd / head_dim) * ((size_t)head_dim * (size_t)bits / 8 + 2 * (size_t)n_sub);
}

int tn_kv_codec_init(tn_kv_codec *c, int type, int head_dim, int n_head, uint32_t seed) {
    if (tn_kv_type_check(type, head_dim)) return -1;
    c->type = type;
    c->bits = tn_kv_turbo_bits(type);
    c->head_dim = head_dim;
    c->n_head = n_head;
    c->row_bytes = tn_kv_row_size(type, (int64_t)n_head * head_dim, head_dim);
    c->head_bytes = (size_t)head_dim * (size_t)c->bits / 8;
    c->norm_off = c->head_bytes * (size_t)n_head;
    if (c->bits) tn_turbo_rot_init(&c->rot, head_dim, seed);
    return 0;
}

static void turbo_store(const tn_kv_codec *c, const float *src, uint8_t *row) {
    uint8_t idx[TN_TURBO_MAX_DIM];
    float norm[TN_TURBO_MAX_SUB];
    uint16_t *norms = (uint16_t *)(row + c->norm_off);
    for (int h = 0; h < c->n_head; h++) {
        tn_turbo_quantize_head(&c->rot, c->bits, src + (size_t)h * c->head_dim, idx, norm);
        tn_turbo_pack(c->bits, c->head_dim, idx, row + (size_t)h * c->head_bytes);
        for (int s = 0; s < c->rot.n_sub; s++)
            norms[h * c->rot.n_sub + s] = tn_fp32_to_fp16(norm[s]);
    }
}

void tn_kv_store_row(const tn_kv_codec *c, const float *src, void *row) {
    int64_t n = (int64_t)c->n_head * c->head_dim;
    if (c->bits) {
        turbo_store(c, src, row);
    } else if (c->type == TN_TYPE_F32) {
        memcpy(row, src, (size_t)n * sizeof(float));
    } else if (c->type == TN_TYPE_F16) {
        uint16_t *dst = row;
        for (int64_t i = 0; i < n; i++) dst[i] = tn_fp32_to_fp16(src[i]);
    } else { /* bf16, q8_0, q4_0: llama.cpp's reference rounding */
        tn_quantize_row(c->type, src, row, n);
    }
}

void tn_kv_dequant_row(const tn_kv_codec *c, const void *row, float *dst) {
    for (int h = 0; h < c->n_head; h++) {
        float *o = dst + (size_t)h * c->head_dim;
        tn_kv_decode_head(c, row, h, o, 1);
        if (c->bits) tn_turbo_unrotate(&c->rot, o);
    }
}

/* IEEE half to float without branches (exact for every input, subnormals included): the half's
 * exponent and mantissa are placed in a float and rebased by multiplying with 2^112. */
static inline float half_to_float(uint16_t h) {
    float f = tn_f32_from_bits((uint32_t)(h & 0x7fff) << 13) * 0x1p112f;
    uint32_t u = tn_bits_from_f32(f);
    if (f >= 65536.0f) u |= 0x7f800000u; /* inf / nan */
    return tn_f32_from_bits(u | (uint32_t)(h & 0x8000) << 16);
}

static void decode_turbo(const tn_kv_codec *c, const uint8_t *row, int h, float *out, int stride) {
    const uint8_t *q = row + (size_t)h * c->head_bytes;
    const uint16_t *norms = (const uint16_t *)(row + c->norm_off) + h * c->rot.n_sub;
    const float *cb = tn_turbo_codebook(c->bits);
    int nc = 1 << c->bits, d = c->head_dim;
    for (int s = 0; s < c->rot.n_sub; s++) {
        int o = c->rot.off[s], n = c->rot.len[s];
        float scale = half_to_float(norms[s]) / sqrtf((float)n), v[16];
        for (int k = 0; k < nc; k++) v[k] = scale * cb[k];
        if (c->bits == 4) {
            for (int i = o; i < o + n; i += 2) {
                out[i * stride] = v[q[i / 2] & 15];
                out[(i + 1) * stride] = v[q[i / 2] >> 4];
            }
        } else if (c->bits == 2) {
            for (int i = o; i < o + n; i += 4) {
                uint8_t b = q[i / 4];
                for (int j = 0; j < 4; j++) out[(i + j) * stride] = v[(b >> (2 * j)) & 3];
            }
        } else {
            const uint8_t *hi = q + d / 4;
            for (int i = o; i < o + n; i += 8) {
                uint8_t b0 = q[i / 4], b1 = q[i / 4 + 1], hb = hi[i / 8];
                for (int j = 0; j < 4; j++) {
                    out[(i + j) * stride] = v[((b0 >> (2 * j)) & 3) | ((hb >> j) & 1) << 2];
                    out[(i + 4 + j) * stride] =
                        v[((b1 >> (2 * j)) & 3) | ((hb >> (4 + j)) & 1) << 2];
                }
            }
        }
    }
}

void tn_kv_decode_head(const tn_kv_codec *c, const void *row, int h, float *out, int stride) {
    int d = c->head_dim;
    int64_t e0 = (int64_t)h * d; /* first element of the head in the row */
    switch (c->type) {
    case TN_TYPE_F32: {
        const float *x = (const float *)row + e0;
        for (int j = 0; j < d; j++) out[j * stride] = x[j];
        break;
    }
    case TN_TYPE_F16: {
        const uint16_t *x = (const uint16_t *)row + e0;
        for (int j = 0; j < d; j++) out[j * stride] = half_to_float(x[j]);
        break;
    }
    case TN_TYPE_BF16: {
        const uint16_t *x = (const uint16_t *)row + e0;
        for (int j = 0; j < d; j++) out[j * stride] = tn_bf16_to_fp32(x[j]);
        break;
    }
    case TN_TYPE_Q8_0: { /* blocks of 32: fp16 scale, 32 x int8 */
        const uint8_t *blk = (const uint8_t *)row + (size_t)(e0 / 32) * 34;
        for (int b = 0; b < d / 32; b++, blk += 34) {
            uint16_t dh;
            memcpy(&dh, blk, 2);
            float s = half_to_float(dh);
            const int8_t *qs = (const int8_t *)(blk + 2);
            for (int j = 0; j < 32; j++) out[(b * 32 + j) * stride] = s * (float)qs[j];
        }
        break;
    }
    case TN_TYPE_Q4_0: { /* blocks of 32: fp16 scale, element j / j+16 in the low / high nibble */
        const uint8_t *blk = (const uint8_t *)row + (size_t)(e0 / 32) * 18;
        for (int b = 0; b < d / 32; b++, blk += 18) {
            uint16_t dh;
            memcpy(&dh, blk, 2);
            float s = half_to_float(dh);
            const uint8_t *qs = blk + 2;
            for (int j = 0; j < 16; j++) {
                out[(b * 32 + j) * stride] = s * (float)((qs[j] & 15) - 8);
                out[(b * 32 + j + 16) * stride] = s * (float)((qs[j] >> 4) - 8);
            }
        }
        break;
    }
    default: decode_turbo(c, row, h, out, stride); break;
    }
}
