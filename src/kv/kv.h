/* KV cache element types: the registry (names, numbers, bytes per cell) and the row codecs the
 * backends use to write a token's K or V into the cache and to read it back in attention.
 *
 * A cache holds one row per cell: the n_head * head_dim elements of one token's K (or V). Types:
 *   f32, f16, bf16, q8_0, q4_0   ggml numbers and block layouts (blocks never straddle heads,
 *                                so q8_0/q4_0 need head_dim % 32 == 0)
 *   turbo2, turbo3, turbo4       TurboQuant (turbo.h), numbers 64..66, outside ggml's range
 * TurboQuant row layout (docs/turboquant.md), for n_head heads of d elements, b bits, S sub-blocks:
 *   bytes [h*d*b/8, (h+1)*d*b/8)   packed indices of head h (tn_turbo_pack)
 *   then fp16 norm[h][s] at H*d*b/8 + 2*(h*S + s)
 *   row bytes = n_head * (d*b/8 + 2*S)
 * Rotations use the layer's seed (tn_kv_layer.rot_seed, tn_turbo_layer_seed). */
#ifndef TN_KV_KV_H
#define TN_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/turbo.h"

enum { TN_KV_TURBO2 = 64, TN_KV_TURBO3 = 65, TN_KV_TURBO4 = 66 };

/* "turbo3", "f16", ...; NULL if the number is not a KV cache type. */
const char *tn_kv_type_name(int type);
/* Case-insensitive; -1 (no error set) if the name is not a KV cache type. */
int tn_kv_type_from_name(const char *name);
/* "f16, bf16, q8_0, q4_0, turbo2, turbo3, turbo4, f32" (for messages). */
const char *tn_kv_type_names(void);
int tn_kv_turbo_bits(int type); /* 2..4 for turbo types, 0 otherwise */
/* 0 if `type` can hold heads of head_dim elements, else -1 with an error naming both. */
int tn_kv_type_check(int type, int head_dim);
/* Bytes of one cell's row of n_embd = n_head * head_dim elements; 0 if unsupported. */
size_t tn_kv_row_size(int type, int64_t n_embd, int head_dim);

/* What the row codecs need for one layer's K or V cache (set up once per op call). */
typedef struct tn_kv_codec {
    int type, bits; /* bits: TurboQuant bits, 0 for the other types */
    int head_dim, n_head;
    size_t row_bytes;  /* bytes per cell */
    size_t head_bytes; /* turbo: packed index bytes per head */
    size_t norm_off;   /* turbo: offset of the norms in the row */
    tn_turbo_rot rot;  /* turbo only */
} tn_kv_codec;

/* 0, or -1 with an error if the type / head size is not supported. */
int tn_kv_codec_init(tn_kv_codec *c, int type, int head_dim, int n_head, uint32_t seed);
/* Encodes one cell: src has n_head * head_dim floats. */
void tn_kv_store_row(const tn_kv_codec *c, const float *src, void *row);
/* Decodes one cell back to n_head * head_dim floats in the original (unrotated) domain. */
void tn_kv_dequant_row(const tn_kv_codec *c, const void *row, float *dst);
/* Attention's read: head h of one cell into out[j * stride], j < head_dim. TurboQuant types stay
 * in the rotated domain (norm / sqrt(n) * centroid), so dot them with a rotated query and
 * unrotate a weighted sum of them once (tn_turbo_rotate / tn_turbo_unrotate with c->rot). */
void tn_kv_decode_head(const tn_kv_codec *c, const void *row, int h, float *out, int stride);

#endif
