/* The CUDA backend's planner: turns a recorded op list into kernel launches. Neighbouring ops
 * fuse where a kernel can take the next op's work: an RMSNorm or attention quantizes its output
 * for the mat-vecs that read it, matmuls sharing an input share a launch (q/k/v, gate/up), and
 * mat-vec epilogues do SwiGLU, the residual add, or (decode) RoPE + the K/V cache store, and
 * (decode) a residual mat-vec makes the next RMSNorm's int8 items, so that norm has no kernel. */
#include <string.h>

#include "cuda/cuda_common.cuh"

static bool is_quant(const tn_cu_weight *w) { return !tn_cu_is_float(w->type); }

/* End (exclusive) of the run of matmuls starting at i that share input, rows and width. */
static int group_end(const tn_cu_op *ops, int n, int i) {
    int j = i + 1;
    while (j < n && ops[j].kind == TN_CU_OP_MATMUL && ops[j].x == ops[i].x &&
           ops[j].n_rows == ops[i].n_rows && ops[j].w->n_in == ops[i].w->n_in && ops[j].out != ops[i].x)
        j++;
    return j;
}

static bool group_needs_quant(const tn_cu_op *ops, int i, int j) {
    for (int k = i; k < j; k++)
        if (is_quant(ops[k].w)) return true;
    return false;
}

/* Whether op i's output (rows of `width` floats) is the input of a following matmul group that
 * wants int8 activations, so that op i's kernel can quantize its output for it (decode-sized
 * batches; whole 32-value items). */
static bool feeds_quant_matmuls(const tn_cu_op *ops, int n, int i, int64_t width) {
    if (i + 1 >= n) return false;
    const tn_cu_op *op = &ops[i], *nx = &ops[i + 1];
    return nx->kind == TN_CU_OP_MATMUL && nx->x == op->out && nx->n_rows == op->n_rows &&
           op->n_rows <= TN_CU_MAX_NR && width % 32 == 0 && nx->w->n_in == width &&
           group_needs_quant(ops, i + 1, group_end(ops, n, i + 1));
}

/* Whether a matmul group [i, j) takes only int8 activations (every weight quantized). */
static bool group_all_quant(const tn_cu_op *ops, int i, int j) {
    for (int k = i; k < j; k++)
        if (!is_quant(ops[k].w)) return false;
    return true;
}

/* Whether no op from `from` on reads `buf` (the float output a fused quantization leaves unmade)
 * before one overwrites it. ADD and ROPE read their output buffer (in place). */
static bool unread_after(const tn_cu_op *ops, int n, int from, const float *buf) {
    for (int k = from; k < n; k++) {
        const tn_cu_op *o = &ops[k];
        const bool in_place = o->kind == TN_CU_OP_ADD || o->kind == TN_CU_OP_ROPE;
        if (o->x == buf || o->y == buf || o->k == buf || (in_place && o->out == buf)) return false;
        if (o->out == buf) return true;
    }
    return true;
}

/* Whether RMSNorm op c can take, in one decode row, input items the mat-vec before it quantized in
 * its epilogue instead of running its own kernel: the matmul group it feeds has only quantized
 * weights and stages its activations (the norm's scale is applied there), and nothing else reads
 * the normalized values, which are no longer made. `width`: the values' count. */
static bool takes_fused_items(const tn_cu_exec *ex, const tn_cu_op *ops, int n, int c,
                              int64_t width) {
    if (!ex->fuse_quant || c + 1 >= n || width % 32 || ops[c].n_rows != 1) return false;
    const tn_cu_op *g = &ops[c + 1];
    if (ops[c].kind != TN_CU_OP_RMSNORM || ops[c].dim != width || g->kind != TN_CU_OP_MATMUL ||
        g->n_rows != 1 || g->w->n_in != width || g->x != ops[c].out)
        return false;
    const int e = group_end(ops, n, c + 1);
    return group_all_quant(ops, c + 1, e) && tn_cu_matvec_stages(ex, width) &&
           unread_after(ops, n, e, ops[c].out);
}

