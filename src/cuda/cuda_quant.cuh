/* Device layouts of the quantized weight types and the per-item arithmetic on them, shared by the
 * mat-vec, dequantization and embedding kernels and by the host-side self-test.
 *
 * Every quantized weight is repacked at load time into "items" of 32 consecutive elements of a
 * row, stored as three separate arrays so that a warp reading 32 consecutive items issues wide,
 * fully coalesced loads:
 *   A: QA bytes per item (the low bits: 16 B of nibbles, 8 B of 2-bit values or 32 B of int8)
 *   B: QB bytes per item (extra high bits), may be 0
 *   S: QS bytes per super-block of IPS items (scales, mins; IPS = 1 for 32-element formats)
 * Nibbles use one order everywhere ("order N"): byte j of A holds element j in its low nibble and
 * element j+16 in its high nibble, so the 32-bit word k of A gives, masked, elements 4k..4k+3
 * (low nibbles) and 16+4k..16+4k+3 (high nibbles) — the same int8 word order as the activations.
 * 2-bit values (Q2_K, Q3_K): two words w0 (elements 0..15) and w1 (16..31); byte i of w holds the
 * element 4m+i of its half in bits 2m..2m+1. Single high bits (Q5_*, Q3_K): one word H, byte i
 * bit k = high bit of element 4k+i. Q6_K's 2-bit high parts: words hA (0..15), hB (16..31) laid
 * out like 2-bit values.
 *
 * Activations for these kernels are quantized per item like Q8_0 (int8, scale d = amax/127) and
 * carry the integer sums of each 16-element half (for formats with offsets or mins), so a dot
 * product is integer dp4a work plus a few float multiplies per item. */
#ifndef TN_CUDA_CUDA_QUANT_CUH
#define TN_CUDA_CUDA_QUANT_CUH

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cuda_fp16.h>

#include "formats/types.h"

#define TN_HD __host__ __device__ __forceinline__
#ifdef __CUDA_ARCH__
#define TN_UNROLL _Pragma("unroll")
#else
#define TN_UNROLL
#endif

/* Activation item metadata: scale and the sums of the int8 values of each 16-element half. */
typedef struct tn_cu_xmeta {
    float d;
    int16_t s0, s1;
} tn_cu_xmeta;

TN_HD float tn_cu_h2f(uint16_t h) {
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(h));
#else
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
#endif
}

TN_HD float tn_cu_bf2f(uint16_t h) {
#ifdef __CUDA_ARCH__
    return __uint_as_float((uint32_t)h << 16);
#else
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
#endif
}

TN_HD int tn_cu_dp4a(int a, int b, int c) {
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, c);
#else
    for (int i = 0; i < 4; i++) c += (int8_t)(a >> (8 * i)) * (int8_t)(b >> (8 * i));
    return c;
#endif
}

/* Aligned loads of weight bytes, zero-extended; on the device through the read-only data path
 * (weights never change while a kernel runs). */
TN_HD uint32_t tn_cu_ld8(const uint8_t *p) {
#ifdef __CUDA_ARCH__
    return __ldg(p);
#else
    return *p;
#endif
}

TN_HD uint32_t tn_cu_ld16(const uint8_t *p) {
#ifdef __CUDA_ARCH__
    return __ldg((const unsigned short *)p);
#else
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
#endif
}

TN_HD uint32_t tn_cu_ld32(const uint8_t *p) {
#ifdef __CUDA_ARCH__
    return __ldg((const unsigned int *)p);
#else
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#endif
}

/* Four 4-bit codebook indices (one per byte) -> four int8 codebook values. The table is passed
 * as four little-endian words of 4 int8 entries each. */
