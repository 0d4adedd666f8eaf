/* AVX2 + FMA + F16C dot products for every weight format (compiled with -mavx2 -mfma -mf16c; only
 * called after quant_dispatch.c checked the CPU supports them).
 *
 * Integer formats: weights are unpacked to one byte per element in a 32-byte register and
 * multiplied with the int8 activations by vpmaddubsw (unsigned x signed -> pairwise int16 sums).
 * Signed weights go through the usual |w| * sign(a, w) rewrite. The int16 pairs are summed into
 * int32 by vpmaddwd, with the sub-block scale as the multiplier where the format has one, and each
 * block's int32 sums are scaled in float. Unsigned formats with an offset (K-quant mins, Q3_K's -4,
 * Q6_K's -32) fold the offset in once per super-block through Q8_K's bsums.
 * No pair sum can overflow int16: the largest is 2 * 63 * 127 (Q6_K). */
#if defined(__x86_64__) || defined(__i386__)
#include "formats/quant_blocks.h"
#include "formats/quant_kernels.h"
#include "formats/quant_x86.h"

#define h2f tn_x86_h2f
#define load128 tn_x86_load128
#define load256 tn_x86_load256
#define hsum_ps tn_x86_hsum_ps
#define nibbles32 tn_x86_nibbles32

/* signed x signed bytes -> 8 int32 sums of 4 products each */
static inline __m256i dot_i8(__m256i x, __m256i y) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* unsigned x signed bytes -> 8 int32 sums */
static inline __m256i dot_u8(__m256i u, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

/* 32 bits -> 32 bytes, 0xFF where the bit is set. */
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t b;
    memcpy(&b, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                           0x0101010101010101LL, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)b), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* [s[p] x8 | s[p+1] x8] as int16, from 16 scale bytes (signed). */
static inline __m256i pair_scales_i8(__m128i s, int p) {
    const __m128i idx = _mm_set_epi64x(0x0101010101010101LL * (p + 1), 0x0101010101010101LL * p);
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s, idx));
}

/* int16 lane j (0..7) of v (same in both 128-bit halves) broadcast to all 16 lanes */
static inline __m256i bcast16(__m256i v, int j) {
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(0x0100 + 0x0202 * j)));
}

/* ---- 32-element block formats ----
 * Eight blocks per step: the eight scale products are formed in one vector and each block's int32
 * sums are scaled by a lane broadcast of it; two accumulators keep the FMAs independent. */

static inline __m256i q4_0_i32(const tn_block_q4_0 *x, const tn_block_q8_0 *y) {
    return dot_i8(_mm256_sub_epi8(nibbles32(x->qs), _mm256_set1_epi8(8)), load256(y->qs));
}
static inline __m256i q4_1_i32(const tn_block_q4_1 *x, const tn_block_q8_1 *y) {
    return dot_u8(nibbles32(x->qs), load256(y->qs));
}
static inline __m256i q5_0_i32(const tn_block_q5_0 *x, const tn_block_q8_0 *y) {
    /* (nibble | hbit<<4) - 16 == nibble - 16 * !hbit */
    __m256i off = _mm256_andnot_si256(bits_to_bytes(x->qh), _mm256_set1_epi8(16));
    return dot_i8(_mm256_sub_epi8(nibbles32(x->qs), off), load256(y->qs));
}
static inline __m256i q5_1_i32(const tn_block_q5_1 *x, const tn_block_q8_1 *y) {
    __m256i hb = _mm256_and_si256(bits_to_bytes(x->qh), _mm256_set1_epi8(16));
    return dot_u8(_mm256_or_si256(nibbles32(x->qs), hb), load256(y->qs));
}
static inline __m256i q8_0_i32(const tn_block_q8_0 *x, const tn_block_q8_0 *y) {
    return dot_i8(load256(x->qs), load256(y->qs));
}
static inline __m256i iq4_nl_i32(const tn_block_iq4_nl *x, const tn_block_q8_0 *y) {
    const __m256i table = _mm256_broadcastsi128_si256(load128(tn_kvalues_iq4nl));
    return dot_i8(_mm256_shuffle_epi8(table, nibbles32(x->qs)), load256(y->qs));
}
static inline __m256i mxfp4_i32(const tn_block_mxfp4 *x, const tn_block_q8_0 *y) {
    const __m256i table = _mm256_broadcastsi128_si256(load128(tn_kvalues_mxfp4));
    return dot_i8(_mm256_shuffle_epi8(table, nibbles32(x->qs)), load256(y->qs));
}

