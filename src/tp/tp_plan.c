/* Tensor-parallel sharding plan: per-rank head / FFN / vocabulary ranges and the byte ranges of
 * every weight's shard (rules in tp_plan.h). */
#include "tp/tp_plan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/types.h"
#include "kv/kv.h"

/* Balanced floor split of n units: rank r of N gets [r*n/N, (r+1)*n/N). */
static tn_tp_range split_even(int64_t n, int r, int n_ranks) {
    return (tn_tp_range){n * r / n_ranks, n * (r + 1) / n_ranks};
}

int tn_tp_plan_init(tn_tp_plan *p, const tn_tp_hparams *hp, int n_ranks, int64_t ff_align) {
    memset(p, 0, sizeof *p);
    if (n_ranks < 1 || n_ranks > TN_TP_MAX_RANKS)
        return tn_set_error("tensor parallelism: %d ranks requested, supported 1 .. %d", n_ranks,
                            TN_TP_MAX_RANKS);
    if (hp->n_embd <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 || hp->head_dim <= 0 ||
        hp->n_ff <= 0 || hp->n_vocab <= 0 || hp->n_layer <= 0 || hp->n_head % hp->n_head_kv)
        return tn_set_error("tensor parallelism: invalid hyper-parameters (embd %lld, heads %lld/%lld, "
                            "head size %lld, ff %lld, vocab %lld, layers %lld)",
                            (long long)hp->n_embd, (long long)hp->n_head, (long long)hp->n_head_kv,
                            (long long)hp->head_dim, (long long)hp->n_ff, (long long)hp->n_vocab,
                            (long long)hp->n_layer);
    if (hp->n_head_kv % n_ranks)
        return tn_set_error("tensor parallelism: %lld KV heads cannot be split over %d GPUs (each "
                            "GPU must hold whole GQA groups, so -tp must divide %lld)",
                            (long long)hp->n_head_kv, n_ranks, (long long)hp->n_head_kv);
    if (ff_align < 1 || hp->n_ff % ff_align)
        return tn_set_error("tensor parallelism: feed-forward length %lld is not a multiple of "
                            "the ffn_down block size %lld",
                            (long long)hp->n_ff, (long long)ff_align);
    int64_t units = hp->n_ff / ff_align;
    if (units < n_ranks)
        return tn_set_error("tensor parallelism: feed-forward length %lld is %lld blocks of %lld "
                            "(the ffn_down block size), fewer than the %d GPUs requested",
                            (long long)hp->n_ff, (long long)units, (long long)ff_align, n_ranks);
    if (hp->n_vocab < n_ranks)
        return tn_set_error("tensor parallelism: vocabulary of %lld rows cannot be split over %d GPUs",
                            (long long)hp->n_vocab, n_ranks);
    p->n_ranks = n_ranks;
    p->hp = *hp;
    p->ff_align = ff_align;
    int64_t group = hp->n_head / hp->n_head_kv; /* query heads per KV head */
    for (int r = 0; r < n_ranks; r++) {
        tn_tp_rank *rk = &p->rank[r];
        rk->kv_heads = split_even(hp->n_head_kv, r, n_ranks);
        rk->q_heads = (tn_tp_range){rk->kv_heads.begin * group, rk->kv_heads.end * group};
        tn_tp_range u = split_even(units, r, n_ranks);
        rk->ff = (tn_tp_range){u.begin * ff_align, u.end * ff_align};
        rk->vocab = split_even(hp->n_vocab, r, n_ranks);
    }
    return 0;
}

/* What a dimension of a tensor must equal, and which plan range a split dimension follows. */
enum { D_ANY, D_ONE, D_EMBD, D_Q, D_KV, D_FF, D_VOCAB };

typedef struct rule {
    const char *suffix; /* after "blk.N." for layer tensors */
    bool layer;
    tn_tp_split kind;
    int ne0, ne1; /* expected dims (D_*); the split one names the range */
} rule;