TN_HD int tn_cu_lut16(uint32_t idx, uint32_t t0, uint32_t t1, uint32_t t2, uint32_t t3) {
#ifdef __CUDA_ARCH__
    uint32_t lo3 = idx & 0x07070707u;
    uint32_t t = lo3 | (lo3 >> 4);
    uint32_t sel = (t & 0xFFu) | ((t >> 8) & 0xFF00u);
    uint32_t rlo = __byte_perm(t0, t1, sel);
    uint32_t rhi = __byte_perm(t2, t3, sel);
    uint32_t mask = ((idx >> 3) & 0x01010101u) * 0xFFu;
    return (int)((rlo & ~mask) | (rhi & mask));
#else
    uint32_t tab[4] = {t0, t1, t2, t3}, r = 0;
    for (int i = 0; i < 4; i++) {
        uint32_t q = (idx >> (8 * i)) & 15;
        r |= ((tab[q / 4] >> (8 * (q % 4))) & 0xFF) << (8 * i);
    }
    return (int)r;
#endif
}

/* The IQ4_NL codebook as words (same values as tn_kvalues_iq4nl) and the doubled MXFP4 values. */
#define TN_CU_IQ4_W(a, b, c, d)                                                                    \
    ((uint32_t)(uint8_t)(int8_t)(a) | ((uint32_t)(uint8_t)(int8_t)(b) << 8) |                      \
     ((uint32_t)(uint8_t)(int8_t)(c) << 16) | ((uint32_t)(uint8_t)(int8_t)(d) << 24))
#define TN_CU_IQ4_WORDS                                                                            \
    TN_CU_IQ4_W(-127, -104, -83, -65), TN_CU_IQ4_W(-49, -35, -22, -10), TN_CU_IQ4_W(1, 13, 25, 38), \
        TN_CU_IQ4_W(53, 69, 89, 113)
#define TN_CU_MXFP4_WORDS                                                                          \
    TN_CU_IQ4_W(0, 1, 2, 3), TN_CU_IQ4_W(4, 6, 8, 12), TN_CU_IQ4_W(0, -1, -2, -3),                  \
        TN_CU_IQ4_W(-4, -6, -8, -12)

TN_HD float tn_cu_e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23);
#ifdef __CUDA_ARCH__
    return __uint_as_float(bits);
#else
    float f;
    memcpy(&f, &bits, 4);
    return f;
#endif
}

/* Sum over the 8 dp4a words of 4-bit values in order N: lo words use x[k], hi words x[k+4]. Returns
 * the two half sums separately (elements 0..15 and 16..31). */
TN_HD void tn_cu_dot_nib(const uint32_t a[4], const int x[8], int &lo, int &hi) {
    lo = 0;
    hi = 0;
TN_UNROLL
    for (int k = 0; k < 4; k++) {
        lo = tn_cu_dp4a((int)(a[k] & 0x0F0F0F0Fu), x[k], lo);
        hi = tn_cu_dp4a((int)((a[k] >> 4) & 0x0F0F0F0Fu), x[k + 4], hi);
    }
}

/* ---- per-type traits ----
 * QA/QB/QS/IPS as in the file comment. A dot product of an item with one quantized activation
 * item is split in two so that the mat-vec can issue every load of a batch before it computes:
 * meta() loads the NM words of B and S bytes the item needs (its high bits, scales, mins), dotm()
 * is the arithmetic on the A words and those. deq(): the item's 32 values, computed with the same
 * float expressions as the CPU dequantizers (so they are bit-identical). `it` is the item index
 * within its super-block (0 when IPS = 1); `s` points at the super-block's S bytes. */
template <int T> struct tn_cu_qt;

/* meta() then dotm(): the item's contribution to a dot product (host self-test, reference). */
template <int T>
TN_HD float tn_cu_qdot(const uint32_t *a, const uint8_t *b, const uint8_t *s, int it, const int x[8],
                       tn_cu_xmeta xm) {
    uint32_t m[tn_cu_qt<T>::NM];
    tn_cu_qt<T>::meta(b, s, it, m);
    return tn_cu_qt<T>::dotm(a, m, x, xm);
}

TN_HD float tn_cu_mh2f(uint32_t w, int half) { return tn_cu_h2f((uint16_t)(w >> (16 * half))); }