/* scale products of 8 blocks / of one block */
#define D8_F16(xp, yp) _mm256_mul_ps(tn_x86_halves8(&(xp)->d, sizeof *(xp)), tn_x86_halves8(&(yp)->d, sizeof *(yp)))
#define D1_F16(xp, yp) (h2f((xp)->d) * h2f((yp)->d))
#define D8_E8M0(xp, yp) _mm256_mul_ps(tn_x86_e8m0x8(&(xp)->e, sizeof *(xp)), tn_x86_halves8(&(yp)->d, sizeof *(yp)))
#define D1_E8M0(xp, yp) (tn_e8m0_to_f32_half((xp)->e) * h2f((yp)->d))

/* Q4_1 / Q5_1 x Q8_1 also sum m (weight offset) * s (activation d * sum q) per block, in the same
 * pass so the weight stream is read once. */
#define NO_OFFSETS8(xp, yp)
#define NO_OFFSETS1(xp, yp) 0
#define OFFSETS8(xp, yp) accm = _mm256_fmadd_ps(tn_x86_halves8(&(xp)->m, sizeof *(xp)), tn_x86_halves8(&(yp)->s, sizeof *(yp)), accm);
#define OFFSETS1(xp, yp) (h2f((xp)->m) * h2f((yp)->s))

#define GROUP8_DOT(xtype, ytype, i32fn, d8, d1, offs8, offs1)                                     \
    const xtype *x = w;                                                                            \
    const ytype *y = a;                                                                            \
    const int64_t nb = n / 32;                                                                     \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), accm = _mm256_setzero_ps();     \
    float tail = 0;                                                                                \
    int64_t i = 0;                                                                                 \
    for (; i + 8 <= nb; i += 8) {                                                                  \
        const __m256 d = d8(x + i, y + i);                                                         \
        offs8(x + i, y + i)                                                                        \
        for (int k = 0; k < 8; k += 2) {                                                           \
            acc0 = _mm256_fmadd_ps(tn_x86_lane(d, k), _mm256_cvtepi32_ps(i32fn(x + i + k, y + i + k)), acc0); \
            acc1 = _mm256_fmadd_ps(tn_x86_lane(d, k + 1),                                          \
                                   _mm256_cvtepi32_ps(i32fn(x + i + k + 1, y + i + k + 1)), acc1); \
        }                                                                                          \
    }                                                                                              \
    for (; i < nb; i++) {                                                                          \
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d1(x + i, y + i)), _mm256_cvtepi32_ps(i32fn(x + i, y + i)), acc0); \
        tail += offs1(x + i, y + i);                                                               \
    }                                                                                              \
    const float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), accm)) + tail;

void tn_dot_q4_0_avx2(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q4_0, tn_block_q8_0, q4_0_i32, D8_F16, D1_F16, NO_OFFSETS8, NO_OFFSETS1)
    *s = sum;
}
void tn_dot_q4_1_avx2(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q4_1, tn_block_q8_1, q4_1_i32, D8_F16, D1_F16, OFFSETS8, OFFSETS1)
    *s = sum;
}
void tn_dot_q5_0_avx2(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q5_0, tn_block_q8_0, q5_0_i32, D8_F16, D1_F16, NO_OFFSETS8, NO_OFFSETS1)
    *s = sum;
}
void tn_dot_q5_1_avx2(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q5_1, tn_block_q8_1, q5_1_i32, D8_F16, D1_F16, OFFSETS8, OFFSETS1)
    *s = sum;
}
void tn_dot_q8_0_avx2(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_q8_0, tn_block_q8_0, q8_0_i32, D8_F16, D1_F16, NO_OFFSETS8, NO_OFFSETS1)
    *s = sum;
}
void tn_dot_iq4_nl_avx2(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_iq4_nl, tn_block_q8_0, iq4_nl_i32, D8_F16, D1_F16, NO_OFFSETS8, NO_OFFSETS1)
    *s = sum;
}
void tn_dot_mxfp4_avx2(int64_t n, float *s, const void *w, const void *a) {
    GROUP8_DOT(tn_block_mxfp4, tn_block_q8_0, mxfp4_i32, D8_E8M0, D1_E8M0, NO_OFFSETS8, NO_OFFSETS1)
    *s = sum;
}

