/* AVX-512 (F, BW, VL, DQ, VNNI) dot products for every weight format. Only called after
 * quant_dispatch.c checked the CPU.
 *
 * Registers hold 64 weights: two 32-element blocks, or one 64-element slice of a K-quant
 * super-block. VNNI's vpdpbusd (unsigned x signed bytes, 4 products summed into int32 without
 * saturation) does the multiplying. AVX-512 has no vpsignb, so signed weights are biased to
 * unsigned instead: sum((w+b)*a) - b*sum(a), with sum(a) from a second vpdpbusd (32-element
 * blocks) or from Q8_K's bsums (super-blocks). Where sub-block scales vary inside a register the
 * products are formed with vpmaddubsw (exact: pair sums fit int16) and scaled-and-accumulated by
 * vpdpwssd against a vector of int16 scales. */
#if defined(__x86_64__) || defined(__i386__)
#include "formats/quant_blocks.h"
#include "formats/quant_kernels.h"
#include "formats/quant_x86.h"

#define h2f tn_x86_h2f
#define load128 tn_x86_load128
#define load256 tn_x86_load256

static inline __m512i load512(const void *p) { return _mm512_loadu_si512(p); }

static inline __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Two blocks' 16 nibble bytes -> 64 bytes [b0 low, b0 high, b1 low, b1 high] (16 each), which is
 * element order for both blocks. */
static inline __m512i nibbles64(const uint8_t *qs0, const uint8_t *qs1) {
    __m256i b = _mm256_set_m128i(load128(qs1), load128(qs0));
    __m512i v = _mm512_and_si512(join256(b, _mm256_srli_epi16(b, 4)), _mm512_set1_epi8(0x0F));
    return _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
}

static inline __m512i y_pair(const int8_t *q0, const int8_t *q1) { return join256(load256(q0), load256(q1)); }

/* sum(u*y) - bias*sum(y), per 4 elements */
static inline __m512i dot_biased(__m512i u, __m512i yv, int bias) {
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, yv);
    __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)bias), yv);
    return _mm512_sub_epi32(p, c);
}

/* codebook values + 128 as unsigned bytes, in all four 128-bit lanes */
static inline __m512i biased_table(const int8_t *values) {
    __m128i t = _mm_add_epi8(load128(values), _mm_set1_epi8((char)0x80));
    return _mm512_broadcast_i32x4(t);
}

/* The fifth bits of two blocks as a 64-bit mask in element order. */
static inline __mmask64 qh_pair(const uint8_t *qh0, const uint8_t *qh1) {
    uint32_t h0, h1;
    memcpy(&h0, qh0, 4);
    memcpy(&h1, qh1, 4);
    return _cvtu64_mask64((uint64_t)h0 | ((uint64_t)h1 << 32));
}

/* ---- 32-element block formats ----
 * Eight blocks per step, two per register: int32 sums from vpdpbusd, scaled by the blocks' scale
 * products, which are formed for all eight at once and spread with vpermps. An odd tail of fewer
 * than eight blocks goes to the AVX2 kernel. */

static inline __m512i q4_0_pair(const tn_block_q4_0 *x, const tn_block_q8_0 *y) {
    return dot_biased(nibbles64(x[0].qs, x[1].qs), y_pair(y[0].qs, y[1].qs), 8);
}
static inline __m512i q4_1_pair(const tn_block_q4_1 *x, const tn_block_q8_1 *y) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), nibbles64(x[0].qs, x[1].qs), y_pair(y[0].qs, y[1].qs));
}
static inline __m512i q5_0_pair(const tn_block_q5_0 *x, const tn_block_q8_0 *y) {
    __m512i q = nibbles64(x[0].qs, x[1].qs);
    q = _mm512_mask_add_epi8(q, qh_pair(x[0].qh, x[1].qh), q, _mm512_set1_epi8(16));
    return dot_biased(q, y_pair(y[0].qs, y[1].qs), 16);
}
static inline __m512i q5_1_pair(const tn_block_q5_1 *x, const tn_block_q8_1 *y) {
    __m512i q = nibbles64(x[0].qs, x[1].qs);
    q = _mm512_mask_add_epi8(q, qh_pair(x[0].qh, x[1].qh), q, _mm512_set1_epi8(16));
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, y_pair(y[0].qs, y[1].qs));
}
static inline __m512i q8_0_pair(const tn_block_q8_0 *x, const tn_block_q8_0 *y) {
    /* w + 128 as an unsigned byte is w with the top bit flipped */
    __m512i u = _mm512_xor_si512(y_pair(x[0].qs, x[1].qs), _mm512_set1_epi8((char)0x80));
    return dot_biased(u, y_pair(y[0].qs, y[1].qs), 128);
}
static inline __m512i iq4_nl_pair(const tn_block_iq4_nl *x, const tn_block_q8_0 *y) {
    __m512i u = _mm512_shuffle_epi8(biased_table(tn_kvalues_iq4nl), nibbles64(x[0].qs, x[1].qs));
    return dot_biased(u, y_pair(y[0].qs, y[1].qs), 128);
}
static inline __m512i mxfp4_pair(const tn_block_mxfp4 *x, const tn_block_q8_0 *y) {
    __m512i u = _mm512_shuffle_epi8(biased_table(tn_kvalues_mxfp4), nibbles64(x[0].qs, x[1].qs));
    return dot_biased(u, y_pair(y[0].qs, y[1].qs), 128);
}

