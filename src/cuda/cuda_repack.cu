/* Host side of the CUDA weight layouts: which types have one, repacking GGUF blocks into the item
 * layout described in cuda_quant.cuh, and a host-only self-test of that layout (the per-item
 * functions are __host__ __device__, so the arithmetic the kernels run is checked without a GPU).
 * GGUF block byte offsets follow ggml's structs (see formats/quant_blocks.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.cuh"

extern "C" {
#include "core/half.h"
}

bool tn_cu_is_float(int type) {
    return type == TN_TYPE_F32 || type == TN_TYPE_F16 || type == TN_TYPE_BF16;
}

bool tn_cu_layout(int type, int *qa, int *qb, int *qs, int *ips) {
    switch (type) {
#define TN_CU_LAYOUT_CASE(T)                                                                       \
    case T:                                                                                        \
        *qa = tn_cu_qt<T>::QA;                                                                     \
        *qb = tn_cu_qt<T>::QB;                                                                     \
        *qs = tn_cu_qt<T>::QS;                                                                     \
        *ips = tn_cu_qt<T>::IPS;                                                                   \
        return true;
        TN_CU_LAYOUT_CASE(TN_TYPE_Q4_0)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q4_1)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q5_0)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q5_1)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q8_0)
        TN_CU_LAYOUT_CASE(TN_TYPE_IQ4_NL)
        TN_CU_LAYOUT_CASE(TN_TYPE_MXFP4)
        TN_CU_LAYOUT_CASE(TN_TYPE_IQ4_XS)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q2_K)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q3_K)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q4_K)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q5_K)
        TN_CU_LAYOUT_CASE(TN_TYPE_Q6_K)
#undef TN_CU_LAYOUT_CASE
    default:
        return false;
    }
}

/* ---- packing helpers: 32 small integers of one item into the layout's bit arrangements ---- */

