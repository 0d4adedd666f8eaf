/* F32 / F16 / BF16 rows: conversions to and from f32 and the portable dot products.
 *
 * The dot products take the activation row in the weight's own type (ggml's choice: F16 weights
 * dot F16 activations, BF16 dot BF16), so a converted activation row is half the bytes and the
 * SIMD kernels can use the native half-precision instructions. The scalar references accumulate
 * in double so they are a tight reference for the SIMD versions. */
#include "core/half.h"
#include "formats/quant_kernels.h"

#include <string.h>

void tn_dequant_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
void tn_quant_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }

void tn_dequant_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = tn_fp16_to_fp32(h[i]);
}

void tn_quant_f16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = tn_fp32_to_fp16(src[i]);
}

void tn_dequant_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = tn_bf16_to_fp32(h[i]);
}

void tn_quant_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = tn_fp32_to_bf16(src[i]);
}

void tn_dot_f32_scalar(int64_t n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * (double)y[i];
    *s = (float)sum;
}

/* F16 and BF16 weights take F32 activations: rounding activations to 16 bits costs 3x the
 * logit error against an fp32 reference, and decode is bound by the weight stream anyway. */
void tn_dot_f16_scalar(int64_t n, float *s, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)tn_fp16_to_fp32(x[i]) * y[i];
    *s = (float)sum;
}

void tn_dot_bf16_scalar(int64_t n, float *s, const void *w, const void *a) {
    const uint16_t *x = w;
    const float *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)tn_bf16_to_fp32(x[i]) * y[i];
    *s = (float)sum;
}
