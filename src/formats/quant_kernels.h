/* Internal prototypes of the per-type kernels behind tn_dequantize_row / tn_quantize_row /
 * tn_vec_dot (formats/types.h). quant_dispatch.c is the only intended caller; tests and benchmarks
 * go through the public API (tn_vec_dot_scalar / tn_vec_dot with TERN_SIMD).
 *
 * Naming: tn_dequant_<type>(src, dst, n), tn_quant_<type>(src, dst, n) and
 * tn_dot_<type>_{scalar,avx2,avx512}(n, s, w, a) where `a` is a row of tn_vec_dot_type(type).
 * n is always a multiple of the block size (checked by the dispatcher). */
#ifndef TN_FORMATS_QUANT_KERNELS_H
#define TN_FORMATS_QUANT_KERNELS_H

#include <stdint.h>

#define TN_DOT_ARGS int64_t n, float *s, const void *w, const void *a

#define TN_DECLARE_CONVERT(t)                                                                      \
    void tn_dequant_##t(const void *src, float *dst, int64_t n);                                   \
    void tn_quant_##t(const float *src, void *dst, int64_t n);

#define TN_DECLARE_DOTS(t)                                                                         \
    void tn_dot_##t##_scalar(TN_DOT_ARGS);                                                         \
    void tn_dot_##t##_avx2(TN_DOT_ARGS);                                                           \
    void tn_dot_##t##_avx512(TN_DOT_ARGS);

/* quant_float.c */
TN_DECLARE_CONVERT(f32)
TN_DECLARE_CONVERT(f16)
TN_DECLARE_CONVERT(bf16)
TN_DECLARE_DOTS(f32)
TN_DECLARE_DOTS(f16)
TN_DECLARE_DOTS(bf16)

/* quant_legacy.c */
TN_DECLARE_CONVERT(q4_0)
TN_DECLARE_CONVERT(q4_1)
TN_DECLARE_CONVERT(q5_0)
TN_DECLARE_CONVERT(q5_1)
TN_DECLARE_CONVERT(q8_0)
TN_DECLARE_CONVERT(q8_1)
TN_DECLARE_DOTS(q4_0)
TN_DECLARE_DOTS(q4_1)
TN_DECLARE_DOTS(q5_0)
TN_DECLARE_DOTS(q5_1)
TN_DECLARE_DOTS(q8_0)

/* quant_k.c (dequant, dots, Q8_K) and quant_k_quantize.c (K-quant quantizers) */
TN_DECLARE_CONVERT(q2_K)
TN_DECLARE_CONVERT(q3_K)
TN_DECLARE_CONVERT(q4_K)
TN_DECLARE_CONVERT(q5_K)
TN_DECLARE_CONVERT(q6_K)
TN_DECLARE_CONVERT(q8_K)
TN_DECLARE_DOTS(q2_K)
TN_DECLARE_DOTS(q3_K)
TN_DECLARE_DOTS(q4_K)
TN_DECLARE_DOTS(q5_K)
TN_DECLARE_DOTS(q6_K)

/* quant_iq.c */
TN_DECLARE_CONVERT(iq4_nl)
TN_DECLARE_CONVERT(iq4_xs)
TN_DECLARE_CONVERT(mxfp4)
TN_DECLARE_DOTS(iq4_nl)
TN_DECLARE_DOTS(iq4_xs)
TN_DECLARE_DOTS(mxfp4)

#endif