#define D8_F16(xp, yp) _mm256_mul_ps(tn_x86_halves8(&(xp)->d, sizeof *(xp)), tn_x86_halves8(&(yp)->d, sizeof *(yp)))
#define D8_E8M0(xp, yp) _mm256_mul_ps(tn_x86_e8m0x8(&(xp)->e, sizeof *(xp)), tn_x86_halves8(&(yp)->d, sizeof *(yp)))

/* [d[2p] x8 | d[2p+1] x8] */
static inline __m512 pair_scale(__m512 d, int p) {
    const __m512i idx = _mm512_set_epi32(2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1,
                                         2 * p + 1, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p);
    return _mm512_permutexvar_ps(idx, d);
}

/* Q4_1 / Q5_1 x Q8_1 also sum m (weight offset) * s (activation d * sum q) per block, in the same
 * pass so the weight stream is read once. */
#define NO_OFFSETS8(xp, yp)
#define OFFSETS8(xp, yp) accm = _mm256_fmadd_ps(tn_x86_halves8(&(xp)->m, sizeof *(xp)), tn_x86_halves8(&(yp)->s, sizeof *(yp)), accm);

#define GROUP8_DOT(xtype, ytype, pairfn, d8, offs8, avx2_fn)                                      \
    const xtype *x = w;                                                                            \
    const ytype *y = a;                                                                            \
    const int64_t nb = n / 32;                                                                     \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                                 \
    __m256 accm = _mm256_setzero_ps();                                                             \
    int64_t i = 0;                                                                                 \
    for (; i + 8 <= nb; i += 8) {                                                                  \
        const __m512 d = _mm512_castps256_ps512(d8(x + i, y + i));                                 \
        offs8(x + i, y + i)                                                                        \
        acc0 = _mm512_fmadd_ps(pair_scale(d, 0), _mm512_cvtepi32_ps(pairfn(x + i, y + i)), acc0); \
        acc1 = _mm512_fmadd_ps(pair_scale(d, 1), _mm512_cvtepi32_ps(pairfn(x + i + 2, y + i + 2)), acc1); \
        acc0 = _mm512_fmadd_ps(pair_scale(d, 2), _mm512_cvtepi32_ps(pairfn(x + i + 4, y + i + 4)), acc0); \
        acc1 = _mm512_fmadd_ps(pair_scale(d, 3), _mm512_cvtepi32_ps(pairfn(x + i + 6, y + i + 6)), acc1); \
    }                                                                                              \
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + tn_x86_hsum_ps(accm);           \
    if (i < nb) { /* includes the tail blocks' offsets */                                          \
        float t;                                                                                   \
        avx2_fn(32 * (nb - i), &t, x + i, y + i);                                                  \
        sum += t;                                                                                  \
    }