template <> struct tn_cu_qt<TN_TYPE_Q4_0> {
    static constexpr int QA = 16, QB = 0, QS = 2, IPS = 1, NM = 1;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[1]) {
        (void)b, (void)it;
        m[0] = tn_cu_ld16(s);
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[1], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_nib(a, x, lo, hi);
        return tn_cu_mh2f(m[0], 0) * xm.d * (float)(lo + hi - 8 * (xm.s0 + xm.s1));
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *, const uint8_t *s, int, float *y) {
        const float d = tn_cu_h2f(tn_cu_ld16(s));
        for (int j = 0; j < 16; j++) {
            int b = (a[j / 4] >> (8 * (j % 4))) & 0xFF;
            y[j] = ((b & 0xF) - 8) * d;
            y[j + 16] = ((b >> 4) - 8) * d;
        }
    }
};

template <> struct tn_cu_qt<TN_TYPE_Q4_1> {
    static constexpr int QA = 16, QB = 0, QS = 4, IPS = 1, NM = 1;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[1]) {
        (void)b, (void)it;
        m[0] = tn_cu_ld32(s);
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[1], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_nib(a, x, lo, hi);
        return xm.d * (tn_cu_mh2f(m[0], 0) * (float)(lo + hi) + tn_cu_mh2f(m[0], 1) * (float)(xm.s0 + xm.s1));
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *, const uint8_t *s, int, float *y) {
        const float d = tn_cu_h2f(tn_cu_ld16(s)), m = tn_cu_h2f(tn_cu_ld16(s + 2));
        for (int j = 0; j < 16; j++) {
            int b = (a[j / 4] >> (8 * (j % 4))) & 0xFF;
            y[j] = (b & 0xF) * d + m;
            y[j + 16] = (b >> 4) * d + m;
        }
    }
};

/* 4-bit nibbles plus a fifth bit from H (Q5_0, Q5_1, Q5_K). */
TN_HD void tn_cu_dot_nib5(const uint32_t a[4], uint32_t h, const int x[8], int &lo, int &hi) {
    lo = 0;
    hi = 0;
TN_UNROLL
    for (int k = 0; k < 4; k++) {
        uint32_t vl = (a[k] & 0x0F0F0F0Fu) | (((h >> k) & 0x01010101u) << 4);
        uint32_t vh = ((a[k] >> 4) & 0x0F0F0F0Fu) | (((h >> (k + 4)) & 0x01010101u) << 4);
        lo = tn_cu_dp4a((int)vl, x[k], lo);
        hi = tn_cu_dp4a((int)vh, x[k + 4], hi);
    }
}

TN_HD void tn_cu_unpack_nib5(const uint32_t a[4], uint32_t h, int *q) {
    for (int j = 0; j < 16; j++) {
        int b = (a[j / 4] >> (8 * (j % 4))) & 0xFF;
        int k = j / 4, i = j % 4;
        q[j] = (b & 0xF) | (((h >> (8 * i + k)) & 1) << 4);
        q[j + 16] = (b >> 4) | (((h >> (8 * i + k + 4)) & 1) << 4);
    }
}

template <> struct tn_cu_qt<TN_TYPE_Q5_0> {
    static constexpr int QA = 16, QB = 4, QS = 2, IPS = 1, NM = 2;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[2]) {
        (void)it;
        m[0] = tn_cu_ld32(b);
        m[1] = tn_cu_ld16(s);
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[2], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_nib5(a, m[0], x, lo, hi);
        return tn_cu_mh2f(m[1], 0) * xm.d * (float)(lo + hi - 16 * (xm.s0 + xm.s1));
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *b, const uint8_t *s, int, float *y) {
        int q[32];
        tn_cu_unpack_nib5(a, tn_cu_ld32(b), q);
        const float d = tn_cu_h2f(tn_cu_ld16(s));
        for (int j = 0; j < 32; j++) y[j] = (q[j] - 16) * d;
    }
};

template <> struct tn_cu_qt<TN_TYPE_Q5_1> {
    static constexpr int QA = 16, QB = 4, QS = 4, IPS = 1, NM = 2;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[2]) {
        (void)it;
        m[0] = tn_cu_ld32(b);
        m[1] = tn_cu_ld32(s);
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[2], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_nib5(a, m[0], x, lo, hi);
        return xm.d * (tn_cu_mh2f(m[1], 0) * (float)(lo + hi) + tn_cu_mh2f(m[1], 1) * (float)(xm.s0 + xm.s1));
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *b, const uint8_t *s, int, float *y) {
        int q[32];
        tn_cu_unpack_nib5(a, tn_cu_ld32(b), q);
        const float d = tn_cu_h2f(tn_cu_ld16(s)), m = tn_cu_h2f(tn_cu_ld16(s + 2));
        for (int j = 0; j < 32; j++) y[j] = q[j] * d + m;
    }
};

