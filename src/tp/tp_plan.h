/* Tensor-parallel sharding plan (issue 7): which part of every weight, head and cache each of N
 * ranks (GPUs) holds, in the Megatron-LM layout (Shoeybi et al. 2019, sec. 3):
 *   - attention: rank r owns a contiguous range of KV heads and the query heads of those KV
 *     groups, so GQA groups never straddle ranks and attention needs no communication;
 *     attn_q/k/v (and their biases) are split by output rows (column-parallel), attn_output by
 *     input columns (row-parallel: each rank's product is a partial sum);
 *   - FFN: ffn_gate/ffn_up split by output rows, ffn_down by input columns, all over the same
 *     contiguous range of n_ff;
 *   - one all-reduce of the n_embd-wide partial sums after attn_output and after ffn_down;
 *   - token_embd and output split by vocabulary rows (an embedding lookup contributes zeros on
 *     ranks that do not own the token; logits are gathered);
 *   - norms (and per-head q/k norms, rope factors) replicated.
 *
 * Rules:
 *   - n_head_kv % N == 0 (whole KV groups per rank); every rank gets n_head_kv / N KV heads and
 *     n_head / N query heads.
 *   - n_ff is cut in units of `ff_align` elements (the least common multiple of the block sizes
 *     of every ffn_down tensor: 32 for legacy quants, 256 for K-quants, 1 for f16/bf16/f32), so a
 *     column slice of ffn_down takes whole blocks of every row. With U = n_ff / ff_align units,
 *     rank r gets units [r*U/N, (r+1)*U/N) (floor): widths differ by at most one unit, and U < N
 *     is an error.
 *   - vocabulary rows: rank r gets [r*n_vocab/N, (r+1)*n_vocab/N) (floor).
 *   - a column slice whose boundaries are not on the tensor type's block boundaries (e.g.
 *     attn_output of a K-quant with 128-column head slices) is an error naming the tensor, the
 *     type and the columns: no silent requantization.
 * Pure computation: no device, no files (tp_gguf.c binds a plan to a GGUF). */
#ifndef TN_TP_TP_PLAN_H
#define TN_TP_TP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"

#define TN_TP_MAX_RANKS 64

typedef struct tn_tp_hparams {
    int64_t n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_layer;
} tn_tp_hparams;

typedef struct tn_tp_range {
    int64_t begin, end; /* [begin, end) */
} tn_tp_range;

typedef struct tn_tp_rank {
    tn_tp_range q_heads, kv_heads; /* head indices */
    tn_tp_range ff;                /* FFN columns of n_ff */
    tn_tp_range vocab;             /* rows of token_embd / output */
} tn_tp_rank;

typedef struct tn_tp_plan {
    int n_ranks;
    tn_tp_hparams hp;
    int64_t ff_align;
    tn_tp_rank rank[TN_TP_MAX_RANKS];
} tn_tp_plan;

/* Builds the plan; 0, or -1 with an error naming the numbers that do not divide. */
int tn_tp_plan_init(tn_tp_plan *p, const tn_tp_hparams *hp, int n_ranks, int64_t ff_align);

/* How one tensor is split. */
typedef enum {
    TN_TP_REPLICATED = 0, /* every rank holds the whole tensor */
    TN_TP_SPLIT_ROWS,     /* rows (ne[1]) [begin, end): column-parallel matmul / vocab split */
    TN_TP_SPLIT_COLS,     /* columns (ne[0]) [begin, end) of every row: row-parallel matmul, or
                             the slice of a 1-D bias matching its column-parallel outputs */
} tn_tp_split;

/* A rank's shard of a tensor as byte ranges of the tensor's data: n_pieces pieces of piece_bytes,
 * the first at `offset`, each `stride` bytes after the previous one. Row slices and replicated
 * tensors are one piece. */
typedef struct tn_tp_slice {
    tn_tp_split kind;
    int64_t begin, end; /* rows or columns, see tn_tp_split (0, ne of the dim for replicated) */
    int64_t ne0, ne1;   /* shape of the shard */
    size_t offset, piece_bytes, stride;
    int64_t n_pieces;
    size_t nbytes; /* piece_bytes * n_pieces */
} tn_tp_slice;

/* The split rule for a GGUF tensor name of the Llama family ("blk.N.attn_q.weight", ...); -1 with
 * an error for a name the plan has no rule for (no silent replication of unknown tensors). */
int tn_tp_split_of(const char *name, tn_tp_split *kind);

/* Rank `rank`'s slice of tensor `name` of `type` and shape ne[0..n_dims) (ne[2], ne[3] must be
 * 1). Checks the shape against the plan's hyper-parameters and block alignment; 0 or -1 with an
 * error naming the tensor. */
int tn_tp_tensor_slice(const tn_tp_plan *p, int rank, const char *name, int type, int n_dims,
                       const int64_t *ne, tn_tp_slice *out);
/* Copies the slice's bytes out of the tensor data `src` into `dst` (s->nbytes bytes): the shard
 * is itself a valid row-major tensor of shape ne0 x ne1. */
void tn_tp_slice_copy(const tn_tp_slice *s, const void *src, void *dst);

/* KV cache bytes one token adds on `rank` over all layers, for K and V cache types (src/kv). */
size_t tn_tp_kv_bytes_per_token(const tn_tp_plan *p, int rank, int type_k, int type_v);

/* ---- GGUF binding (tp_gguf.c) ---- */
/* Hyper-parameters of a llama/qwen2/qwen3 GGUF (the keys llama.c reads). */
int tn_tp_hparams_from_gguf(const tn_gguf *g, tn_tp_hparams *hp);
/* LCM of the block sizes of every blk.*.ffn_down.weight (the FFN cut granularity). */
int64_t tn_tp_ff_align_from_gguf(const tn_gguf *g);
/* Hyper-parameters + FFN alignment + plan, then every tensor's slice on every rank (the first
 * tensor that cannot be split is the error). */
int tn_tp_plan_from_gguf(tn_tp_plan *p, const tn_gguf *g, int n_ranks);
/* Weight bytes held by `rank` (sum of its slices of every tensor); the plan must come from
 * tn_tp_plan_from_gguf on the same file. */
size_t tn_tp_rank_weight_bytes(const tn_tp_plan *p, const tn_gguf *g, int rank);

#endif