static const rule rules[] = {
    {"token_embd.weight", false, TN_TP_SPLIT_ROWS, D_EMBD, D_VOCAB},
    {"output.weight", false, TN_TP_SPLIT_ROWS, D_EMBD, D_VOCAB},
    {"output_norm.weight", false, TN_TP_REPLICATED, D_EMBD, D_ONE},
    {"rope_freqs.weight", false, TN_TP_REPLICATED, D_ANY, D_ONE},
    {"attn_norm.weight", true, TN_TP_REPLICATED, D_EMBD, D_ONE},
    {"ffn_norm.weight", true, TN_TP_REPLICATED, D_EMBD, D_ONE},
    {"attn_q_norm.weight", true, TN_TP_REPLICATED, D_ANY, D_ONE}, /* per head, shared by heads */
    {"attn_k_norm.weight", true, TN_TP_REPLICATED, D_ANY, D_ONE},
    {"attn_q.weight", true, TN_TP_SPLIT_ROWS, D_EMBD, D_Q},
    {"attn_k.weight", true, TN_TP_SPLIT_ROWS, D_EMBD, D_KV},
    {"attn_v.weight", true, TN_TP_SPLIT_ROWS, D_EMBD, D_KV},
    {"attn_q.bias", true, TN_TP_SPLIT_COLS, D_Q, D_ONE},
    {"attn_k.bias", true, TN_TP_SPLIT_COLS, D_KV, D_ONE},
    {"attn_v.bias", true, TN_TP_SPLIT_COLS, D_KV, D_ONE},
    {"attn_output.weight", true, TN_TP_SPLIT_COLS, D_Q, D_EMBD},
    {"ffn_gate.weight", true, TN_TP_SPLIT_ROWS, D_EMBD, D_FF},
    {"ffn_up.weight", true, TN_TP_SPLIT_ROWS, D_EMBD, D_FF},
    {"ffn_down.weight", true, TN_TP_SPLIT_COLS, D_FF, D_EMBD},
};

/* The rule for `name`; *layer gets the block number (-1 for global tensors). NULL if none. */
static const rule *find_rule(const char *name, long *layer) {
    const char *suffix = name;
    *layer = -1;
    if (!strncmp(name, "blk.", 4)) {
        char *end;
        *layer = strtol(name + 4, &end, 10);
        if (end == name + 4 || *end != '.' || *layer < 0) return NULL;
        suffix = end + 1;
    }
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (rules[i].layer == (*layer >= 0) && !strcmp(rules[i].suffix, suffix)) return &rules[i];
    return NULL;
}

int tn_tp_split_of(const char *name, tn_tp_split *kind) {
    long layer;
    const rule *ru = find_rule(name, &layer);
    if (!ru)
        return tn_set_error("tensor parallelism: no sharding rule for tensor '%s' (only llama, "
                            "qwen2 and qwen3 dense layers are planned)",
                            name);
    *kind = ru->kind;
    return 0;
}

static int64_t dim_size(const tn_tp_hparams *hp, int d) {
    switch (d) {
    case D_ONE: return 1;
    case D_EMBD: return hp->n_embd;
    case D_Q: return hp->n_head * hp->head_dim;
    case D_KV: return hp->n_head_kv * hp->head_dim;
    case D_FF: return hp->n_ff;
    case D_VOCAB: return hp->n_vocab;
    default: return -1;
    }
}

static tn_tp_range dim_range(const tn_tp_plan *p, int rank, int d) {
    const tn_tp_rank *rk = &p->rank[rank];
    int64_t hd = p->hp.head_dim;
    switch (d) {
    case D_Q: return (tn_tp_range){rk->q_heads.begin * hd, rk->q_heads.end * hd};
    case D_KV: return (tn_tp_range){rk->kv_heads.begin * hd, rk->kv_heads.end * hd};
    case D_FF: return rk->ff;
    default: return rk->vocab;
    }
}