/* ---- K-quants and IQ4_XS against Q8_K ---- */

void tn_dot_q2_K_avx2(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q2_K *x = w;
    const tn_block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const __m128i sm = load128(x[i].scales);
        const __m128i sc = _mm_and_si128(sm, _mm_set1_epi8(0xF));
        const __m128i mn = _mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(0xF));
        const __m256i mins = _mm256_madd_epi16(_mm256_cvtepu8_epi16(mn), load256(y[i].bsums));
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            const __m256i qv = load256(x[i].qs + 32 * c);
            const int8_t *q8 = y[i].qs + 128 * c;
            for (int k = 0; k < 4; k++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), m3);
                __m256i p = _mm256_maddubs_epi16(q, load256(q8 + 32 * k));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_scales_i8(sc, 8 * c + 2 * k)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].dmin)), _mm256_cvtepi32_ps(mins), accm);
    }
    *s = hsum_ps(_mm256_sub_ps(acc, accm));
}

void tn_dot_q3_K_avx2(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q3_K *x = w;
    const tn_block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        uint32_t u[4];
        tn_q3_K_scale_words(x[i].scales, u);
        const __m128i sc = _mm_sub_epi8(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]), _mm_set1_epi8(32));
        /* the stored value is u = low2 | hbit<<2 and the weight is u - 4 */
        const __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), load256(y[i].bsums));
        const __m256i hm = load256(x[i].hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            const __m256i qv = load256(x[i].qs + 32 * c);
            const int8_t *q8 = y[i].qs + 128 * c;
            for (int k = 0; k < 4; k++) {
                const int bit = 4 * c + k; /* hmask bit of this group, moved to bit 2 */
                __m256i hb = bit >= 2 ? _mm256_srli_epi16(hm, bit - 2) : _mm256_slli_epi16(hm, 2 - bit);
                __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), m3),
                                            _mm256_and_si256(hb, m4));
                __m256i p = _mm256_maddubs_epi16(q, load256(q8 + 32 * k));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_scales_i8(sc, 8 * c + 2 * k)));
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

/* Q4_K / Q5_K: 64 elements per step share 32 packed bytes (low nibbles: sub-block 2j, high: 2j+1);
 * Q5_K adds bit 2j / 2j+1 of qh as the fifth bit. */
static inline void q45_K(int64_t n, float *s, const void *w, const void *a, int five) {
    const tn_block_q8_K *y = a;
    const size_t bsize = five ? sizeof(tn_block_q5_K) : sizeof(tn_block_q4_K);
    const __m256i m4 = _mm256_set1_epi8(0xF), m16 = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *blk = (const uint8_t *)w + i * bsize;
        /* d, dmin and scales sit at the same offsets in both layouts */
        const tn_block_q4_K *x4 = (const tn_block_q4_K *)blk;
        const uint8_t *qs = five ? ((const tn_block_q5_K *)blk)->qs : x4->qs;
        uint32_t u[4];
        tn_scale_min_k4_words(x4->scales, u);
        const __m128i sm = _mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]);
        const __m256i mins = _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8)),
                                                tn_x86_bsum_pairs(y[i].bsums));
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        __m256i hbits = five ? load256(((const tn_block_q5_K *)blk)->qh) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i qv = load256(qs + 32 * j);
            __m256i lo = _mm256_and_si256(qv, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            if (five) {
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hbits, 4), m16));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hbits, 3), m16));
                hbits = _mm256_srli_epi16(hbits, 2);
            }
            __m256i p0 = _mm256_maddubs_epi16(lo, load256(y[i].qs + 64 * j));
            __m256i p1 = _mm256_maddubs_epi16(hi, load256(y[i].qs + 64 * j + 32));
            p0 = _mm256_madd_epi16(p0, bcast16(sc16, 2 * j));
            p1 = _mm256_madd_epi16(p1, bcast16(sc16, 2 * j + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x4->d)), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x4->dmin)), _mm256_cvtepi32_ps(mins), accm);
    }
    *s = hsum_ps(_mm256_sub_ps(acc, accm));
}

