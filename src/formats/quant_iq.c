/* Codebook formats: IQ4_NL (32-element blocks, fp16 scale, 4-bit indices into a fixed non-linear
 * 16-value codebook), IQ4_XS (the same codebook in 256-element super-blocks with 6-bit sub-block
 * scales) and MXFP4 (OCP microscaling: E8M0 shared exponent + FP4 E2M1 values).
 * Dequantization, llama.cpp's quantizers (IQ4 with the 7-step scale search `llama-quantize` uses,
 * without an importance matrix) and the portable dot products. */
#include "core/half.h"
#include "formats/quant_blocks.h"
#include "formats/quant_kernels.h"

#include <math.h>

const int8_t tn_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};
const int8_t tn_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

#define GROUP_MAX_EPS 1e-15f

/* ---- dequantization ---- */

void tn_dequant_iq4_nl(const void *src, float *dst, int64_t n) {
    const tn_block_iq4_nl *x = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = tn_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * tn_kvalues_iq4nl[x[i].qs[j] & 0xF];
            dst[j + 16] = d * tn_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

static inline int iq4_xs_scale(const tn_block_iq4_xs *x, int ib) {
    return (((x->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((x->scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

void tn_dequant_iq4_xs(const void *src, float *dst, int64_t n) {
    const tn_block_iq4_xs *x = src;
    for (int64_t i = 0; i < n / 256; i++) {
        const float d = tn_fp16_to_fp32(x[i].d);
        for (int ib = 0; ib < 8; ib++, dst += 32) {
            const float dl = d * iq4_xs_scale(&x[i], ib);
            const uint8_t *qs = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                dst[j] = dl * tn_kvalues_iq4nl[qs[j] & 0xF];
                dst[j + 16] = dl * tn_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

void tn_dequant_mxfp4(const void *src, float *dst, int64_t n) {
    const tn_block_mxfp4 *x = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        const float d = tn_e8m0_to_f32_half(x[i].e);
        for (int j = 0; j < 16; j++) {
            dst[j] = tn_kvalues_mxfp4[x[i].qs[j] & 0xF] * d;
            dst[j + 16] = tn_kvalues_mxfp4[x[i].qs[j] >> 4] * d;
        }
    }
}

/* ---- quantization ---- */

/* Index of the codebook value nearest to x (ties go up). Comparing 2x with the sum of two
 * neighbours keeps the midpoint test exact. */
static inline int best_index_iq4(float x) {
    const int8_t *v = tn_kvalues_iq4nl;
    const float x2 = x + x;
    int idx = 0;
    for (int step = 8; step > 0; step >>= 1) {
        int j = idx + step;
        if (x2 >= (float)(v[j - 1] + v[j])) idx = j;
    }
    return idx;
}

/* One IQ4 super-block of `nsub` 32-element sub-blocks (1 for IQ4_NL, 8 for IQ4_XS). Per sub-block:
 * a first scale from the value of largest magnitude, then 15 trial scales, keeping the best
 * x^2-weighted least-squares fit; for IQ4_XS the sub-block scales are then quantized to 6 bits
 * relative to the largest one and every element re-indexed with its final scale. */
static void quant_iq4_superblock(const float *x, int nsub, uint16_t *dh, uint8_t *q4,
                                 uint16_t *scales_h, uint8_t *scales_l) {
    const int8_t *values = tn_kvalues_iq4nl;
    const int ntry = 7;
    uint8_t L[256];
    float weight[32], scales[8];
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nsub; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++) weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            memset(Lb, 0, 32);
            continue;
        }
        float d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            int l = best_index_iq4(id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = values[l], w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                float q = values[best_index_iq4(id * xb[j])], w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) {
            amax_scale = fabsf(d);
            max_scale = d;
        }
    }
    if (nsub > 1) {
        *scales_h = 0;
        float d = -max_scale / 32;
        *dh = tn_fp32_to_fp16(d);
        float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < nsub; ib++) {
            int l = tn_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            float dl = d * l;
            float idl = dl ? 1 / dl : 0.f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)best_index_iq4(idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0)
                scales_l[ib / 2] = (uint8_t)(l & 0xF);
            else
                scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4);
            *scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
    } else {
        *dh = tn_fp32_to_fp16(scales[0]);
        float id = scales[0] ? 1 / scales[0] : 0;
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)best_index_iq4(id * x[j]);
    }
    for (int i = 0; i < nsub; i++)
        for (int j = 0; j < 16; j++) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

void tn_quant_iq4_nl(const float *src, void *dst, int64_t n) {
    tn_block_iq4_nl *y = dst;
    for (int64_t i = 0; i < n / 32; i++) quant_iq4_superblock(src + 32 * i, 1, &y[i].d, y[i].qs, NULL, NULL);
}

void tn_quant_iq4_xs(const float *src, void *dst, int64_t n) {
    tn_block_iq4_xs *y = dst;
    for (int64_t i = 0; i < n / 256; i++)
        quant_iq4_superblock(src + 256 * i, 8, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l);
}

/* Nearest FP4 value to x at scale e (first one wins on ties, as the reference's linear scan). */
static int best_index_mxfp4(float x, float e) {
    int best = 0;
    float best_err = fabsf(tn_kvalues_mxfp4[0] * e - x);
    for (int i = 1; i < 16; i++) {
        float err = fabsf(tn_kvalues_mxfp4[i] * e - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

void tn_quant_mxfp4(const float *src, void *dst, int64_t n) {
    tn_block_mxfp4 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(src[j])) amax = fabsf(src[j]);
        /* shared exponent: the largest value lands in [4, 8) times 2^(e-127), FP4's top binade */
        int e = 0;
        if (amax > 0) {
            float fe = floorf(log2f(amax)) - 2 + 127;
            e = fe < 0 ? 0 : fe > 255 ? 255 : (int)fe;
        }
        const float d = tn_e8m0_to_f32_half((uint8_t)e);
        y[i].e = (uint8_t)e;
        for (int j = 0; j < 16; j++)
            y[i].qs[j] = (uint8_t)(best_index_mxfp4(src[j], d) | (best_index_mxfp4(src[j + 16], d) << 4));
    }
}

/* ---- portable dot products ---- */

void tn_dot_iq4_nl_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_iq4_nl *x = w;
    const tn_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += tn_kvalues_iq4nl[x[i].qs[j] & 0xF] * y[i].qs[j] +
                    tn_kvalues_iq4nl[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        sum += sumi * (tn_fp16_to_fp32(x[i].d) * tn_fp16_to_fp32(y[i].d));
    }
    *s = sum;
}

void tn_dot_iq4_xs_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_iq4_xs *x = w;
    const tn_block_q8_K *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int32_t isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *qs = x[i].qs + 16 * ib;
            const int8_t *q8 = y[i].qs + 32 * ib;
            int32_t sumi = 0;
            for (int j = 0; j < 16; j++)
                sumi += tn_kvalues_iq4nl[qs[j] & 0xF] * q8[j] + tn_kvalues_iq4nl[qs[j] >> 4] * q8[j + 16];
            isum += iq4_xs_scale(&x[i], ib) * sumi;
        }
        sum += tn_fp16_to_fp32(x[i].d) * y[i].d * isum;
    }
    *s = sum;
}

void tn_dot_mxfp4_scalar(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_mxfp4 *x = w;
    const tn_block_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += tn_kvalues_mxfp4[x[i].qs[j] & 0xF] * y[i].qs[j] +
                    tn_kvalues_mxfp4[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        sum += sumi * (tn_e8m0_to_f32_half(x[i].e) * tn_fp16_to_fp32(y[i].d));
    }
    *s = sum;
}