static void pack_nib(const int q[32], uint8_t *a) { /* order N */
    for (int j = 0; j < 16; j++) a[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

static void pack_2bit(const int q[32], uint8_t *a) {
    memset(a, 0, 8);
    for (int e = 0; e < 32; e++) {
        int half = e / 16, l = e % 16, m = l / 4, i = l % 4;
        a[4 * half + i] |= (uint8_t)((q[e] & 3) << (2 * m));
    }
}

static void pack_1bit(const int q[32], uint8_t *b) { /* byte i bit k = element 4k+i */
    memset(b, 0, 4);
    for (int e = 0; e < 32; e++) b[e % 4] |= (uint8_t)((q[e] & 1) << (e / 4));
}

static inline uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* The 6-bit scale and min j of a Q4_K / Q5_K block (ggml's get_scale_min_k4). */
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Repacks one GGUF block (32 or 256 elements) into its item(s). a/b point at the block's first
 * item in A/B, s at its super-block (or item) in S. */
static void repack_block(int type, const uint8_t *x, uint8_t *a, uint8_t *b, uint8_t *s) {
    int q[32], h[32];
    switch (type) {
    case TN_TYPE_Q4_0: /* d, qs[16] */
    case TN_TYPE_IQ4_NL:
        put16(s, rd16(x));
        memcpy(a, x + 2, 16);
        break;
    case TN_TYPE_MXFP4: /* e, qs[16] */
        s[0] = x[0];
        memcpy(a, x + 1, 16);
        break;
    case TN_TYPE_Q4_1: /* d, m, qs[16] */
        memcpy(s, x, 4);
        memcpy(a, x + 4, 16);
        break;
    case TN_TYPE_Q5_0:   /* d, qh[4], qs[16] */
    case TN_TYPE_Q5_1: { /* d, m, qh[4], qs[16] */
        int off = type == TN_TYPE_Q5_0 ? 2 : 4;
        memcpy(s, x, (size_t)off);
        uint32_t qh;
        memcpy(&qh, x + off, 4);
        for (int e = 0; e < 32; e++) h[e] = (qh >> e) & 1;
        pack_1bit(h, b);
        memcpy(a, x + off + 4, 16);
        break;
    }
    case TN_TYPE_Q8_0: /* d, qs[32] */
        put16(s, rd16(x));
        memcpy(a, x + 2, 32);
        break;
    case TN_TYPE_IQ4_XS: { /* d, scales_h, scales_l[4], qs[128] */
        put16(s, rd16(x));
        put16(s + 2, 0);
        uint16_t sh = rd16(x + 2);
        for (int ib = 0; ib < 8; ib++) {
            int ls = ((x[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((sh >> (2 * ib)) & 3) << 4);
            s[4 + ib] = (uint8_t)(int8_t)(ls - 32);
            memcpy(a + 16 * ib, x + 8 + 16 * ib, 16);
        }
        break;
    }
    case TN_TYPE_Q2_K: { /* scales[16], qs[64], d, dmin */
        const uint8_t *qs = x + 16;
        memcpy(s, x + 80, 4);
        memcpy(s + 4, x, 16);
        for (int it = 0; it < 8; it++) {
            for (int l = 0; l < 32; l++) {
                int e = 32 * it + l;
                q[l] = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            }
            pack_2bit(q, a + 8 * it);
        }
        break;
    }
    case TN_TYPE_Q3_K: { /* hmask[32], qs[64], scales[12], d */
        const uint8_t *hm = x, *qs = x + 32, *sc = x + 96;
        put16(s, rd16(x + 108));
        put16(s + 2, 0);
        for (int j = 0; j < 16; j++) {
            int lo = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
            int hi = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
            s[4 + j] = (uint8_t)(int8_t)((lo | (hi << 4)) - 32);
        }
        for (int it = 0; it < 8; it++) {
            for (int l = 0; l < 32; l++) {
                int e = 32 * it + l;
                q[l] = (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
                h[l] = (hm[e % 32] >> (e / 32)) & 1;
            }
            pack_2bit(q, a + 8 * it);
            pack_1bit(h, b + 4 * it);
        }
        break;
    }
    case TN_TYPE_Q4_K:   /* d, dmin, scales[12], qs[128] */
    case TN_TYPE_Q5_K: { /* d, dmin, scales[12], qh[32], qs[128] */
        const uint8_t *sc = x + 4;
        const uint8_t *qh = x + 16;
        const uint8_t *qs = type == TN_TYPE_Q4_K ? x + 16 : x + 48;
        memcpy(s, x, 4);
        for (int it = 0; it < 8; it++) {
            int scale, mn;
            scale_min_k4(it, sc, &scale, &mn);
            if (type == TN_TYPE_Q4_K) {
                b[2 * it] = (uint8_t)scale;
                b[2 * it + 1] = (uint8_t)mn;
            } else {
                s[4 + it] = (uint8_t)scale;
                s[12 + it] = (uint8_t)mn;
            }
            for (int l = 0; l < 32; l++) {
                int e = 32 * it + l;
                uint8_t v = qs[32 * (e / 64) + e % 32];
                q[l] = (e % 64) < 32 ? (v & 0xF) : (v >> 4);
                h[l] = (qh[e % 32] >> (e / 32)) & 1;
            }
            pack_nib(q, a + 16 * it);
            if (type == TN_TYPE_Q5_K) pack_1bit(h, b + 4 * it);
        }
        break;
    }
    case TN_TYPE_Q6_K: { /* ql[128], qh[64], scales[16], d */
        const uint8_t *ql = x, *qh = x + 128;
        put16(s, rd16(x + 208));
        put16(s + 2, 0);
        memcpy(s + 4, x + 192, 16);
        for (int it = 0; it < 8; it++) {
            for (int l = 0; l < 32; l++) {
                int e = 32 * it + l;
                int c = e / 128, g = (e % 128) / 32, m = e % 32;
                uint8_t v = ql[64 * c + m + 32 * (g & 1)];
                q[l] = g < 2 ? (v & 0xF) : (v >> 4);
                h[l] = (qh[32 * c + m] >> (2 * g)) & 3;
            }
            pack_nib(q, a + 16 * it);
            pack_2bit(h, b + 8 * it);
        }
        break;
    }
    default:
        break;
    }
}

void tn_cu_repack(int type, const void *src, int64_t n_in, int64_t n_out, uint8_t *a, uint8_t *b,
                  uint8_t *s) {
    int qa, qb, qs, ips;
    tn_cu_layout(type, &qa, &qb, &qs, &ips);
    const tn_type_info *ti = tn_type_get(type);
    const int64_t n_items = n_in / 32, n_blocks = n_in / ti->block_size;
    const int items_per_block = ti->block_size / 32;
    const uint8_t *x = (const uint8_t *)src;
    for (int64_t r = 0; r < n_out; r++) {
        for (int64_t blk = 0; blk < n_blocks; blk++) {
            int64_t it = r * n_items + blk * items_per_block;
            /* a super-block holds IPS items; blocks map 1:1 onto super-blocks */
            repack_block(type, x, a + it * qa, qb ? b + it * qb : NULL, s + (it / ips) * qs);
            x += ti->type_size;
        }
    }
}

/* ---- self-test ---- */

template <int T>
static int check_type(char *msg, size_t cap, uint64_t *seed) {
    using Q = tn_cu_qt<T>;
    const int64_t n_in = 512, n_out = 3, n_items = n_in / 32;
    float *w = (float *)malloc(sizeof(float) * n_in * n_out);
    float *ref = (float *)malloc(sizeof(float) * n_in);
    float x[512];
    size_t row = tn_row_size(T, n_in);
    uint8_t *blocks = (uint8_t *)malloc(row * n_out);
    uint8_t *a = (uint8_t *)calloc(1, (size_t)(n_items * n_out * Q::QA));
    uint8_t *b = (uint8_t *)calloc(1, (size_t)(n_items * n_out * (Q::QB ? Q::QB : 1)));
    uint8_t *s = (uint8_t *)calloc(1, (size_t)(n_items / Q::IPS * n_out * Q::QS));
    int rc = 0;
    for (int64_t i = 0; i < n_in * n_out; i++) { /* uniform-ish in [-1, 1) with a few outliers */
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        float u = (float)((*seed >> 40) & 0xFFFFFF) / 16777216.0f * 2.0f - 1.0f;
        w[i] = (i % 97 == 0) ? 4.0f * u : u;
    }
    for (int64_t i = 0; i < n_in; i++) x[i] = 0.5f * sinf((float)i * 0.37f) + 0.01f * (float)(i % 7);
    for (int64_t r = 0; r < n_out; r++) tn_quantize_row(T, w + r * n_in, blocks + r * row, n_in);
    tn_cu_repack(T, blocks, n_in, n_out, a, b, s);
    int8_t xq[512];
    tn_cu_xmeta xm[16];
    for (int64_t it = 0; it < n_items; it++) tn_cu_quant_item(x + 32 * it, xq + 32 * it, &xm[it]);
    for (int64_t r = 0; r < n_out && !rc; r++) {
        tn_dequantize_row(T, blocks + r * row, ref, n_in);
        double want = 0, mag = 0;
        float got = 0;
        for (int64_t it = 0; it < n_items && !rc; it++) {
            int64_t gi = r * n_items + it;
            uint32_t aw[8];
            memcpy(aw, a + gi * Q::QA, Q::QA);
            const uint8_t *bp = b + gi * Q::QB, *sp = s + (gi / Q::IPS) * Q::QS;
            float y[32];
            Q::deq(aw, bp, sp, (int)(gi % Q::IPS), y);
            for (int j = 0; j < 32; j++) {
                if (memcmp(&y[j], &ref[32 * it + j], 4) != 0) {
                    snprintf(msg, cap, "%s: row %lld element %lld dequantizes to %.9g, CPU %.9g",
                             tn_type_name(T), (long long)r, (long long)(32 * it + j), y[j],
                             ref[32 * it + j]);
                    rc = -1;
                    break;
                }
                double xv = (double)xq[32 * it + j] * xm[it].d;
                want += (double)ref[32 * it + j] * xv;
                mag += fabs((double)ref[32 * it + j] * xv);
            }
            int xw[8];
            memcpy(xw, xq + 32 * it, 32);
            got += tn_cu_qdot<T>(aw, bp, sp, (int)(gi % Q::IPS), xw, xm[it]);
        }
        if (!rc && fabs(got - want) > 1e-5 * mag + 1e-6) {
            snprintf(msg, cap, "%s: row %lld dot %.9g, float64 reference %.9g", tn_type_name(T),
                     (long long)r, got, want);
            rc = -1;
        }
    }
    free(w);
    free(ref);
    free(blocks);
    free(a);
    free(b);
    free(s);
    return rc;
}

extern "C" int tn_cuda_selftest_layouts(char *msg, size_t cap) {
    uint64_t seed = 12345;
    snprintf(msg, cap, "ok");
    int rc = 0;
    rc = rc ? rc : check_type<TN_TYPE_Q4_0>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q4_1>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q5_0>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q5_1>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q8_0>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_IQ4_NL>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_MXFP4>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_IQ4_XS>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q2_K>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q3_K>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q4_K>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q5_K>(msg, cap, &seed);
    rc = rc ? rc : check_type<TN_TYPE_Q6_K>(msg, cap, &seed);
    return rc;
}