/* The buffer of the residual add right after matmul group [i, j) (ADD op j: out += the last
 * matmul's output), which the last mat-vec can do in its epilogue; NULL if there is none. */
static float *residual_of(const tn_cu_op *ops, int n, int i, int j, int64_t nr) {
    const tn_cu_op *next = j < n ? &ops[j] : NULL;
    if (next && next->kind == TN_CU_OP_ADD && next->y == ops[j - 1].out && next->n == nr * ops[j - 1].w->n_out &&
        next->out != ops[i].x && next->out != ops[j - 1].out)
        return next->out;
    return NULL;
}

/* Whether a decode mat-vec of weight w doing residual add res (ADD op j) can make the int8 items
 * of RMSNorm op j + 1 (tn_cu_mv_io out_*): a quantized weight, a staged input, whole items, and
 * enough of its 32-row blocks for half the SMs. (Measured on an H200, tg128 Q4_0: Llama-3-8B, 128
 * blocks, +6 % with the items made here; Qwen3-0.6B, 32 blocks on 132 SMs, -3 %: 2026-12-02f.) */
static bool makes_norm_items(const tn_cu_exec *ex, const tn_cu_op *ops, int n, int j, const tn_cu_weight *w,
                             const float *res) {
    return res && is_quant(w) && tn_cu_matvec_stages(ex, w->n_in) && w->n_out % 32 == 0 &&
           (ex->fuse_quant == 2 || 2 * (w->n_out / 32) >= ex->n_sm) && j + 1 < n &&
           ops[j + 1].x == res && takes_fused_items(ex, ops, n, j + 1, w->n_out);
}

/* Whether TERN_CUDA_SKIP names this kind of kernel (profiling: what a step costs without it). */
static bool skipped(const tn_cu_exec *ex, const char *what) { return ex->skip && strstr(ex->skip, what); }

/* The rope role of matmul m's output for rope op r. */
static int rope_role(const tn_cu_op *m, const tn_cu_op *r) {
    if (m->w->n_out % 2) return TN_CU_ROPE_NONE;
    if (m->out == r->out) return TN_CU_ROPE_Q;
    if (m->out == r->k) return TN_CU_ROPE_K;
    if (m->out == r->x) return TN_CU_ROPE_V;
    return TN_CU_ROPE_NONE;
}

/* The int8 activations a matmul group reads: already made (by the preceding RMSNorm, attention or
 * a fused mat-vec epilogue: `buf` says which pair, in_ss/eps an RMSNorm still to scale) or not. */
typedef struct mv_input {
    bool ready;
    int buf;
    const double *in_ss;
    float eps;
} mv_input;

static void set_pair(const tn_cu_exec *ex, int buf, int8_t **q, tn_cu_xmeta **m) {
    *q = buf ? ex->xq2 : ex->xq;
    *m = buf ? ex->xm2 : ex->xm;
}

/* The output quantization of the launch about to run (tn_cu_mv_io): into the pair the input is
 * not in (other blocks are still staging it); RMSNorm op c then takes those items (tn_cu_run_ops).
 */
static void fuse_out(tn_cu_exec *ex, tn_cu_mv_io *io, int in_buf, int c, const float *norm_w) {
    set_pair(ex, !in_buf, &io->out_q, &io->out_m);
    io->out_ss = ex->fz_ss;
    io->out_nw = norm_w;
    ex->fz_op = c;
    ex->fz_buf = !in_buf;
}

/* Whether the TurboQuant attention op right after RoPE op i stores the token's K/V rows itself
 * (tn_cu_turbo_attention's new_k: one decode token, the op of the same layer). */
