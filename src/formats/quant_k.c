/* K-quants (Q2_K..Q6_K, 256-element super-blocks) and the Q8_K activation format:
 * dequantization, the Q8_K quantizer and the portable dot products against Q8_K.
 * The K-quant quantizers live in quant_k_quantize.c.
 *
 * Each format gets an unpack helper that turns one super-block's packed bits into one small
 * integer per element (in element order); dequantization and the scalar dot product are then
 * plain loops over those, which keeps the bit layouts in one place per format. */
#include "core/half.h"
#include "formats/quant_blocks.h"
#include "formats/quant_kernels.h"

#include <math.h>

/* 2-bit values 0..3: 4 per byte; the four 32-element groups of each 128 share bytes, shifted by
 * 0, 2, 4, 6 bits. Q3_K uses the same arrangement for its low two bits. */
static void unpack_2bit(const uint8_t *qs, uint8_t q[256]) {
    for (int e = 0; e < 256; e++) q[e] = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

/* Q3_K values -4..3. */
static void unpack_q3_K(const tn_block_q3_K *x, int8_t q[256]) {
    uint8_t lo[256];
    unpack_2bit(x->qs, lo);
    for (int e = 0; e < 256; e++) q[e] = (int8_t)(lo[e] - (((x->hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4));
}

/* Q4_K values 0..15: each 64-element chunk is 32 bytes, low nibbles first. */
static void unpack_4bit_k(const uint8_t *qs, uint8_t q[256]) {
    for (int e = 0; e < 256; e++) {
        uint8_t b = qs[32 * (e / 64) + e % 32];
        q[e] = (e % 64) < 32 ? (b & 0xF) : (b >> 4);
    }
}

/* Q5_K values 0..31: Q4_K's nibbles plus bit e/32 of qh[e%32]. */
static void unpack_q5_K(const tn_block_q5_K *x, uint8_t q[256]) {
    unpack_4bit_k(x->qs, q);
    for (int e = 0; e < 256; e++) q[e] |= (uint8_t)(((x->qh[e % 32] >> (e / 32)) & 1) << 4);
}

/* Q6_K values -32..31: per 128 elements, 64 ql bytes (two nibble halves) and 32 qh bytes holding
 * the top two bits of the four 32-element groups. */
static void unpack_q6_K(const tn_block_q6_K *x, int8_t q[256]) {
    for (int e = 0; e < 256; e++) {
        int c = e / 128, g = (e % 128) / 32, l = e % 32;
        uint8_t b = x->ql[64 * c + l + 32 * (g & 1)];
        int lo = g < 2 ? (b & 0xF) : (b >> 4);
        int hi = (x->qh[32 * c + l] >> (2 * g)) & 3;
        q[e] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* ---- dequantization (same float expressions as ggml, so results are bit-identical) ---- */

void tn_dequant_q2_K(const void *src, float *dst, int64_t n) {
    const tn_block_q2_K *x = src;
    uint8_t q[256];
    for (int64_t i = 0; i < n / 256; i++, dst += 256) {
        const float d = tn_fp16_to_fp32(x[i].d), dmin = tn_fp16_to_fp32(x[i].dmin);
        unpack_2bit(x[i].qs, q);
        for (int j = 0; j < 16; j++) {
            const float dl = d * (x[i].scales[j] & 0xF), ml = dmin * (x[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * q[16 * j + l] - ml;
        }
    }
}

void tn_dequant_q3_K(const void *src, float *dst, int64_t n) {
    const tn_block_q3_K *x = src;
    int8_t q[256], sc[16];
    for (int64_t i = 0; i < n / 256; i++, dst += 256) {
        const float d = tn_fp16_to_fp32(x[i].d);
        unpack_q3_K(&x[i], q);
        tn_q3_K_scales(x[i].scales, sc);
        for (int j = 0; j < 16; j++) {
            const float dl = d * sc[j];
            for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * q[16 * j + l];
        }
    }
}

void tn_dequant_q4_K(const void *src, float *dst, int64_t n) {
    const tn_block_q4_K *x = src;
    uint8_t q[256];
    for (int64_t i = 0; i < n / 256; i++, dst += 256) {
        const float d = tn_fp16_to_fp32(x[i].d), dmin = tn_fp16_to_fp32(x[i].dmin);
        unpack_4bit_k(x[i].qs, q);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            tn_scale_min_k4(j, x[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * q[32 * j + l] - ml;
        }
    }
}

void tn_dequant_q5_K(const void *src, float *dst, int64_t n) {
    const tn_block_q5_K *x = src;
    uint8_t q[256];
    for (int64_t i = 0; i < n / 256; i++, dst += 256) {
        const float d = tn_fp16_to_fp32(x[i].d), dmin = tn_fp16_to_fp32(x[i].dmin);
        unpack_q5_K(&x[i], q);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            tn_scale_min_k4(j, x[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; l++) dst[32 * j + l] = dl * q[32 * j + l] - ml;
        }
    }
}

void tn_dequant_q6_K(const void *src, float *dst, int64_t n) {
    const tn_block_q6_K *x = src;
    int8_t q[256];
    for (int64_t i = 0; i < n / 256; i++, dst += 256) {
        const float d = tn_fp16_to_fp32(x[i].d);
        unpack_q6_K(&x[i], q);
        for (int e = 0; e < 256; e++) dst[e] = d * x[i].scales[e / 16] * q[e];
    }
}

void tn_dequant_q8_K(const void *src, float *dst, int64_t n) {
    const tn_block_q8_K *x = src;
    for (int64_t i = 0; i < n / 256; i++, dst += 256)
        for (int e = 0; e < 256; e++) dst[e] = x[i].d * x[i].qs[e];
}

/* ---- Q8_K activations (llama.cpp's reference: scale -127/max, no -128) ---- */

void tn_quant_q8_K(const float *src, void *dst, int64_t n) {
    tn_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / 256; i++, src += 256) {
        float max = 0, amax = 0;
        for (int j = 0; j < 256; j++)
            if (fabsf(src[j]) > amax) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 256; j++) {
            int v = tn_nearest_int(iscale * src[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- portable dot products against Q8_K ---- */

/* Sum of q[e]*a[e] over each group of `len` elements. */
static void group_dots_u8(const uint8_t *q, const int8_t *a, int len, int ngroups, int32_t *out) {
    for (int g = 0; g < ngroups; g++) {
        int32_t s = 0;
        for (int l = 0; l < len; l++) s += q[g * len + l] * a[g * len + l];
        out[g] = s;
    }
}

static void group_dots_i8(const int8_t *q, const int8_t *a, int len, int ngroups, int32_t *out) {
    for (int g = 0; g < ngroups; g++) {
        int32_t s = 0;
        for (int l = 0; l < len; l++) s += q[g * len + l] * a[g * len + l];
        out[g] = s;
    }
}

void tn_dot_q2_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q2_K *x = w;
    const tn_block_q8_K *y = a;
    uint8_t q[256];
    int32_t dots[16];
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        unpack_2bit(x[i].qs, q);
        group_dots_u8(q, y[i].qs, 16, 16, dots);
        int32_t isum = 0, summs = 0;
        for (int j = 0; j < 16; j++) {
            isum += (x[i].scales[j] & 0xF) * dots[j];
            summs += (x[i].scales[j] >> 4) * y[i].bsums[j];
        }
        const float dall = y[i].d * tn_fp16_to_fp32(x[i].d);
        const float dmin = y[i].d * tn_fp16_to_fp32(x[i].dmin);
        sum += dall * isum - dmin * summs;
    }
    *s = sum;
}

void tn_dot_q3_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q3_K *x = w;
    const tn_block_q8_K *y = a;
    int8_t q[256], sc[16];
    int32_t dots[16];
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        unpack_q3_K(&x[i], q);
        tn_q3_K_scales(x[i].scales, sc);
        group_dots_i8(q, y[i].qs, 16, 16, dots);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) isum += sc[j] * dots[j];
        sum += y[i].d * tn_fp16_to_fp32(x[i].d) * isum;
    }
    *s = sum;
}

/* Q4_K and Q5_K share everything but the unpacking. */
static float dot_q45_K_block(const uint8_t q[256], const uint8_t *scales, uint16_t d16, uint16_t dmin16,
                             const tn_block_q8_K *y) {
    int32_t dots[8];
    group_dots_u8(q, y->qs, 32, 8, dots);
    int32_t isum = 0, summs = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        tn_scale_min_k4(j, scales, &sc, &m);
        isum += sc * dots[j];
        summs += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return y->d * tn_fp16_to_fp32(d16) * isum - y->d * tn_fp16_to_fp32(dmin16) * summs;
}

void tn_dot_q4_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q4_K *x = w;
    const tn_block_q8_K *y = a;
    uint8_t q[256];
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        unpack_4bit_k(x[i].qs, q);
        sum += dot_q45_K_block(q, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    }
    *s = sum;
}

void tn_dot_q5_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q5_K *x = w;
    const tn_block_q8_K *y = a;
    uint8_t q[256];
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        unpack_q5_K(&x[i], q);
        sum += dot_q45_K_block(q, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    }
    *s = sum;
}

void tn_dot_q6_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q6_K *x = w;
    const tn_block_q8_K *y = a;
    int8_t q[256];
    int32_t dots[16];
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        unpack_q6_K(&x[i], q);
        group_dots_i8(q, y[i].qs, 16, 16, dots);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) isum += x[i].scales[j] * dots[j];
        sum += y[i].d * tn_fp16_to_fp32(x[i].d) * isum;
    }
    *s = sum;
}
