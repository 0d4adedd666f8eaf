/* K-quants (Q2_K..Q6_K, 256-element super-blocks) and the Q8_K activation format:
 * dequantization, the Q8_K quantizer and the portable dot products against Q8_K.
 * The K-quant quantizers live in quant_k_quantize.c.
 *
 * Dequantization goes through unpack helpers that turn one super-block's packed bits into one
 * small integer per element (in element order), which keeps each bit layout readable in one place;
 * the dot products, which are the hot path on CPUs without a SIMD kernel, read the packed bytes
 * directly. */
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

/* ---- portable dot products against Q8_K ----
 * Written as fixed-length loops over the packed bytes in their storage order (no unpacking into a
 * temporary), so compilers can vectorize them on any target. */

void tn_dot_q2_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q2_K *x = w;
    const tn_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const int8_t *q8 = y[i].qs;
        int32_t isum = 0, summs = 0;
        for (int c = 0; c < 2; c++) {
            const uint8_t *q = x[i].qs + 32 * c;
            for (int k = 0; k < 4; k++, q8 += 32) {
                int32_t s0 = 0, s1 = 0;
                for (int l = 0; l < 16; l++) {
                    s0 += ((q[l] >> (2 * k)) & 3) * q8[l];
                    s1 += ((q[l + 16] >> (2 * k)) & 3) * q8[l + 16];
                }
                const uint8_t sc0 = x[i].scales[8 * c + 2 * k], sc1 = x[i].scales[8 * c + 2 * k + 1];
                isum += (sc0 & 0xF) * s0 + (sc1 & 0xF) * s1;
            }
        }
        for (int j = 0; j < 16; j++) summs += (x[i].scales[j] >> 4) * y[i].bsums[j];
        const float dall = y[i].d * tn_fp16_to_fp32(x[i].d);
        const float dmin = y[i].d * tn_fp16_to_fp32(x[i].dmin);
        sum += dall * isum - dmin * summs;
    }
    *s = sum;
}

void tn_dot_q3_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q3_K *x = w;
    const tn_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int8_t sc[16];
        tn_q3_K_scales(x[i].scales, sc);
        const int8_t *q8 = y[i].qs;
        const uint8_t *hm = x[i].hmask;
        int32_t isum = 0;
        for (int c = 0; c < 2; c++) {
            const uint8_t *q = x[i].qs + 32 * c;
            for (int k = 0; k < 4; k++, q8 += 32) {
                const int bit = 4 * c + k;
                int32_t s0 = 0, s1 = 0;
                for (int l = 0; l < 16; l++) {
                    s0 += (((q[l] >> (2 * k)) & 3) - (((hm[l] >> bit) & 1) ? 0 : 4)) * q8[l];
                    s1 += (((q[l + 16] >> (2 * k)) & 3) - (((hm[l + 16] >> bit) & 1) ? 0 : 4)) * q8[l + 16];
                }
                isum += sc[8 * c + 2 * k] * s0 + sc[8 * c + 2 * k + 1] * s1;
            }
        }
        sum += y[i].d * tn_fp16_to_fp32(x[i].d) * isum;
    }
    *s = sum;
}

/* Q4_K and Q5_K: per 64 elements 32 bytes of nibbles (low: sub-block 2j, high: 2j+1); Q5_K's
 * fifth bits are bits 2j and 2j+1 of qh[l]. qh == NULL for Q4_K. */
static float dot_q45_K_block(const uint8_t *qs, const uint8_t *qh, const uint8_t *scales, uint16_t d16,
                             uint16_t dmin16, const tn_block_q8_K *y) {
    const int8_t *q8 = y->qs;
    int32_t isum = 0, summs = 0;
    for (int j = 0; j < 4; j++, qs += 32, q8 += 64) {
        int32_t s0 = 0, s1 = 0;
        if (qh) {
            for (int l = 0; l < 32; l++) {
                s0 += ((qs[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4)) * q8[l];
                s1 += ((qs[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4)) * q8[l + 32];
            }
        } else {
            for (int l = 0; l < 32; l++) {
                s0 += (qs[l] & 0xF) * q8[l];
                s1 += (qs[l] >> 4) * q8[l + 32];
            }
        }
        uint8_t sc0, m0, sc1, m1;
        tn_scale_min_k4(2 * j, scales, &sc0, &m0);
        tn_scale_min_k4(2 * j + 1, scales, &sc1, &m1);
        isum += sc0 * s0 + sc1 * s1;
        summs += m0 * (y->bsums[4 * j] + y->bsums[4 * j + 1]) + m1 * (y->bsums[4 * j + 2] + y->bsums[4 * j + 3]);
    }
    return y->d * tn_fp16_to_fp32(d16) * isum - y->d * tn_fp16_to_fp32(dmin16) * summs;
}

void tn_dot_q4_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q4_K *x = w;
    const tn_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) sum += dot_q45_K_block(x[i].qs, NULL, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    *s = sum;
}

void tn_dot_q5_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q5_K *x = w;
    const tn_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++)
        sum += dot_q45_K_block(x[i].qs, x[i].qh, x[i].scales, x[i].d, x[i].dmin, &y[i]);
    *s = sum;
}

void tn_dot_q6_K_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q6_K *x = w;
    const tn_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int32_t isum = 0;
        for (int c = 0; c < 2; c++) {
            const uint8_t *ql = x[i].ql + 64 * c, *qh = x[i].qh + 32 * c;
            const int8_t *q8 = y[i].qs + 128 * c, *sc = x[i].scales + 8 * c;
            for (int h = 0; h < 2; h++) { /* the 16-element halves of each 32-element group */
                int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (int l = 16 * h; l < 16 * h + 16; l++) {
                    s0 += (((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32) * q8[l];
                    s1 += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * q8[l + 32];
                    s2 += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * q8[l + 64];
                    s3 += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * q8[l + 96];
                }
                isum += sc[h] * s0 + sc[h + 2] * s1 + sc[h + 4] * s2 + sc[h + 6] * s3;
            }
        }
        sum += y[i].d * tn_fp16_to_fp32(x[i].d) * isum;
    }
    *s = sum;
}