void tn_dot_q4_0_avx512(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q4_0, tn_block_q8_0, q4_0_pair, D8_F16, NO_OFFSETS8, tn_dot_q4_0_avx2)
    *s = sum;
}
void tn_dot_q4_1_avx512(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q4_1, tn_block_q8_1, q4_1_pair, D8_F16, OFFSETS8, tn_dot_q4_1_avx2)
    *s = sum;
}
void tn_dot_q5_0_avx512(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q5_0, tn_block_q8_0, q5_0_pair, D8_F16, NO_OFFSETS8, tn_dot_q5_0_avx2)
    *s = sum;
}
void tn_dot_q5_1_avx512(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q5_1, tn_block_q8_1, q5_1_pair, D8_F16, OFFSETS8, tn_dot_q5_1_avx2)
    *s = sum;
}
void tn_dot_q8_0_avx512(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q8_0, tn_block_q8_0, q8_0_pair, D8_F16, NO_OFFSETS8, tn_dot_q8_0_avx2)
    *s = sum;
}
void tn_dot_iq4_nl_avx512(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_iq4_nl, tn_block_q8_0, iq4_nl_pair, D8_F16, NO_OFFSETS8, tn_dot_iq4_nl_avx2)
    *s = sum;
}
void tn_dot_mxfp4_avx512(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_mxfp4, tn_block_q8_0, mxfp4_pair, D8_E8M0, NO_OFFSETS8, tn_dot_mxfp4_avx2)
    *s = sum;
}

/* ---- super-block formats against Q8_K ---- */

/* int16 scale vectors for one 64-element register, picked from 16 int16 scales `sc16` (lanes
 * 0..15). Each int16 lane l of a vpmaddubsw product covers elements 2l and 2l+1:
 * _x4 for 16-element sub-blocks k0..k0+3, _x2 for 32-element sub-blocks k0, k0+1. */
static inline __m512i scales16_x4(__m512i sc16, int k0) {
    __m512i lane = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                                    15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i sel = _mm512_add_epi16(_mm512_srli_epi16(lane, 3), _mm512_set1_epi16((short)k0));
    return _mm512_permutexvar_epi16(sel, sc16);
}
static inline __m512i scales16_x2(__m512i sc16, int k0) {
    __m512i lane = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                                    15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i sel = _mm512_add_epi16(_mm512_srli_epi16(lane, 4), _mm512_set1_epi16((short)k0));
    return _mm512_permutexvar_epi16(sel, sc16);
}

/* Q2_K and Q3_K share the 2-bit layout: per 128 elements 32 bytes, groups at shifts 0, 2, 4, 6.
 * Gives [group0 | group1] and [group2 | group3]. */
static inline void two_bit_chunk(const uint8_t *qs, __m512i *g01, __m512i *g23) {
    const __m256i v = load256(qs);
    const __m512i v2 = join256(v, _mm256_srli_epi16(v, 2));
    *g01 = _mm512_and_si512(v2, _mm512_set1_epi8(3));
    *g23 = _mm512_and_si512(_mm512_srli_epi16(v2, 4), _mm512_set1_epi8(3));
}

void tn_dot_q2_K_avx512(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q2_K *x = w;
    const tn_block_q8_K *y = a;
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const __m128i sm = load128(x[i].scales);
        const __m256i sc = _mm256_cvtepu8_epi16(_mm_and_si128(sm, _mm_set1_epi8(0xF)));
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(0xF)));
        const __m256i mins = _mm256_madd_epi16(mn, load256(y[i].bsums));
        const __m512i sc16 = _mm512_castsi256_si512(sc);
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 2; c++) {
            __m512i g[2];
            two_bit_chunk(x[i].qs + 32 * c, &g[0], &g[1]);
            for (int h = 0; h < 2; h++) {
                __m512i p = _mm512_maddubs_epi16(g[h], load512(y[i].qs + 128 * c + 64 * h));
                sumi = _mm512_dpwssd_epi32(sumi, p, scales16_x4(sc16, 8 * c + 4 * h));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * h2f(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].dmin)), _mm256_cvtepi32_ps(mins), accm);
    }
    *s = _mm512_reduce_add_ps(acc) - tn_x86_hsum_ps(accm);
}