void tn_dot_q4_K_avx2(int64_t n, float *s, const void *w, const void *a) { q45_K(n, s, w, a, 0); }
void tn_dot_q5_K_avx2(int64_t n, float *s, const void *w, const void *a) { q45_K(n, s, w, a, 1); }

void tn_dot_q6_K_avx2(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_q6_K *x = w;
    const tn_block_q8_K *y = a;
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const __m128i sc = load128(x[i].scales);
        /* stored values are q + 32 */
        const __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), load256(y[i].bsums));
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            const __m256i l0 = load256(x[i].ql + 64 * c), l1 = load256(x[i].ql + 64 * c + 32);
            const __m256i h = load256(x[i].qh + 32 * c);
            const int8_t *q8 = y[i].qs + 128 * c;
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
            for (int k = 0; k < 4; k++) {
                __m256i p = _mm256_maddubs_epi16(q[k], load256(q8 + 32 * k));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_scales_i8(sc, 8 * c + 2 * k)));
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

void tn_dot_iq4_xs_avx2(int64_t n, float *s, const void *w, const void *a) {
    const tn_block_iq4_xs *x = w;
    const tn_block_q8_K *y = a;
    const __m256i table = _mm256_broadcastsi128_si256(load128(tn_kvalues_iq4nl));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const __m256i ls = tn_x86_iq4_xs_scales(x[i].scales_h, x[i].scales_l);
        /* each 32-bit lane holds its scale in both int16 halves, ready for vpmaddwd */
        const __m256i ls2 = _mm256_or_si256(_mm256_and_si256(ls, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(ls, 16));
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            __m256i q = _mm256_shuffle_epi8(table, nibbles32(x[i].qs + 16 * ib));
            __m256i yv = load256(y[i].qs + 32 * ib);
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(yv, q));
            __m256i scale = _mm256_permutevar8x32_epi32(ls2, _mm256_set1_epi32(ib));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

/* ---- float formats ----
 * Scalar steps up to a 32-byte boundary of the weight pointer, then two accumulators stream (see
 * dot_avx512.c: split loads and more accumulators both cost DRAM bandwidth). */

static inline float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Elements before x reaches a 32-byte boundary (0 if not element-aligned), <= n. */
static inline int64_t head_to_32(const void *x, size_t elem, int64_t n) {
    const uintptr_t mis = (uintptr_t)x & 31;
    if (!mis || mis % elem) return 0;
    const int64_t h = (int64_t)((32 - mis) / elem);
    return h < n ? h : n;
}

/* The variadic tail is the loop body for 16 elements at x + i, y + i. Activations are F32 for
 * every float weight format (see quant_float.c). */
#define FLOAT_DOT(T, conv, ...)                                                                 \
    const T *x = w;                                                                                \
    const float *y = a;                                                                            \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                 \
    float sum = 0;                                                                                 \
    int64_t i = 0;                                                                                 \
    for (const int64_t head = head_to_32(x, sizeof(T), n); i < head; i++) sum += conv(x[i]) * y[i]; \
    for (; i + 16 <= n; i += 16) __VA_ARGS__                                                       \
    sum += hsum_ps(_mm256_add_ps(acc0, acc1));                                                     \
    for (; i < n; i++) sum += conv(x[i]) * y[i];                                                   \
    *s = sum;

static inline float f2f(float f) { return f; }

void tn_dot_f32_avx2(int64_t n, float *s, const void *w, const void *a) {
    FLOAT_DOT(float, f2f, {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    })
}

void tn_dot_f16_avx2(int64_t n, float *s, const void *w, const void *a) {
    FLOAT_DOT(uint16_t, h2f, {
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(load128(x + i)), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(load128(x + i + 8)), _mm256_loadu_ps(y + i + 8), acc1);
    })
}

/* bf16 -> f32 is a 16-bit shift of the zero-extended value. */
static inline __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}

void tn_dot_bf16_avx2(int64_t n, float *s, const void *w, const void *a) {
    FLOAT_DOT(uint16_t, bf2f, {
        acc0 = _mm256_fmadd_ps(bf16x8(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(bf16x8(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    })
}

#endif