int tn_tp_tensor_slice(const tn_tp_plan *p, int rank, const char *name, int type, int n_dims,
                       const int64_t *ne, tn_tp_slice *out) {
    memset(out, 0, sizeof *out);
    if (rank < 0 || rank >= p->n_ranks)
        return tn_set_error("tensor parallelism: rank %d outside 0 .. %d", rank, p->n_ranks - 1);
    long layer;
    const rule *ru = find_rule(name, &layer);
    if (!ru) return tn_tp_split_of(name, &out->kind);
    const tn_type_info *ti = tn_type_get(type);
    int64_t ne0 = ne[0], ne1 = n_dims > 1 ? ne[1] : 1;
    bool extra = (n_dims > 2 && ne[2] != 1) || (n_dims > 3 && ne[3] != 1);
    int64_t want0 = dim_size(&p->hp, ru->ne0), want1 = dim_size(&p->hp, ru->ne1);
    if (layer >= p->hp.n_layer)
        return tn_set_error("tensor parallelism: tensor '%s' is beyond the %lld layers", name,
                            (long long)p->hp.n_layer);
    if (!ti || extra || n_dims < 1 || (want0 >= 0 && ne0 != want0) || (want1 >= 0 && ne1 != want1))
        return tn_set_error("tensor parallelism: tensor '%s' has shape %lld x %lld (type %s), "
                            "expected %lld x %lld",
                            name, (long long)ne0, (long long)ne1, tn_type_name(type),
                            (long long)(want0 >= 0 ? want0 : ne0), (long long)want1);
    size_t row_bytes = tn_row_size(type, ne0);
    if (!row_bytes)
        return tn_set_error("tensor parallelism: tensor '%s': %lld columns are not whole %s blocks",
                            name, (long long)ne0, tn_type_name(type));
    out->kind = ru->kind;
    out->stride = row_bytes;
    out->n_pieces = 1;
    if (ru->kind == TN_TP_REPLICATED) {
        out->end = ne1;
        out->ne0 = ne0;
        out->ne1 = ne1;
        out->piece_bytes = row_bytes * (size_t)ne1;
    } else if (ru->kind == TN_TP_SPLIT_ROWS) {
        tn_tp_range r = dim_range(p, rank, ru->ne1);
        out->begin = r.begin;
        out->end = r.end;
        out->ne0 = ne0;
        out->ne1 = r.end - r.begin;
        out->offset = row_bytes * (size_t)r.begin;
        out->piece_bytes = row_bytes * (size_t)out->ne1;
    } else {
        tn_tp_range r = dim_range(p, rank, ru->ne0);
        int64_t bs = ti->block_size;
        if (r.begin % bs || r.end % bs)
            return tn_set_error("tensor parallelism: tensor '%s' (%s, blocks of %lld) cannot be split "
                                "by columns for %d GPUs: rank %d's columns [%lld, %lld) do not start "
                                "and end on block boundaries",
                                name, tn_type_name(type), (long long)bs, p->n_ranks, rank,
                                (long long)r.begin, (long long)r.end);
        out->begin = r.begin;
        out->end = r.end;
        out->ne0 = r.end - r.begin;
        out->ne1 = ne1;
        out->offset = (size_t)(r.begin / bs) * (size_t)ti->type_size;
        out->piece_bytes = (size_t)(out->ne0 / bs) * (size_t)ti->type_size;
        out->n_pieces = ne1;
    }
    out->nbytes = out->piece_bytes * (size_t)out->n_pieces;
    return 0;
}

void tn_tp_slice_copy(const tn_tp_slice *s, const void *src, void *dst) {
    const char *in = (const char *)src + s->offset;
    char *o = dst;
    for (int64_t i = 0; i < s->n_pieces; i++)
        memcpy(o + (size_t)i * s->piece_bytes, in + (size_t)i * s->stride, s->piece_bytes);
}

size_t tn_tp_kv_bytes_per_token(const tn_tp_plan *p, int rank, int type_k, int type_v) {
    const tn_tp_range *h = &p->rank[rank].kv_heads;
    int64_t n = (h->end - h->begin) * p->hp.head_dim;
    int hd = (int)p->hp.head_dim;
    return (size_t)p->hp.n_layer * (tn_kv_row_size(type_k, n, hd) + tn_kv_row_size(type_v, n, hd));
}