static bool attn_takes_turbo_store(const tn_cu_exec *ex, const tn_cu_op *ops, int n, int i) {
    if (i + 1 >= n) return false;
    const tn_cu_op *r = &ops[i], *a = &ops[i + 1];
    return ex->turbo_fuse && r->at.turbo && a->kind == TN_CU_OP_ATTN && a->x == r->out &&
           memcmp(&a->at, &r->at, sizeof a->at) == 0 && r->n_rows == 1 && a->n_rows == 1;
}

/* The TurboQuant cache store after RoPE op i (made by its own kernel, or left to the attention op). */
static void turbo_store_after_rope(tn_cu_exec *ex, const tn_cu_op *ops, int n, int i) {
    const tn_cu_op *r = &ops[i];
    if (attn_takes_turbo_store(ex, ops, n, i)) ex->store_in_op = i + 1;
    else tn_cu_turbo_store(ex, r->k, r->x, &r->at, (int32_t)r->n_rows);
}

/* Runs the matmul group [i, j) plus a fusable op right after it; returns the next op index. */
static int run_matmuls(tn_cu_exec *ex, const tn_cu_op *ops, int n, int i, int j,
                       const mv_input *in) {
    const tn_cu_op *g = &ops[i];
    const int64_t nr = g->n_rows;
    const bool xq_ready = in && in->ready;
    const int in_buf = xq_ready ? in->buf : 0;
    tn_cu_mv_io io;
    memset(&io, 0, sizeof io);
    set_pair(ex, in_buf, (int8_t **)&io.xq, (tn_cu_xmeta **)&io.xm);
    if (xq_ready) {
        io.in_ss = in->in_ss;
        io.in_eps = in->eps;
    }
    if (nr > TN_CU_MAX_NR) {
        bool need_h = false;
        for (int k = i; k < j; k++) need_h |= ops[k].w->type != TN_TYPE_F32;
        if (need_h) tn_cu_to_half(ex, ex->xh, g->x, nr * g->w->n_in);
        for (int k = i; k < j && !ex->failed; k++)
            tn_cu_gemm(ex, ops[k].out, ops[k].w, ops[k].bias ? (const float *)ops[k].bias->raw : NULL,
                       ops[k].x, ex->xh, nr);
        return j;
    }
    if (group_needs_quant(ops, i, j) && !xq_ready && !skipped(ex, "quant"))
        tn_cu_quantize(ex, g->x, nr, g->w->n_in, ex->xq, ex->xm); /* pair 0 (in_buf) */
    bool done[64] = {false};
    const int cnt = j - i < 64 ? j - i : 64;
    j = i + cnt;
    const tn_cu_op *next = j < n ? &ops[j] : NULL;
    int consumed = 0;
    /* gate/up + SwiGLU */
    if (next && next->kind == TN_CU_OP_SWIGLU && next->out == next->x) {
        int gi = -1, ui = -1;
        for (int k = i; k < j; k++) {
            if (ops[k].out == next->x) gi = k;
            if (ops[k].out == next->y) ui = k;
        }
        if (gi >= 0 && ui >= 0 && gi != ui && !ops[gi].bias && !ops[ui].bias &&
            ops[gi].w->type == ops[ui].w->type && ops[gi].w->n_out == ops[ui].w->n_out &&
            next->n == nr * ops[gi].w->n_out) {
            tn_cu_mv_seg seg[2] = {{ops[gi].w, NULL, ops[gi].out, NULL, TN_CU_ROPE_NONE},
                                   {ops[ui].w, NULL, ops[ui].out, NULL, TN_CU_ROPE_NONE}};
            tn_cu_matvec(ex, seg, 2, true, g->x, &io, (int)nr, NULL);
            done[gi - i] = done[ui - i] = true;
            consumed = 1;
        }
    }
    /* residual add after the last matmul */
    float *res = consumed ? NULL : residual_of(ops, n, i, j, nr);
    if (res) consumed = 1;
    /* RoPE + cache store of the q/k/v just made (one decode token) */
    const tn_cu_attn *rope_at = NULL;
    if (!consumed && next && next->kind == TN_CU_OP_ROPE && tn_cu_matvec_ropes(ex, &next->at, nr)) {
        int roles = 0;
        for (int k = i; k < j; k++) roles |= 1 << rope_role(&ops[k], next);
        if (roles == (1 << TN_CU_ROPE_Q | 1 << TN_CU_ROPE_K | 1 << TN_CU_ROPE_V)) {
            rope_at = &next->at;
            consumed = 1;
        }
    }
    /* the rest: consecutive same-type weights share a launch (up to 3) */
    for (int k = i; k < j && !ex->failed;) {
        if (done[k - i]) {
            k++;
            continue;
        }
        tn_cu_mv_seg seg[3];
        memset(seg, 0, sizeof seg);
        int ns = 0;
        while (k < j && ns < 3 && !done[k - i] && (ns == 0 || ops[k].w->type == seg[0].w->type)) {
            seg[ns].w = ops[k].w;
            seg[ns].bias = ops[k].bias ? (const float *)ops[k].bias->raw : NULL;
            seg[ns].out = ops[k].out;
            seg[ns].res = (k == j - 1) ? res : NULL;
            seg[ns].rope = rope_at ? rope_role(&ops[k], next) : TN_CU_ROPE_NONE;
            ns++;
            k++;
        }
        tn_cu_mv_io sio = io;
        /* residual add, then the next RMSNorm's items (x*w and sums of squares) made here */
        if (ns == 1 && !seg[0].rope && makes_norm_items(ex, ops, n, j, seg[0].w, seg[0].res))
            fuse_out(ex, &sio, in_buf, j + 1, (const float *)ops[j + 1].w->raw);
        tn_cu_matvec(ex, seg, ns, false, g->x, &sio, (int)nr, rope_at);
    }
    if (rope_at && rope_at->turbo) turbo_store_after_rope(ex, ops, n, j); /* the mat-vecs left the cache */
    return j + consumed;
}

