/* TurboQuant for KV-cache head vectors (Zandieh et al., arXiv 2504.19874): a randomized
 * Walsh-Hadamard rotation makes every coordinate of a head vector follow (nearly) N(0, |x|^2/n),
 * so one fixed Lloyd-Max codebook quantizes all of them. This header is the math; the byte layout
 * of a cache row is in kv.h and docs/turboquant.md.
 *
 * Rotation of a head vector of d = head_dim elements: d is split into power-of-two sub-blocks,
 * largest first (the binary digits of d: 128 -> 128, 96 -> 64+32, 80 -> 64+16), each of which is
 * rotated and quantized on its own with its own norm. For a sub-block of n elements at offset o:
 *     y = D2 * H_n * D1 * x / sqrt(n)        (rotate)
 *     x = D1 * H_n * D2 * y / sqrt(n)        (unrotate; H_n * H_n = n * I)
 * with H_n the Sylvester Hadamard matrix and D1, D2 diagonal +-1 matrices from the layer's seed:
 *     D1[i] = -1 if tn_turbo_sign_bit(seed, o + i),        else +1
 *     D2[i] = -1 if tn_turbo_sign_bit(seed, 1024 + o + i), else +1 */
#ifndef TN_KV_TURBO_H
#define TN_KV_TURBO_H

#include <stdint.h>

#define TN_TURBO_MAX_DIM 512 /* largest head_dim (a multiple of 16) */
#define TN_TURBO_MAX_SUB 5   /* sub-blocks of a head: 256+128+64+32+16 at most */

/* Lloyd-Max centroids for N(0, 1), ascending; index k of a b-bit code is centroid k. Decision
 * boundaries are the midpoints. MSE per coordinate of unit variance: b=2 0.1175, b=3 0.03454,
 * b=4 0.009497. */
const float *tn_turbo_codebook(int bits);   /* 1 << bits values */
const float *tn_turbo_boundaries(int bits); /* (1 << bits) - 1 values */
double tn_turbo_lloyd_max_mse(int bits);

/* The layer-independent 32-bit integer hash the sign diagonals are made from ("lowbias32"). */
static inline uint32_t tn_turbo_hash(uint32_t x) {
    x ^= x >> 16;
    x *= 0x21f0aaadu;
    x ^= x >> 15;
    x *= 0x735a2d97u;
    x ^= x >> 15;
    return x;
}

static inline int tn_turbo_sign_bit(uint32_t seed, uint32_t k) {
    return (int)(tn_turbo_hash(seed + 0x9e3779b9u * k) >> 31);
}

/* Rotation seed of layer l (what llama_state_new stores in tn_kv_layer.rot_seed). */
static inline uint32_t tn_turbo_layer_seed(int layer) {
    return tn_turbo_hash(0x7475726bu /* "turk" */ + (uint32_t)layer);
}

/* A head's sub-blocks and sign diagonals, precomputed for one (head_dim, seed). */
typedef struct tn_turbo_rot {
    int d, n_sub;
    int off[TN_TURBO_MAX_SUB], len[TN_TURBO_MAX_SUB];
    float s1[TN_TURBO_MAX_DIM]; /* D1 */
    float s2[TN_TURBO_MAX_DIM]; /* D2 */
} tn_turbo_rot;

/* Number of sub-blocks of a head of d elements, 0 if d is not a supported head size (a multiple
 * of 16 in 16 .. 512). */
int tn_turbo_n_sub(int d);
/* Fills r for head size d (supported) and seed. */
void tn_turbo_rot_init(tn_turbo_rot *r, int d, uint32_t seed);
/* In place, all sub-blocks of one head vector of r->d elements. */
void tn_turbo_rotate(const tn_turbo_rot *r, float *x);
void tn_turbo_unrotate(const tn_turbo_rot *r, float *x);

/* Quantizes one head vector x (original domain, r->d elements) to b-bit indices idx[d] and one
 * corrected norm per sub-block: norm[j] = |x_j| * sqrt(n) / |C[idx_j]|, so that the dequantized
 * sub-block (norm[j] / sqrt(n)) * C[idx] has the length of x_j. The indices are the Lloyd-Max
 * code of the rotated sub-block refined by alternating least squares over a per-vector scale
 * (turbo.c says why). x is not modified. */
void tn_turbo_quantize_head(const tn_turbo_rot *r, int bits, const float *x, uint8_t *idx,
                            float *norm);

/* Packing of b-bit indices of one head (d elements) into d*b/8 bytes (docs/turboquant.md):
 * b=2: byte k bits 2j..2j+1 = idx[4k+j]; b=4: byte k = idx[2k] | idx[2k+1] << 4;
 * b=3: the b=2 packing of the low two bits (d/4 bytes), then bit 2 of idx[8k+j] in bit j of
 * byte d/4 + k (d/8 bytes). */
void tn_turbo_pack(int bits, int d, const uint8_t *idx, uint8_t *dst);
void tn_turbo_unpack(int bits, int d, const uint8_t *src, uint8_t *idx);

#endif
