/* Block layouts of the quantized weight and activation formats, byte-for-byte as ggml stores them
 * in GGUF files (little-endian), plus small helpers shared by the quantizers and kernels.
 *
 * Halves are kept as raw uint16_t bits. Structs only need the alignment of their widest member
 * (2 bytes; 4 for Q8_K), which GGUF tensor data (32-byte aligned, whole blocks) always has. */
#ifndef TN_FORMATS_QUANT_BLOCKS_H
#define TN_FORMATS_QUANT_BLOCKS_H

#include <stdint.h>
#include <string.h>

#include "formats/types.h"

#define TN_QK4_0 32
#define TN_QK8_0 32

typedef struct {
    uint16_t d;       /* fp16 scale */
    uint8_t qs[16];   /* element j: low nibble of qs[j], element j+16: high nibble; value q-8 */
} tn_block_q4_0;

typedef struct {
    uint16_t d, m;    /* value = d*q + m */
    uint8_t qs[16];
} tn_block_q4_1;

typedef struct {
    uint16_t d;
    uint8_t qh[4];    /* bit j = 5th bit of element j (little-endian uint32) */
    uint8_t qs[16];   /* value = (nibble | hbit<<4) - 16 */
} tn_block_q5_0;

typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
} tn_block_q5_1;

typedef struct {
    uint16_t d;
    int8_t qs[32];
} tn_block_q8_0;

typedef struct {
    uint16_t d;       /* scale */
    uint16_t s;       /* d * sum(qs), so a Q4_1/Q5_1 offset m contributes m*s to a dot product */
    int8_t qs[32];
} tn_block_q8_1;

/* K-quants: 256-element super-blocks. */
typedef struct {
    uint8_t scales[16]; /* per 16 elements: low nibble scale, high nibble min */
    uint8_t qs[64];     /* 2-bit values, 4 per byte (see dequant for the order) */
    uint16_t d, dmin;
} tn_block_q2_K;

typedef struct {
    uint8_t hmask[32];  /* high bit of element e at hmask[e%32] bit e/32; clear means -4 */
    uint8_t qs[64];     /* low 2 bits */
    uint8_t scales[12]; /* 16 6-bit scales, stored +32 */
    uint16_t d;
} tn_block_q3_K;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12]; /* 8 6-bit scales and 8 6-bit mins, packed (tn_scale_min_k4) */
    uint8_t qs[128];
} tn_block_q4_K;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
} tn_block_q5_K;

typedef struct {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
} tn_block_q6_K;

typedef struct {
    float d;
    int8_t qs[256];
    int16_t bsums[16]; /* sums of qs over each group of 16, used for the K-quant mins/offsets */
} tn_block_q8_K;

typedef struct {
    uint16_t d;
    uint8_t qs[16];   /* indices into tn_kvalues_iq4nl, same nibble order as Q4_0 */
} tn_block_iq4_nl;

typedef struct {
    uint16_t d;
    uint16_t scales_h; /* high 2 bits of the 8 6-bit block scales */
    uint8_t scales_l[4];
    uint8_t qs[128];
} tn_block_iq4_xs;

typedef struct {
    uint8_t e;        /* E8M0 shared exponent */
    uint8_t qs[16];   /* FP4 E2M1 codes, same nibble order as Q4_0 */
} tn_block_mxfp4;

_Static_assert(sizeof(tn_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(tn_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(tn_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(tn_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(tn_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(tn_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(tn_block_q2_K) == 84, "q2_K layout");
_Static_assert(sizeof(tn_block_q3_K) == 110, "q3_K layout");
_Static_assert(sizeof(tn_block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(tn_block_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(tn_block_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(tn_block_q8_K) == 292, "q8_K layout");
_Static_assert(sizeof(tn_block_iq4_nl) == 18, "iq4_nl layout");
_Static_assert(sizeof(tn_block_iq4_xs) == 136, "iq4_xs layout");
_Static_assert(sizeof(tn_block_mxfp4) == 17, "mxfp4 layout");

/* The IQ4_NL / IQ4_XS non-linear codebook and the MXFP4 E2M1 values (doubled, so they are
 * integers; the E8M0 scale is halved to compensate). Defined in quant_iq.c. */
extern const int8_t tn_kvalues_iq4nl[16];
extern const int8_t tn_kvalues_mxfp4[16];

/* Round to nearest, ties to even, for |x| < 2^22: adding 1.5*2^23 pushes the fraction bits out of
 * the mantissa, so the FPU's default rounding does the work. ggml's K-quant reference uses exactly
 * this, and byte-identical output depends on the tie behaviour. */
static inline int tn_nearest_int(float x) {
    float v = x + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* 6-bit scale and min j (0..7) of a Q4_K / Q5_K block. */
static inline void tn_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The 8 6-bit scales (bytes 0..7) and 8 6-bit mins (bytes 8..15) of a Q4_K / Q5_K block, as four
 * little-endian words, unpacked four at a time with 32-bit operations. SIMD code turns the words
 * into a vector directly (going through a byte array would stall on store forwarding). */
static inline void tn_scale_min_k4_words(const uint8_t *q, uint32_t u[4]) {
    uint32_t w[3];
    memcpy(w, q, 12);
    u[0] = w[0] & 0x3f3f3f3fu;
    u[1] = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
    u[2] = w[1] & 0x3f3f3f3fu;
    u[3] = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
}

/* The 16 6-bit Q3_K scales in their stored form (0..63, i.e. the signed scale + 32) as four
 * little-endian words: scale j has its low 4 bits in byte j%8 (low nibble for j < 8, high nibble
 * after) and its top 2 bits in byte 8 + j%4 at bit 2*(j/4). */
static inline void tn_q3_K_scale_words(const uint8_t *q, uint32_t u[4]) {
    uint32_t w[3];
    memcpy(w, q, 12);
    u[0] = (w[0] & 0x0f0f0f0fu) | ((w[2] & 0x03030303u) << 4);
    u[1] = (w[1] & 0x0f0f0f0fu) | (((w[2] >> 2) & 0x03030303u) << 4);
    u[2] = ((w[0] >> 4) & 0x0f0f0f0fu) | (((w[2] >> 4) & 0x03030303u) << 4);
    u[3] = ((w[1] >> 4) & 0x0f0f0f0fu) | (((w[2] >> 6) & 0x03030303u) << 4);
}

/* The 16 Q3_K scales as signed values. */
static inline void tn_q3_K_scales(const uint8_t *packed, int8_t out[16]) {
    uint32_t u[4];
    uint8_t b[16];
    tn_q3_K_scale_words(packed, u);
    memcpy(b, u, 16);
    for (int j = 0; j < 16; j++) out[j] = (int8_t)(b[j] - 32);
}

/* E8M0 exponent to the float 2^(e-128): the MXFP4 scale halved because tn_kvalues_mxfp4 is doubled.
 * Built from bits so it is exact for every e (e < 2 gives float subnormals). */
static inline float tn_e8m0_to_f32_half(uint8_t e) {
    uint32_t bits = e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

#endif
