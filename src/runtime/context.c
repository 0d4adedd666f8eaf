/* Inference context: the KV-cache cell bookkeeping, batch validation and splitting into
 * micro-batches, and the logits of the last decode. The cache is a pool of n_ctx cells; each holds
 * one token's K/V for one sequence at one position, so many sequences share one cache. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/types.h"
#include "runtime/model.h"

struct tn_ctx {
    tn_model *model;
    tn_ctx_params params;
    tn_exec *ex;
    void *state;
    int32_t *cell_pos, *cell_seq; /* [n_ctx]; -1 = empty */
    int32_t n_used_cells;
    /* per-micro-batch scratch */
    int32_t *ub_pos, *ub_seq, *ub_cell, *ub_out;
    /* logits of the last tn_decode, [n_outputs][n_vocab]; rows [n_host, n_outputs) are still
     * only on the device, at dev_logits, until asked for (backends with a top_k op: the sampler
     * can take its candidates there) */
    float *logits;
    int32_t n_outputs, cap_outputs, n_host;
    const float *dev_logits;
};

tn_ctx_params tn_ctx_default_params(void) {
    tn_ctx_params p = {.n_ctx = 0, .n_batch = 512, .n_threads = 0, .n_seq_max = 1,
                       .type_k = TN_TYPE_F16, .type_v = TN_TYPE_F16};
    return p;
}

void tn_ctx_free(tn_ctx *c) {
    if (!c) return;
    if (c->state) c->model->arch->state_free(c->model, c->ex, c->state);
    if (c->ex) c->ex->be->ops->exec_free(c->ex);
    free(c->cell_pos);
    free(c->cell_seq);
    free(c->ub_pos);
    free(c->ub_seq);
    free(c->ub_cell);
    free(c->ub_out);
    free(c->logits);
    free(c);
}