/* After op i: if it left its output quantized (q), the matmul group that follows runs on that;
 * returns the index of the next op to run. */
static int after_quantizing(tn_cu_exec *ex, const tn_cu_op *ops, int n, int i, bool q) {
    const mv_input in = {true, 0, NULL, 0.0f};
    return q ? run_matmuls(ex, ops, n, i + 1, group_end(ops, n, i + 1), &in) : i + 1;
}

/* RMSNorm op i's items were made by the mat-vec before it (fuse_out): no RMSNorm kernel, the
 * matmul group after it runs on them. Returns the next op index. */
static int on_fused_items(tn_cu_exec *ex, const tn_cu_op *ops, int n, int i) {
    const mv_input in = {true, ex->fz_buf, ex->fz_ss, ops[i].eps};
    ex->fz_op = -1;
    return run_matmuls(ex, ops, n, i + 1, group_end(ops, n, i + 1), &in);
}

/* Whether RoPE op i (not fused into the q/k/v mat-vecs: QK-norm, or TERN_CUDA_FUSE_ROPE=0) can be
 * done by the attention op right after it (tn_cu_attn_rope_in_ok), which reads the rotated q of
 * this layer and nothing later reads the q and k buffers the RoPE kernel would have rotated. */
static bool attn_takes_rope(const tn_cu_exec *ex, const tn_cu_op *ops, int n, int i) {
    if (i + 1 >= n) return false;
    const tn_cu_op *r = &ops[i], *a = &ops[i + 1];
    return a->kind == TN_CU_OP_ATTN && a->x == r->out && memcmp(&a->at, &r->at, sizeof a->at) == 0 &&
           r->n_rows == 1 && a->n_rows == 1 &&
           tn_cu_attn_rope_in_ok(ex, &a->at, (int32_t)a->n_rows, a->n_split, a->attn_tc) &&
           unread_after(ops, n, i + 2, r->out) && unread_after(ops, n, i + 1, r->k);
}