template <> struct tn_cu_qt<TN_TYPE_Q8_0> {
    static constexpr int QA = 32, QB = 0, QS = 2, IPS = 1, NM = 1;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[1]) {
        (void)b, (void)it;
        m[0] = tn_cu_ld16(s);
    }
    static TN_HD float dotm(const uint32_t a[8], const uint32_t m[1], const int x[8], tn_cu_xmeta xm) {
        int acc = 0;
TN_UNROLL
        for (int k = 0; k < 8; k++) acc = tn_cu_dp4a((int)a[k], x[k], acc);
        return tn_cu_mh2f(m[0], 0) * xm.d * (float)acc;
    }
    static TN_HD void deq(const uint32_t a[8], const uint8_t *, const uint8_t *s, int, float *y) {
        const float d = tn_cu_h2f(tn_cu_ld16(s));
        for (int j = 0; j < 32; j++) y[j] = (int8_t)(a[j / 4] >> (8 * (j % 4))) * d;
    }
};

/* Codebook formats: 4-bit indices in order N. */
template <uint32_t T0, uint32_t T1, uint32_t T2, uint32_t T3>
TN_HD void tn_cu_dot_lut(const uint32_t a[4], const int x[8], int &lo, int &hi) {
    lo = 0;
    hi = 0;
TN_UNROLL
    for (int k = 0; k < 4; k++) {
        lo = tn_cu_dp4a(tn_cu_lut16(a[k] & 0x0F0F0F0Fu, T0, T1, T2, T3), x[k], lo);
        hi = tn_cu_dp4a(tn_cu_lut16((a[k] >> 4) & 0x0F0F0F0Fu, T0, T1, T2, T3), x[k + 4], hi);
    }
}

TN_HD int tn_cu_iq4_value(int q) {
    const int8_t v[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    return v[q];
}

TN_HD int tn_cu_mxfp4_value(int q) {
    const int8_t v[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    return v[q];
}

template <> struct tn_cu_qt<TN_TYPE_IQ4_NL> {
    static constexpr int QA = 16, QB = 0, QS = 2, IPS = 1, NM = 1;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[1]) {
        (void)b, (void)it;
        m[0] = tn_cu_ld16(s);
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[1], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_lut<TN_CU_IQ4_WORDS>(a, x, lo, hi);
        return tn_cu_mh2f(m[0], 0) * xm.d * (float)(lo + hi);
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *, const uint8_t *s, int, float *y) {
        const float d = tn_cu_h2f(tn_cu_ld16(s));
        for (int j = 0; j < 16; j++) {
            int b = (a[j / 4] >> (8 * (j % 4))) & 0xFF;
            y[j] = d * tn_cu_iq4_value(b & 0xF);
            y[j + 16] = d * tn_cu_iq4_value(b >> 4);
        }
    }
};

template <> struct tn_cu_qt<TN_TYPE_MXFP4> {
    static constexpr int QA = 16, QB = 0, QS = 1, IPS = 1, NM = 1;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[1]) {
        (void)b, (void)it;
        m[0] = tn_cu_ld8(s);
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[1], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_lut<TN_CU_MXFP4_WORDS>(a, x, lo, hi);
        return tn_cu_e8m0_half((uint8_t)m[0]) * xm.d * (float)(lo + hi);
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *, const uint8_t *s, int, float *y) {
        const float d = tn_cu_e8m0_half(s[0]);
        for (int j = 0; j < 16; j++) {
            int b = (a[j / 4] >> (8 * (j % 4))) & 0xFF;
            y[j] = tn_cu_mxfp4_value(b & 0xF) * d;
            y[j + 16] = tn_cu_mxfp4_value(b >> 4) * d;
        }
    }
};