void tn_dot_q3_K_avx512(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q3_K *x = w;
    const tn_block_q8_K *y = a;
    const __m512i m4 = _mm512_set1_epi8(4);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        uint32_t u[4];
        tn_q3_K_scale_words(x[i].scales, u);
        const __m128i sc8 = _mm_sub_epi8(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]), _mm_set1_epi8(32));
        const __m256i sc = _mm256_cvtepi8_epi16(sc8);
        /* stored u = low2 | hbit<<2, weight u - 4 */
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc, load256(y[i].bsums)), 2);
        const __m512i sc16 = _mm512_castsi256_si512(sc);
        const __m256i hm = load256(x[i].hmask);
        const __m512i hm2 = join256(hm, _mm256_srli_epi16(hm, 1)); /* groups k, k+1 at the same bit */
        __m512i sumi = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(off));
        for (int c = 0; c < 2; c++) {
            __m512i g[2];
            two_bit_chunk(x[i].qs + 32 * c, &g[0], &g[1]);
            const __m512i h = _mm512_srli_epi16(hm2, 4 * c);
            g[0] = _mm512_or_si512(g[0], _mm512_and_si512(_mm512_slli_epi16(h, 2), m4));
            g[1] = _mm512_or_si512(g[1], _mm512_and_si512(h, m4));
            for (int k = 0; k < 2; k++) {
                __m512i p = _mm512_maddubs_epi16(g[k], load512(y[i].qs + 128 * c + 64 * k));
                sumi = _mm512_dpwssd_epi32(sumi, p, scales16_x4(sc16, 8 * c + 4 * k));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * h2f(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* Q4_K / Q5_K: each 64-element step is 32 packed bytes, low nibbles = sub-block 2j, high = 2j+1. */
static inline void q45_K(int64_t n, float *s, const void *w, const void *a, int five) {
    const tn_block_q8_K *y = a;
    const size_t bsize = five ? sizeof(tn_block_q5_K) : sizeof(tn_block_q4_K);
    const __m512i m4 = _mm512_set1_epi8(0xF), m16 = _mm512_set1_epi8(16);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *blk = (const uint8_t *)w + i * bsize;
        const tn_block_q4_K *x4 = (const tn_block_q4_K *)blk; /* d, dmin, scales at the same offsets */
        const uint8_t *qs = five ? ((const tn_block_q5_K *)blk)->qs : x4->qs;
        uint32_t u[4];
        tn_scale_min_k4_words(x4->scales, u);
        const __m128i sm = _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);
        const __m256i mins = _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)),
                                                tn_x86_bsum_pairs(y[i].bsums));
        const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm));
        __m512i h2 = _mm512_setzero_si512();
        if (five) {
            const __m256i hb = load256(((const tn_block_q5_K *)blk)->qh);
            h2 = join256(hb, _mm256_srli_epi16(hb, 1)); /* bit 2j for both halves of step j */
        }
        __m512i sumi = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            const __m256i qv = load256(qs + 32 * j);
            __m512i q = _mm512_and_si512(join256(qv, _mm256_srli_epi16(qv, 4)), m4);
            if (five) {
                q = _mm512_or_si512(q, _mm512_and_si512(_mm512_slli_epi16(h2, 4), m16));
                h2 = _mm512_srli_epi16(h2, 2);
            }
            __m512i p = _mm512_maddubs_epi16(q, load512(y[i].qs + 64 * j));
            sumi = _mm512_dpwssd_epi32(sumi, p, scales16_x2(sc16, 2 * j));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * h2f(x4->d)), _mm512_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x4->dmin)), _mm256_cvtepi32_ps(mins), accm);
    }
    *s = _mm512_reduce_add_ps(acc) - tn_x86_hsum_ps(accm);
}

void tn_dot_q4_K_avx512(int64_t n, float *s, const void *w, const void *a) { q45_K(n, s, w, a, 0); }
void tn_dot_q5_K_avx512(int64_t n, float *s, const void *w, const void *a) { q45_K(n, s, w, a, 1); }