void tn_cu_run_ops(tn_cu_exec *ex, const tn_cu_op *ops, int n) {
    ex->fz_op = -1;
    ex->rope_in_op = -1;
    ex->store_in_op = -1;
    for (int i = 0; i < n && !ex->failed;) {
        const tn_cu_op *op = &ops[i];
        if (i == ex->fz_op) {
            i = on_fused_items(ex, ops, n, i);
            continue;
        }
        switch (op->kind) {
        case TN_CU_OP_EMBED:
            tn_cu_embed(ex, op->out, op->w, (int32_t)op->n_rows);
            i++;
            break;
        case TN_CU_OP_RMSNORM: {
            const bool q = feeds_quant_matmuls(ops, n, i, op->dim);
            if (!skipped(ex, "norm"))
                tn_cu_rmsnorm(ex, op->out, op->x, (const float *)op->w->raw, op->n_rows, op->dim, op->eps,
                              q ? ex->xq : NULL, q ? ex->xm : NULL);
            i = after_quantizing(ex, ops, n, i, q);
            break;
        }
        case TN_CU_OP_MATMUL:
            i = run_matmuls(ex, ops, n, i, group_end(ops, n, i), NULL);
            break;
        case TN_CU_OP_ADD:
            tn_cu_add(ex, op->out, op->y, op->n);
            i++;
            break;
        case TN_CU_OP_SWIGLU:
            tn_cu_swiglu(ex, op->out, op->x, op->y, op->n);
            i++;
            break;
        case TN_CU_OP_ROPE:
            if (attn_takes_rope(ex, ops, n, i)) { /* the attention op after it does it */
                ex->rope_in_op = i + 1;
                i++;
                break;
            }
            if (!skipped(ex, "rope")) tn_cu_rope_store(ex, op->out, op->k, op->x, &op->at, (int32_t)op->n_rows);
            if (op->at.turbo) turbo_store_after_rope(ex, ops, n, i);
            i++;
            break;
        case TN_CU_OP_ATTN: {
            /* decode: the attention kernel quantizes its output for the output projection */
            bool q = feeds_quant_matmuls(ops, n, i, (int64_t)op->at.n_head * op->at.head_dim);
            if (op->at.turbo) {
                q = q && tn_cu_turbo_quantizes_out(ex, &op->at, (int32_t)op->n_rows, op->n_split);
                const tn_cu_op *r = i == ex->store_in_op ? &ops[i - 1] : NULL; /* stores the token's K/V */
                ex->store_in_op = -1;
                if (!skipped(ex, "attn")) /* (with the token's cache store, if the kernel does it) */
                    tn_cu_turbo_attention(ex, op->out, op->x, &op->at, (int32_t)op->n_rows, op->n_split,
                                          q ? ex->xq : NULL, q ? ex->xm : NULL, r ? r->k : NULL, r ? r->x : NULL);
                i = after_quantizing(ex, ops, n, i, q);
                break;
            }
            if (i == ex->rope_in_op) {
                const tn_cu_op *r = &ops[i - 1];
                ex->rope_in_op = -1;
                tn_cu_attention_rope_in(ex, op->out, op->x, r->k, r->x, &op->at, q ? ex->xq : NULL,
                                        q ? ex->xm : NULL);
            } else if (!skipped(ex, "attn")) {
                tn_cu_attention(ex, op->out, op->x, &op->at, (int32_t)op->n_rows, op->n_split, op->attn_tc,
                                q ? ex->xq : NULL, q ? ex->xm : NULL);
            }
            i = after_quantizing(ex, ops, n, i, q);
            break;
        }
        case TN_CU_OP_GET_ROWS:
            tn_cu_get_rows(ex, op->out, op->x, op->dim, (int32_t)op->n_rows);
            i++;
            break;
        default:
            tn_cu_fail(ex, "CUDA: unknown op %d", op->kind);
        }
    }
}