/* IQ4_XS: S = {half d, u16 pad, int8 scale[8] (already minus 32)}. */
template <> struct tn_cu_qt<TN_TYPE_IQ4_XS> {
    static constexpr int QA = 16, QB = 0, QS = 12, IPS = 8, NM = 2;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[2]) {
        (void)b;
        m[0] = tn_cu_ld16(s);
        m[1] = tn_cu_ld8(s + 4 + it);
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[2], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_lut<TN_CU_IQ4_WORDS>(a, x, lo, hi);
        const float dl = tn_cu_mh2f(m[0], 0) * (int8_t)m[1];
        return dl * (xm.d * (float)(lo + hi));
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *, const uint8_t *s, int it, float *y) {
        const float dl = tn_cu_h2f(tn_cu_ld16(s)) * (int8_t)s[4 + it];
        for (int j = 0; j < 16; j++) {
            int b = (a[j / 4] >> (8 * (j % 4))) & 0xFF;
            y[j] = dl * tn_cu_iq4_value(b & 0xF);
            y[j + 16] = dl * tn_cu_iq4_value(b >> 4);
        }
    }
};

/* 2-bit values (w0: elements 0..15, w1: 16..31) with an optional third bit from H. */
TN_HD void tn_cu_dot_2bit(const uint32_t a[2], uint32_t h, bool use_h, const int x[8], int &lo,
                          int &hi) {
    lo = 0;
    hi = 0;
TN_UNROLL
    for (int m = 0; m < 4; m++) {
        uint32_t vl = (a[0] >> (2 * m)) & 0x03030303u;
        uint32_t vh = (a[1] >> (2 * m)) & 0x03030303u;
        if (use_h) {
            vl |= ((h >> m) & 0x01010101u) << 2;
            vh |= ((h >> (m + 4)) & 0x01010101u) << 2;
        }
        lo = tn_cu_dp4a((int)vl, x[m], lo);
        hi = tn_cu_dp4a((int)vh, x[m + 4], hi);
    }
}

TN_HD int tn_cu_2bit_at(const uint32_t a[2], int e) {
    int half = e / 16, l = e % 16, m = l / 4, i = l % 4;
    return (a[half] >> (8 * i + 2 * m)) & 3;
}

/* Q2_K: S = {half d, half dmin, u8 scales[16] (low nibble scale, high nibble min)}. */
template <> struct tn_cu_qt<TN_TYPE_Q2_K> {
    static constexpr int QA = 8, QB = 0, QS = 20, IPS = 8, NM = 2;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[2]) {
        (void)b;
        m[0] = tn_cu_ld32(s);
        m[1] = tn_cu_ld16(s + 4 + 2 * it);
    }
    static TN_HD float dotm(const uint32_t a[2], const uint32_t m[2], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_2bit(a, 0, false, x, lo, hi);
        const float d = tn_cu_mh2f(m[0], 0), dmin = tn_cu_mh2f(m[0], 1);
        const int sc0 = m[1] & 0xFF, sc1 = m[1] >> 8;
        return xm.d * (d * (float)((sc0 & 15) * lo + (sc1 & 15) * hi) -
                       dmin * (float)((sc0 >> 4) * xm.s0 + (sc1 >> 4) * xm.s1));
    }
    static TN_HD void deq(const uint32_t a[2], const uint8_t *, const uint8_t *s, int it, float *y) {
        const float d = tn_cu_h2f(tn_cu_ld16(s)), dmin = tn_cu_h2f(tn_cu_ld16(s + 2));
        for (int h = 0; h < 2; h++) {
            const int sc = s[4 + 2 * it + h];
            const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            for (int l = 0; l < 16; l++) y[16 * h + l] = dl * tn_cu_2bit_at(a, 16 * h + l) - ml;
        }
    }
};