tn_ctx *tn_ctx_new(tn_model *m, const tn_ctx_params *params) {
    tn_ctx_params p = params ? *params : tn_ctx_default_params();
    if (p.n_ctx <= 0) p.n_ctx = m->n_ctx_train;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_seq_max <= 0) p.n_seq_max = 1;
    if (p.n_ctx > (1 << 24)) {
        tn_set_error("context size %d is too large", p.n_ctx);
        return NULL;
    }
    tn_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->model = m;
    c->params = p;
    size_t nc = (size_t)p.n_ctx, nb = (size_t)p.n_batch;
    c->cell_pos = malloc(nc * sizeof(int32_t));
    c->cell_seq = malloc(nc * sizeof(int32_t));
    c->ub_pos = malloc(nb * sizeof(int32_t));
    c->ub_seq = malloc(nb * sizeof(int32_t));
    c->ub_cell = malloc(nb * sizeof(int32_t));
    c->ub_out = malloc(nb * sizeof(int32_t));
    if (!c->cell_pos || !c->cell_seq || !c->ub_pos || !c->ub_seq || !c->ub_cell || !c->ub_out) {
        tn_set_error("out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nc; i++) c->cell_pos[i] = c->cell_seq[i] = -1;
    if (!(c->ex = m->be->ops->exec_new(m->be, p.n_threads))) goto fail;
    tn_state_params sp = {p.n_ctx, p.n_batch, p.n_seq_max, p.type_k, p.type_v};
    if (!(c->state = m->arch->state_new(m, c->ex, &sp))) goto fail;
    return c;
fail:
    tn_ctx_free(c);
    return NULL;
}

int32_t tn_ctx_n_ctx(const tn_ctx *c) { return c->params.n_ctx; }

/* Profiler hook (runtime/profile.c): the profiler swaps the exec for a forwarding wrapper, which
 * is why everything here reaches the backend through c->ex->be->ops, not the model's backend. */
tn_exec **tn_ctx_exec_slot(tn_ctx *c) { return &c->ex; }

int32_t tn_kv_seq_pos_max(const tn_ctx *c, int32_t seq) {
    int32_t mx = -1;
    for (int32_t i = 0; i < c->params.n_ctx; i++)
        if (c->cell_seq[i] == seq && c->cell_pos[i] > mx) mx = c->cell_pos[i];
    return mx;
}

void tn_kv_seq_rm(tn_ctx *c, int32_t seq, int32_t p0, int32_t p1) {
    if (p1 < 0) p1 = INT32_MAX;
    for (int32_t i = 0; i < c->params.n_ctx; i++) {
        if (c->cell_seq[i] < 0 || (seq >= 0 && c->cell_seq[i] != seq)) continue;
        if (c->cell_pos[i] >= p0 && c->cell_pos[i] < p1) {
            c->cell_pos[i] = c->cell_seq[i] = -1;
            c->n_used_cells--;
        }
    }
}

static int grow_logits(tn_ctx *c, int32_t n_out) {
    if (n_out <= c->cap_outputs) return 0;
    float *p = realloc(c->logits, (size_t)n_out * (size_t)c->model->n_vocab * sizeof(float));
    if (!p) return tn_set_error("out of memory for %d rows of logits", n_out);
    c->logits = p;
    c->cap_outputs = n_out;
    return 0;
}

/* Checks the batch and fills in default positions / sequences. pos_out and seq_out have n_tokens
 * entries. */
static int resolve_batch(tn_ctx *c, const tn_batch *b, int32_t *pos_out, int32_t *seq_out) {
    int32_t n_vocab = c->model->n_vocab;
    if (!b || b->n_tokens <= 0 || !b->token) return tn_set_error("decode: empty batch");
    int32_t n_free = c->params.n_ctx - c->n_used_cells;
    if (b->n_tokens > n_free)
        return tn_set_error("decode: %d tokens do not fit in the context (n_ctx %d, %d cells free)",
                            b->n_tokens, c->params.n_ctx, n_free);
    int32_t *next_pos = malloc((size_t)c->params.n_seq_max * sizeof(int32_t));
    if (!next_pos) return tn_set_error("out of memory");
    for (int32_t s = 0; s < c->params.n_seq_max; s++) next_pos[s] = -2; /* not looked up yet */
    int rc = 0;
    for (int32_t i = 0; i < b->n_tokens && !rc; i++) {
        int32_t s = b->seq_id ? b->seq_id[i] : 0;
        if (b->token[i] < 0 || b->token[i] >= n_vocab)
            rc = tn_set_error("decode: token %d at batch index %d is outside the vocabulary (0..%d)",
                              b->token[i], i, n_vocab - 1);
        else if (s < 0 || s >= c->params.n_seq_max)
            rc = tn_set_error("decode: sequence id %d at batch index %d is outside 0..%d", s, i,
                              c->params.n_seq_max - 1);
        if (rc) break;
        if (next_pos[s] == -2) next_pos[s] = tn_kv_seq_pos_max(c, s) + 1;
        int32_t p = b->pos ? b->pos[i] : next_pos[s];
        if (p < 0) rc = tn_set_error("decode: negative position %d at batch index %d", p, i);
        next_pos[s] = p + 1;
        pos_out[i] = p;
        seq_out[i] = s;
    }
    free(next_pos);
    return rc;
}

int tn_decode(tn_ctx *c, const tn_batch *b) {
    tn_model *m = c->model;
    const tn_backend_ops *op = c->ex->be->ops;
    c->n_outputs = c->n_host = 0;
    c->dev_logits = NULL;
    if (!b || b->n_tokens <= 0) return tn_set_error("decode: empty batch");
    int32_t *pos = malloc((size_t)b->n_tokens * sizeof(int32_t));
    int32_t *seq = malloc((size_t)b->n_tokens * sizeof(int32_t));
    int rc = (!pos || !seq) ? tn_set_error("out of memory") : resolve_batch(c, b, pos, seq);
    int32_t n_out_total = 0;
    for (int32_t i = 0; !rc && i < b->n_tokens; i++)
        n_out_total += b->logits ? (b->logits[i] != 0) : (i == b->n_tokens - 1);
    if (!rc) rc = grow_logits(c, n_out_total);
    int32_t first_cell_search = 0, n_assigned = 0;
    int32_t *assigned = rc ? NULL : malloc((size_t)b->n_tokens * sizeof(int32_t));
    if (!rc && !assigned) rc = tn_set_error("out of memory");
    for (int32_t start = 0; !rc && start < b->n_tokens; start += c->params.n_batch) {
        int32_t n = b->n_tokens - start < c->params.n_batch ? b->n_tokens - start : c->params.n_batch;
        int32_t n_out = 0, n_kv = 0;
        for (int32_t i = 0; i < n; i++) {
            int32_t t = start + i;
            while (c->cell_seq[first_cell_search] >= 0) first_cell_search++; /* free cells exist */
            int32_t cell = first_cell_search++;
            c->cell_pos[cell] = pos[t];
            c->cell_seq[cell] = seq[t];
            c->n_used_cells++;
            assigned[n_assigned++] = cell;
            c->ub_pos[i] = pos[t];
            c->ub_seq[i] = seq[t];
            c->ub_cell[i] = cell;
            if (b->logits ? b->logits[t] != 0 : t == b->n_tokens - 1) c->ub_out[n_out++] = i;
        }
        for (int32_t i = c->params.n_ctx - 1; i >= 0; i--)
            if (c->cell_seq[i] >= 0) {
                n_kv = i + 1;
                break;
            }
        tn_batch_info info = {
            .n_tokens = n, .token = b->token + start, .pos = c->ub_pos, .seq = c->ub_seq,
            .cell = c->ub_cell, .n_kv = n_kv, .cell_pos = c->cell_pos, .cell_seq = c->cell_seq,
            .n_out = n_out, .out_rows = c->ub_out,
        };
        if (op->begin(c->ex, &info)) {
            rc = -1;
            break;
        }
        const float *logits = m->arch->forward(m, c->ex, c->state, &info);
        if (!logits) rc = -1;
        /* the last micro-batch's rows stay where they are until asked for */
        const bool keep = op->top_k && start + n >= b->n_tokens;
        if (!rc && n_out && keep) c->dev_logits = logits;
        else if (!rc && n_out)
            rc = op->read(c->ex, c->logits + (size_t)c->n_outputs * (size_t)m->n_vocab, logits,
                          (size_t)n_out * (size_t)m->n_vocab * sizeof(float));
        if (op->end(c->ex)) rc = -1;
        c->n_outputs += n_out;
        if (!keep) c->n_host = c->n_outputs;
    }
    if (rc) { /* keep nothing of a failed batch */
        for (int32_t i = 0; i < n_assigned; i++) {
            c->cell_pos[assigned[i]] = c->cell_seq[assigned[i]] = -1;
            c->n_used_cells--;
        }
        c->n_outputs = c->n_host = 0;
    }
    free(assigned);
    free(pos);
    free(seq);
    return rc;
}

/* Copies the rows still on the device to the host. */
static int fetch_logits(tn_ctx *c) {
    const size_t nv = (size_t)c->model->n_vocab;
    if (c->n_host < c->n_outputs &&
        c->ex->be->ops->read(c->ex, c->logits + (size_t)c->n_host * nv, c->dev_logits,
                             (size_t)(c->n_outputs - c->n_host) * nv * sizeof(float)))
        return -1;
    c->n_host = c->n_outputs;
    return 0;
}

const float *tn_get_logits(tn_ctx *c, int32_t i) {
    if (i < 0) i = c->n_outputs + i;
    if (i < 0 || i >= c->n_outputs) return NULL;
    if (i >= c->n_host && fetch_logits(c)) return NULL;
    return c->logits + (size_t)i * (size_t)c->model->n_vocab;
}

int tn_ctx_top_k(tn_ctx *c, int32_t i, int32_t k, const int32_t *pen_ids, int32_t n_pen,
                 float penalty, int32_t *ids, float *vals) {
    if (i < 0) i = c->n_outputs + i;
    if (i < 0 || i >= c->n_outputs) return tn_set_error("sample: no logits for output %d", i);
    const tn_backend_ops *op = c->ex->be->ops;
    if (i < c->n_host || !op->top_k || k < 1 || k > TN_TOP_K_MAX || n_pen > TN_PENALTY_MAX) return 0;
    const int32_t nv = c->model->n_vocab;
    const float *row = c->dev_logits + (size_t)(i - c->n_host) * (size_t)nv;
    return op->top_k(c->ex, row, nv, k, pen_ids, n_pen, penalty, ids, vals) ? -1 : 1;
}

int32_t tn_n_outputs(const tn_ctx *c) { return c->n_outputs; }
