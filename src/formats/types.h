/* Weight block formats, bit-compatible with llama.cpp's (ggml type numbers are kept so GGUF files
 * map directly): per-type traits, dequantization, quantization and dot products.
 *
 * Dot products follow the ggml scheme: a weight row of type T is multiplied with an activation row
 * that was first converted to tn_vec_dot_type(T) (Q8_0, Q8_1 or Q8_K for quantized weights, so the
 * inner loop is integer). tn_vec_dot() returns the fastest implementation the CPU supports
 * (AVX-512 / AVX2, chosen at run time); tn_vec_dot_scalar() is the portable reference. */
#ifndef TN_FORMATS_TYPES_H
#define TN_FORMATS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TN_TYPE_F32 = 0,
    TN_TYPE_F16 = 1,
    TN_TYPE_Q4_0 = 2,
    TN_TYPE_Q4_1 = 3,
    TN_TYPE_Q5_0 = 6,
    TN_TYPE_Q5_1 = 7,
    TN_TYPE_Q8_0 = 8,
    TN_TYPE_Q8_1 = 9,
    TN_TYPE_Q2_K = 10,
    TN_TYPE_Q3_K = 11,
    TN_TYPE_Q4_K = 12,
    TN_TYPE_Q5_K = 13,
    TN_TYPE_Q6_K = 14,
    TN_TYPE_Q8_K = 15,
    TN_TYPE_IQ2_XXS = 16,
    TN_TYPE_IQ2_XS = 17,
    TN_TYPE_IQ3_XXS = 18,
    TN_TYPE_IQ1_S = 19,
    TN_TYPE_IQ4_NL = 20,
    TN_TYPE_IQ3_S = 21,
    TN_TYPE_IQ2_S = 22,
    TN_TYPE_IQ4_XS = 23,
    TN_TYPE_I8 = 24,
    TN_TYPE_I16 = 25,
    TN_TYPE_I32 = 26,
    TN_TYPE_I64 = 27,
    TN_TYPE_F64 = 28,
    TN_TYPE_IQ1_M = 29,
    TN_TYPE_BF16 = 30,
    TN_TYPE_TQ1_0 = 34,
    TN_TYPE_TQ2_0 = 35,
    TN_TYPE_MXFP4 = 39,
    TN_TYPE_COUNT = 40,
} tn_type;

#define TN_QK_K 256 /* super-block size of the K-quants and IQ4_XS */

typedef struct tn_type_info {
    const char *name; /* "q4_K" etc., as llama.cpp prints them */
    int block_size;   /* elements per block */
    int type_size;    /* bytes per block */
    bool can_dequantize;
    bool can_quantize; /* tn_quantize_row implemented */
} tn_type_info;

/* NULL for a number that is not a known type (GGUF validation uses this). */
const tn_type_info *tn_type_get(int type);
const char *tn_type_name(int type); /* "unknown" for unknown */
int tn_type_from_name(const char *name); /* case-insensitive; -1 if unknown */
/* Bytes for a row of n elements (n must be a multiple of the block size; returns 0 if not). */
size_t tn_row_size(int type, int64_t n);

/* Dequantizes n elements (a multiple of the block size). Returns 0, or -1 with an error if the
 * type cannot be dequantized. */
int tn_dequantize_row(int type, const void *src, float *dst, int64_t n);
/* Quantizes n elements with llama.cpp's reference rounding (no importance matrix). Works for the
 * activation types (Q8_0, Q8_1, Q8_K) and weight types flagged can_quantize. */
int tn_quantize_row(int type, const float *src, void *dst, int64_t n);

/* ---- dot products ---- */
/* s = dot(weight row w of `type`, activation row a of tn_vec_dot_type(type)), n elements. */
typedef void (*tn_vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);
int tn_vec_dot_type(int type);
tn_vec_dot_fn tn_vec_dot(int type);        /* fastest on this CPU; NULL if unsupported */
tn_vec_dot_fn tn_vec_dot_scalar(int type); /* portable reference; NULL if unsupported */
/* Name of the SIMD level tn_vec_dot dispatches to ("avx512", "avx2", "scalar"). */
const char *tn_simd_level(void);
/* The implementation at one named level, ignoring TERN_SIMD: "scalar", "avx2", "avx512" (what
 * tn_vec_dot picks at that level) or "avx512-nobf16" (AVX-512 without the AVX512_BF16 kernel).
 * NULL if the type has no kernel there or this CPU cannot run it. For tests and benchmarks. */
tn_vec_dot_fn tn_vec_dot_level(int type, const char *level);

#endif
