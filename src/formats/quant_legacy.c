/* The 32-element "legacy" formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the activation format Q8_1:
 * dequantization, llama.cpp's reference quantizers (byte-identical output: same float expressions,
 * same rounding, same fp16 conversion) and the portable dot products against Q8_0 / Q8_1. */
#include "core/half.h"
#include "formats/quant_blocks.h"
#include "formats/quant_kernels.h"

#include <float.h>
#include <math.h>

/* ---- dequantization ---- */

void tn_dequant_q4_0(const void *src, float *dst, int64_t n) {
    const tn_block_q4_0 *x = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = tn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = ((x[i].qs[j] & 0xF) - 8) * d;
            dst[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void tn_dequant_q4_1(const void *src, float *dst, int64_t n) {
    const tn_block_q4_1 *x = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = tn_fp16_to_fp32(x[i].d), m = tn_fp16_to_fp32(x[i].m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (x[i].qs[j] & 0xF) * d + m;
            dst[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t load_qh(const uint8_t qh[4]) {
    uint32_t v;
    memcpy(&v, qh, 4);
    return v;
}

void tn_dequant_q5_0(const void *src, float *dst, int64_t n) {
    const tn_block_q5_0 *x = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = tn_fp16_to_fp32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < 16; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            dst[j] = (((x[i].qs[j] & 0xF) | (h0 << 4)) - 16) * d;
            dst[j + 16] = (((x[i].qs[j] >> 4) | (h1 << 4)) - 16) * d;
        }
    }
}

void tn_dequant_q5_1(const void *src, float *dst, int64_t n) {
    const tn_block_q5_1 *x = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = tn_fp16_to_fp32(x[i].d), m = tn_fp16_to_fp32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < 16; j++) {
            int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            dst[j] = ((x[i].qs[j] & 0xF) | (h0 << 4)) * d + m;
            dst[j + 16] = ((x[i].qs[j] >> 4) | (h1 << 4)) * d + m;
        }
    }
}

void tn_dequant_q8_0(const void *src, float *dst, int64_t n) {
    const tn_block_q8_0 *x = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = tn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 32; j++) dst[j] = x[i].qs[j] * d;
    }
}

void tn_dequant_q8_1(const void *src, float *dst, int64_t n) {
    const tn_block_q8_1 *x = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = tn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 32; j++) dst[j] = x[i].qs[j] * d;
    }
}

/* ---- reference quantizers ---- */

/* The value of largest magnitude, with its sign (first one wins on ties). */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* The references truncate toward zero after adding a rounding offset (not round-to-nearest). */
static inline int trunc_min(float v, int hi) {
    int i = (int)v;
    return i < hi ? i : hi;
}

void tn_quant_q4_0(const float *src, void *dst, int64_t n) {
    tn_block_q4_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        const float max = signed_absmax(src, 32);
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = tn_fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            int q0 = trunc_min(src[j] * id + 8.5f, 15);
            int q1 = trunc_min(src[j + 16] * id + 8.5f, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void tn_quant_q4_1(const float *src, void *dst, int64_t n) {
    tn_block_q4_1 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float mn, mx;
        min_max(src, 32, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = tn_fp32_to_fp16(d);
        y[i].m = tn_fp32_to_fp16(mn);
        for (int j = 0; j < 16; j++) {
            int q0 = trunc_min((src[j] - mn) * id + 0.5f, 15);
            int q1 = trunc_min((src[j + 16] - mn) * id + 0.5f, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void tn_quant_q5_0(const float *src, void *dst, int64_t n) {
    tn_block_q5_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        const float max = signed_absmax(src, 32);
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = tn_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = trunc_min(src[j] * id + 16.5f, 31);
            int q1 = trunc_min(src[j + 16] * id + 16.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

void tn_quant_q5_1(const float *src, void *dst, int64_t n) {
    tn_block_q5_1 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float mn, mx;
        min_max(src, 32, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = tn_fp32_to_fp16(d);
        y[i].m = tn_fp32_to_fp16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            /* no clamp in the reference: the value can only reach 31 */
            int q0 = (uint8_t)(int)((src[j] - mn) * id + 0.5f);
            int q1 = (uint8_t)(int)((src[j + 16] - mn) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static float absmax(const float *x, int n) {
    float amax = 0;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

void tn_quant_q8_0(const float *src, void *dst, int64_t n) {
    tn_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        const float d = absmax(src, 32) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = tn_fp32_to_fp16(d);
        for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)roundf(src[j] * id);
    }
}

void tn_quant_q8_1(const float *src, void *dst, int64_t n) {
    tn_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        const float d = absmax(src, 32) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        int sum = 0;
        y[i].d = tn_fp32_to_fp16(d);
        for (int j = 0; j < 32; j++) {
            y[i].qs[j] = (int8_t)roundf(src[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = tn_fp32_to_fp16(sum * d);
    }
}

/* ---- portable dot products ---- */

void tn_dot_q4_0_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q4_0 *x = w;
    const tn_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sum += sumi * (tn_fp16_to_fp32(x[i].d) * tn_fp16_to_fp32(y[i].d));
    }
    *s = sum;
}

void tn_dot_q4_1_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q4_1 *x = w;
    const tn_block_q8_1 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sum += sumi * (tn_fp16_to_fp32(x[i].d) * tn_fp16_to_fp32(y[i].d)) +
               tn_fp16_to_fp32(x[i].m) * tn_fp16_to_fp32(y[i].s);
    }
    *s = sum;
}

void tn_dot_q5_0_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q5_0 *x = w;
    const tn_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = ((x[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
            int q1 = ((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sum += sumi * (tn_fp16_to_fp32(x[i].d) * tn_fp16_to_fp32(y[i].d));
    }
    *s = sum;
}

void tn_dot_q5_1_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q5_1 *x = w;
    const tn_block_q8_1 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (x[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            int q1 = (x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sum += sumi * (tn_fp16_to_fp32(x[i].d) * tn_fp16_to_fp32(y[i].d)) +
               tn_fp16_to_fp32(x[i].m) * tn_fp16_to_fp32(y[i].s);
    }
    *s = sum;
}

void tn_dot_q8_0_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q8_0 *x = w;
    const tn_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sum += sumi * (tn_fp16_to_fp32(x[i].d) * tn_fp16_to_fp32(y[i].d));
    }
    *s = sum;
}
