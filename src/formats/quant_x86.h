/* Small AVX2/F16C helpers shared by dot_avx2.c and dot_avx512.c. Only include from files compiled
 * with at least -mavx2 -mfma -mf16c (the *_avx2.c / *_avx512.c naming rule in the Makefile). */
#ifndef TN_FORMATS_QUANT_X86_H
#define TN_FORMATS_QUANT_X86_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float tn_x86_h2f(uint16_t h) { return _cvtsh_ss(h); }
static inline uint16_t tn_x86_rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline __m256i tn_x86_load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i tn_x86_load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

static inline float tn_x86_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The fp16 fields at p, p+stride, ..., p+7*stride (one per block) as 8 floats. Built with vpinsrw
 * straight from memory: cheaper than converting each block's scale on its own, and no round trip
 * through a stack array (which would stall on store forwarding). */
static inline __m256 tn_x86_halves8(const void *p, size_t stride) {
    const uint8_t *b = p;
    __m128i v = _mm_cvtsi32_si128(tn_x86_rd16(b));
    v = _mm_insert_epi16(v, tn_x86_rd16(b + 1 * stride), 1);
    v = _mm_insert_epi16(v, tn_x86_rd16(b + 2 * stride), 2);
    v = _mm_insert_epi16(v, tn_x86_rd16(b + 3 * stride), 3);
    v = _mm_insert_epi16(v, tn_x86_rd16(b + 4 * stride), 4);
    v = _mm_insert_epi16(v, tn_x86_rd16(b + 5 * stride), 5);
    v = _mm_insert_epi16(v, tn_x86_rd16(b + 6 * stride), 6);
    v = _mm_insert_epi16(v, tn_x86_rd16(b + 7 * stride), 7);
    return _mm256_cvtph_ps(v);
}

/* MXFP4's E8M0 bytes at p, p+stride, ... as the 8 floats 2^(e-128) (the scale halved, matching the
 * doubled FP4 table); e < 2 gives float subnormals, built separately. */
static inline __m256 tn_x86_e8m0x8(const uint8_t *p, size_t stride) {
    __m128i v = _mm_cvtsi32_si128(p[0]);
    v = _mm_insert_epi8(v, p[1 * stride], 1);
    v = _mm_insert_epi8(v, p[2 * stride], 2);
    v = _mm_insert_epi8(v, p[3 * stride], 3);
    v = _mm_insert_epi8(v, p[4 * stride], 4);
    v = _mm_insert_epi8(v, p[5 * stride], 5);
    v = _mm_insert_epi8(v, p[6 * stride], 6);
    v = _mm_insert_epi8(v, p[7 * stride], 7);
    const __m256i e = _mm256_cvtepu8_epi32(v);
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i sub = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    const __m256i is_normal = _mm256_cmpgt_epi32(e, _mm256_set1_epi32(1));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(sub, normal, is_normal));
}

/* Lane k of v in every lane. */
static inline __m256 tn_x86_lane(__m256 v, int k) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(k)); }

/* 16 bytes of nibbles -> 32 bytes: the low nibbles (elements 0..15) then the high ones. */
static inline __m256i tn_x86_nibbles32(const uint8_t *qs) {
    __m128i b = tn_x86_load128(qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0F));
}

/* Pair sums of Q8_K's 16 bsums: 8 int32, one per 32-element sub-block. */
static inline __m256i tn_x86_bsum_pairs(const int16_t *bsums) {
    return _mm256_madd_epi16(tn_x86_load256(bsums), _mm256_set1_epi16(1));
}

/* The 8 IQ4_XS sub-block scales (-32..31) as int32. */
static inline __m256i tn_x86_iq4_xs_scales(uint16_t scales_h, const uint8_t *scales_l) {
    uint32_t l;
    memcpy(&l, scales_l, 4);
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)l), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                        _mm256_set1_epi32(0xF));
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                        _mm256_set1_epi32(3));
    return _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
}

#endif