/* Q3_K: B = H (third bit), S = {half d, u16 pad, int8 scales[16] (already minus 32)}. */
template <> struct tn_cu_qt<TN_TYPE_Q3_K> {
    static constexpr int QA = 8, QB = 4, QS = 20, IPS = 8, NM = 2;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[2]) {
        m[0] = tn_cu_ld32(b);
        m[1] = tn_cu_ld16(s) | tn_cu_ld16(s + 4 + 2 * it) << 16;
    }
    static TN_HD float dotm(const uint32_t a[2], const uint32_t m[2], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_2bit(a, m[0], true, x, lo, hi);
        const float d = tn_cu_mh2f(m[1], 0);
        const int sc0 = (int8_t)(m[1] >> 16), sc1 = (int8_t)(m[1] >> 24);
        return d * xm.d * (float)(sc0 * (lo - 4 * xm.s0) + sc1 * (hi - 4 * xm.s1));
    }
    static TN_HD void deq(const uint32_t a[2], const uint8_t *b, const uint8_t *s, int it, float *y) {
        const uint32_t h = tn_cu_ld32(b);
        const float d = tn_cu_h2f(tn_cu_ld16(s));
        for (int hf = 0; hf < 2; hf++) {
            const float dl = d * (int8_t)s[4 + 2 * it + hf];
            for (int l = 0; l < 16; l++) {
                int e = 16 * hf + l;
                int q = tn_cu_2bit_at(a, e) | (((h >> (8 * (e % 4) + e / 4)) & 1) << 2);
                y[e] = dl * (q - 4);
            }
        }
    }
};

/* Q4_K: B = {u8 scale, u8 min} of the item, S = {half d, half dmin}. */
template <> struct tn_cu_qt<TN_TYPE_Q4_K> {
    static constexpr int QA = 16, QB = 2, QS = 4, IPS = 8, NM = 2;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[2]) {
        (void)it;
        m[0] = tn_cu_ld32(s);
        m[1] = tn_cu_ld16(b);
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[2], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_nib(a, x, lo, hi);
        const float d = tn_cu_mh2f(m[0], 0), dmin = tn_cu_mh2f(m[0], 1);
        return xm.d * (d * (m[1] & 0xFF) * (float)(lo + hi) - dmin * (m[1] >> 8) * (float)(xm.s0 + xm.s1));
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *b, const uint8_t *s, int, float *y) {
        const float d = tn_cu_h2f(tn_cu_ld16(s)), dmin = tn_cu_h2f(tn_cu_ld16(s + 2));
        const float dl = d * b[0], ml = dmin * b[1];
        for (int j = 0; j < 16; j++) {
            int v = (a[j / 4] >> (8 * (j % 4))) & 0xFF;
            y[j] = dl * (v & 0xF) - ml;
            y[j + 16] = dl * (v >> 4) - ml;
        }
    }
};

/* Q5_K: B = H, S = {half d, half dmin, u8 scale[8], u8 min[8]}. */
template <> struct tn_cu_qt<TN_TYPE_Q5_K> {
    static constexpr int QA = 16, QB = 4, QS = 20, IPS = 8, NM = 3;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[3]) {
        m[0] = tn_cu_ld32(b);
        m[1] = tn_cu_ld32(s);
        m[2] = tn_cu_ld8(s + 4 + it) | tn_cu_ld8(s + 12 + it) << 8;
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[3], const int x[8], tn_cu_xmeta xm) {
        int lo, hi;
        tn_cu_dot_nib5(a, m[0], x, lo, hi);
        const float d = tn_cu_mh2f(m[1], 0), dmin = tn_cu_mh2f(m[1], 1);
        return xm.d * (d * (m[2] & 0xFF) * (float)(lo + hi) - dmin * (m[2] >> 8) * (float)(xm.s0 + xm.s1));
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *b, const uint8_t *s, int it, float *y) {
        int q[32];
        tn_cu_unpack_nib5(a, tn_cu_ld32(b), q);
        const float d = tn_cu_h2f(tn_cu_ld16(s)), dmin = tn_cu_h2f(tn_cu_ld16(s + 2));
        const float dl = d * s[4 + it], ml = dmin * s[12 + it];
        for (int j = 0; j < 32; j++) y[j] = dl * q[j] - ml;
    }
};

/* Q6_K: A = low nibbles (order N), B = {hA, hB} high 2-bit parts, S = {half d, u16 pad,
 * int8 scales[16]}. */