void tn_dot_q6_K_avx512(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q6_K *x = w;
    const tn_block_q8_K *y = a;
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const __m256i sc = _mm256_cvtepi8_epi16(load128(x[i].scales));
        /* stored values are q + 32 */
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc, load256(y[i].bsums)), 5);
        const __m512i sc16 = _mm512_castsi256_si512(sc);
        __m512i sumi = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(off));
        for (int c = 0; c < 2; c++) {
            const __m512i ql = load512(x[i].ql + 64 * c);
            const __m256i h = load256(x[i].qh + 32 * c);
            const __m512i h2 = join256(h, _mm256_srli_epi16(h, 2));
            /* elements 0..63 of the chunk: low nibbles + qh bits 0-1 (2-3 for the upper half);
             * elements 64..127: high nibbles + qh bits 4-5 (6-7) */
            const __m512i q0 = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                               _mm512_and_si512(_mm512_slli_epi16(h2, 4), m30));
            const __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                               _mm512_and_si512(h2, m30));
            __m512i p0 = _mm512_maddubs_epi16(q0, load512(y[i].qs + 128 * c));
            __m512i p1 = _mm512_maddubs_epi16(q1, load512(y[i].qs + 128 * c + 64));
            sumi = _mm512_dpwssd_epi32(sumi, p0, scales16_x4(sc16, 8 * c));
            sumi = _mm512_dpwssd_epi32(sumi, p1, scales16_x4(sc16, 8 * c + 4));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * h2f(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

void tn_dot_iq4_xs_avx512(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_iq4_xs *x = w;
    const tn_block_q8_K *y = a;
    const __m512i table = biased_table(tn_kvalues_iq4nl);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const __m256i ls = tn_x86_iq4_xs_scales(x[i].scales_h, x[i].scales_l);
        /* the table is biased by +128: take 128 * scale * sum(a) of each sub-block back out */
        const __m256i corr = _mm256_slli_epi32(_mm256_mullo_epi32(ls, tn_x86_bsum_pairs(y[i].bsums)), 7);
        const __m512i ls512 = _mm512_zextsi256_si512(ls);
        __m512i sumi = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(corr));
        for (int ib = 0; ib < 8; ib += 2) {
            const uint8_t *qs = x[i].qs + 16 * ib;
            __m512i u = _mm512_shuffle_epi8(table, nibbles64(qs, qs + 16));
            __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, load512(y[i].qs + 32 * ib));
            __m512i sel = _mm512_set_epi32(ib + 1, ib + 1, ib + 1, ib + 1, ib + 1, ib + 1, ib + 1, ib + 1,
                                           ib, ib, ib, ib, ib, ib, ib, ib);
            sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(p, _mm512_permutexvar_epi32(sel, ls512)));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * h2f(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* ---- float formats ----
 * A masked head brings the weight pointer to a 64-byte boundary, then two accumulators stream.
 * Measured streaming from DRAM on the test box (Zen 5, bench/results/2026-11-24-cpu-vec-dot.md):
 * loads that split cache lines cost 30-40% of the bandwidth, and two accumulators stream faster
 * than four. */

/* Elements before x reaches a 64-byte boundary (0 if there already or not element-aligned), <= n. */
static inline int64_t head_to_64(const void *x, size_t elem, int64_t n) {
    const uintptr_t mis = (uintptr_t)x & 63;
    if (!mis || mis % elem) return 0;
    const int64_t h = (int64_t)((64 - mis) / elem);
    return h < n ? h : n;
}

#define FLOAT_DOT(T, load, mload)                                                                  \
    const T *x = w;                                                                                \
    const float *y = a; /* F32 activations for every float weight format (see quant_float.c) */  \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                                 \
    const int64_t head = head_to_64(x, sizeof(T), n);                                              \
    int64_t i = 0;                                                                                 \
    while (i < head) {                                                                             \
        const int64_t k = head - i < 16 ? head - i : 16;                                           \
        const __mmask16 m = (__mmask16)((1u << k) - 1);                                            \
        acc1 = _mm512_fmadd_ps(mload(m, x + i), mld_f32(m, y + i), acc1);                            \
        i += k;                                                                                    \
    }                                                                                              \
    for (; i + 32 <= n; i += 32) {                                                                 \
        acc0 = _mm512_fmadd_ps(load(x + i), ld_f32(y + i), acc0);                                    \
        acc1 = _mm512_fmadd_ps(load(x + i + 16), ld_f32(y + i + 16), acc1);                          \
    }                                                                                              \
    while (i < n) {                                                                                \
        const int64_t k = n - i < 16 ? n - i : 16;                                                 \
        const __mmask16 m = (__mmask16)((1u << k) - 1);                                            \
        acc0 = _mm512_fmadd_ps(mload(m, x + i), mld_f32(m, y + i), acc0);                            \
        i += k;                                                                                    \
    }                                                                                              \
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));

static inline __m512 ld_f32(const float *p) { return _mm512_loadu_ps(p); }
static inline __m512 mld_f32(__mmask16 m, const float *p) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 ld_f16(const uint16_t *p) { return _mm512_cvtph_ps(load256(p)); }
static inline __m512 mld_f16(__mmask16 m, const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
static inline __m512 ld_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load256(p)), 16));
}
static inline __m512 mld_bf16(__mmask16 m, const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

void tn_dot_f32_avx512(int64_t n, float *s, const void *w, const void *a) { FLOAT_DOT(float, ld_f32, mld_f32) }
void tn_dot_f16_avx512(int64_t n, float *s, const void *w, const void *a) { FLOAT_DOT(uint16_t, ld_f16, mld_f16) }
void tn_dot_bf16_avx512(int64_t n, float *s, const void *w, const void *a) { FLOAT_DOT(uint16_t, ld_bf16, mld_bf16) }

#endif