template <> struct tn_cu_qt<TN_TYPE_Q6_K> {
    static constexpr int QA = 16, QB = 8, QS = 20, IPS = 8, NM = 3;
    static TN_HD void meta(const uint8_t *b, const uint8_t *s, int it, uint32_t m[3]) {
        m[0] = tn_cu_ld32(b);
        m[1] = tn_cu_ld32(b + 4);
        m[2] = tn_cu_ld16(s) | tn_cu_ld16(s + 4 + 2 * it) << 16;
    }
    static TN_HD float dotm(const uint32_t a[4], const uint32_t m[3], const int x[8], tn_cu_xmeta xm) {
        const uint32_t ha = m[0], hb = m[1];
        int lo = 0, hi = 0;
TN_UNROLL
        for (int k = 0; k < 4; k++) {
            uint32_t vl = (a[k] & 0x0F0F0F0Fu) | (((ha >> (2 * k)) & 0x03030303u) << 4);
            uint32_t vh = ((a[k] >> 4) & 0x0F0F0F0Fu) | (((hb >> (2 * k)) & 0x03030303u) << 4);
            lo = tn_cu_dp4a((int)vl, x[k], lo);
            hi = tn_cu_dp4a((int)vh, x[k + 4], hi);
        }
        const int sc0 = (int8_t)(m[2] >> 16), sc1 = (int8_t)(m[2] >> 24);
        return tn_cu_mh2f(m[2], 0) * xm.d * (float)(sc0 * (lo - 32 * xm.s0) + sc1 * (hi - 32 * xm.s1));
    }
    static TN_HD void deq(const uint32_t a[4], const uint8_t *b, const uint8_t *s, int it, float *y) {
        const uint32_t h[2] = {tn_cu_ld32(b), tn_cu_ld32(b + 4)};
        const float d = tn_cu_h2f(tn_cu_ld16(s));
        for (int e = 0; e < 32; e++) {
            int byte = (a[(e % 16) / 4] >> (8 * (e % 4))) & 0xFF;
            int lo = e < 16 ? (byte & 0xF) : (byte >> 4);
            int q = lo | (tn_cu_2bit_at(h, e) << 4);
            y[e] = d * (int8_t)s[4 + 2 * it + e / 16] * (q - 32);
        }
    }
};

/* Quantizes 32 activations like Q8_0 (scale amax/127, round half away from zero) and records
 * the half sums. Shared by the device kernels and the host self-test. */
TN_HD void tn_cu_quant_item(const float *x, int8_t *q, tn_cu_xmeta *m) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int s0 = 0, s1 = 0;
    for (int j = 0; j < 32; j++) {
        int v = (int)roundf(x[j] * id);
        q[j] = (int8_t)v;
        if (j < 16) s0 += v;
        else s1 += v;
    }
    m->d = d;
    m->s0 = (int16_t)s0;
    m->s1 = (int16_t)s1;
}

#ifdef __CUDACC__
/* Quantizes one 32-element item held by a warp, lane l holding value l (tn_cu_quant_item's
 * arithmetic): returns the lane's int8 value and the item's metadata in *m (valid in lane 0; s0 is
 * the lane's half's sum elsewhere). */
__device__ __forceinline__ int8_t tn_cu_warp_quant_item(float x, tn_cu_xmeta *m) {
    float amax = fabsf(x);
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const int v = (int)roundf(x * id);
    int s = v; /* sums of the two 16-value halves: lanes 0-15 (s0) and 16-31 (s1) */
    for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    m->d = d;
    m->s0 = (int16_t)s;
    m->s1 = (int16_t)__shfl_sync(0xffffffffu, s, 16);
    return (int8_t)v;
}

/* n_items 32-value items of src quantized by the block's warps (warp w takes items w, w + n_warps,
 * ...; lane l value l) into xq[item * 32 + l] and xm[item]. */
__device__ __forceinline__ void tn_cu_quant_items(const float *src, int n_items, int8_t *xq, tn_cu_xmeta *xm,
                                                  int warp, int n_warps) {
    const int lane = threadIdx.x & 31;
    for (int it = warp; it < n_items; it += n_warps) {
        tn_cu_xmeta m;
        xq[it * 32 + lane] = tn_cu_warp_quant_item(src[it * 32 + lane], &m);
        if (lane == 0) xm[it] = m;
    }
}
#endif

#endif
