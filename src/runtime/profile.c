/* Per-op profiler (see profile.h): the forwarding op table, the byte/FLOP accounting of each op,
 * and the decode cost model. The report printers are in profile_report.c. */
#include "runtime/profile.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "runtime/model.h"

/* context.c: the context's exec slot, which the profiler wraps. */
tn_exec **tn_ctx_exec_slot(tn_ctx *c);

struct tn_profile {
    tn_exec base;      /* what the context and the model code see; base.be = &be */
    tn_backend be;     /* be.ops = &prof_ops */
    tn_exec *inner;    /* the real exec */
    const tn_backend_ops *real;
    bool paused;
    tn_profile_row *rows;
    int n_rows, cap_rows;
    uint64_t n_steps, n_tokens;
    double step_ns, step_t0;
};

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static tn_profile *P(tn_exec *ex) { return (tn_profile *)ex; }

/* "blk.12.ffn_down.weight" -> "ffn_down"; "output.weight" -> "output". */
static void weight_kind(const tn_weight *w, char *out, size_t size) {
    const char *n = w && w->name ? w->name : "";
    if (strncmp(n, "blk.", 4) == 0) {
        const char *dot = strchr(n + 4, '.');
        if (dot) n = dot + 1;
    }
    snprintf(out, size, "%s", n);
    char *suffix = strstr(out, ".weight");
    if (suffix && suffix[7] == 0) *suffix = 0;
}

static tn_profile_row *row_for(tn_profile *p, const char *op, const char *what) {
    for (int i = 0; i < p->n_rows; i++)
        if (strcmp(p->rows[i].op, op) == 0 && strcmp(p->rows[i].what, what) == 0) return &p->rows[i];
    if (p->n_rows == p->cap_rows) {
        int cap = p->cap_rows ? p->cap_rows * 2 : 32;
        tn_profile_row *r = realloc(p->rows, (size_t)cap * sizeof *r);
        if (!r) return NULL; /* out of memory: the sample is dropped, the run goes on */
        p->rows = r;
        p->cap_rows = cap;
    }
    tn_profile_row *r = &p->rows[p->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->what, sizeof r->what, "%s", what);
    return r;
}

/* Waits for the device (if the backend queues work) and returns the time. */
static double stop_clock(tn_profile *p) {
    if (p->real->sync) p->real->sync(p->inner);
    return now_ns();
}

static void record(tn_profile *p, const char *op, const char *what, double t0, double state,
                   double act, double flops) {
    double t1 = stop_clock(p);
    tn_profile_row *r = row_for(p, op, what);
    if (!r) return;
    r->calls++;
    r->ns += t1 - t0;
    r->state_bytes += state;
    r->act_bytes += act;
    r->flops += flops;
}

#define TIMED(p, call)                                                                             \
    double t0_ = (p)->paused ? 0 : now_ns();                                                       \
    call;                                                                                          \
    if ((p)->paused) return

/* ---- forwarding ops ---- */

static void prof_free(tn_backend *be) { (void)be; /* the model owns the real backend */ }

static int prof_upload_weight(tn_backend *be, tn_weight *w) {
    tn_profile *p = (tn_profile *)((char *)be - offsetof(tn_profile, be));
    return p->real->upload_weight(p->inner->be, w);
}

static tn_exec *prof_exec_new(tn_backend *be, int n_threads) {
    (void)be;
    (void)n_threads;
    tn_set_error("profiler: exec_new through a profiled context is not supported");
    return NULL;
}

static void prof_exec_free(tn_exec *ex) {
    tn_profile *p = P(ex);
    p->real->exec_free(p->inner);
    free(p->rows);
    free(p);
}

static void *prof_alloc(tn_exec *ex, size_t bytes) { return P(ex)->real->alloc(P(ex)->inner, bytes); }

static void prof_release(tn_exec *ex, void *ptr) { P(ex)->real->release(P(ex)->inner, ptr); }

static int prof_read(tn_exec *ex, void *dst, const void *src, size_t bytes) {
    tn_profile *p = P(ex);
    TIMED(p, int rc = p->real->read(p->inner, dst, src, bytes)) rc;
    record(p, "read", "logits", t0_, 0, (double)bytes, 0);
    return rc;
}

static int prof_begin(tn_exec *ex, const tn_batch_info *b) {
    tn_profile *p = P(ex);
    double t0 = now_ns();
    p->base.batch = b;
    int rc = p->real->begin(p->inner, b);
    if (!p->paused) {
        p->step_t0 = t0;
        p->n_steps++;
        p->n_tokens += (uint64_t)b->n_tokens;
        record(p, "begin", "", t0, 0, 0, 0);
    }
    return rc;
}

static int prof_end(tn_exec *ex) {
    tn_profile *p = P(ex);
    TIMED(p, int rc = p->real->end(p->inner)) rc;
    record(p, "end", "", t0_, 0, 0, 0);
    p->step_ns += now_ns() - p->step_t0;
    return rc;
}

static void prof_embed(tn_exec *ex, float *out, const tn_weight *table) {
    tn_profile *p = P(ex);
    TIMED(p, p->real->embed(p->inner, out, table));
    double n = p->base.batch->n_tokens;
    char what[40];
    weight_kind(table, what, sizeof what);
    record(p, "embed", what, t0_, n * (double)tn_row_size(table->type, table->n_in),
           n * (double)table->n_in * 4, 0);
}

static void prof_rmsnorm(tn_exec *ex, float *out, const float *x, const tn_weight *w,
                         int64_t n_rows, int64_t dim, float eps) {
    tn_profile *p = P(ex);
    TIMED(p, p->real->rmsnorm(p->inner, out, x, w, n_rows, dim, eps));
    char what[40];
    weight_kind(w, what, sizeof what);
    record(p, "rmsnorm", what, t0_, w ? (double)dim * 4 : 0, 2.0 * (double)n_rows * (double)dim * 4,
           4.0 * (double)n_rows * (double)dim);
}

static void prof_matmul(tn_exec *ex, float *out, const tn_weight *w, const tn_weight *bias,
                        const float *x, int64_t n_rows) {
    tn_profile *p = P(ex);
    TIMED(p, p->real->matmul(p->inner, out, w, bias, x, n_rows));
    char what[40];
    weight_kind(w, what, sizeof what);
    double state = (double)tn_row_size(w->type, w->n_in) * (double)w->n_out;
    if (bias) state += (double)w->n_out * 4;
    record(p, "matmul", what, t0_, state, (double)n_rows * (double)(w->n_in + w->n_out) * 4,
           2.0 * (double)n_rows * (double)w->n_in * (double)w->n_out);
}

static void prof_add(tn_exec *ex, float *x, const float *y, int64_t n) {
    tn_profile *p = P(ex);
    TIMED(p, p->real->add(p->inner, x, y, n));
    record(p, "add", "", t0_, 0, 3.0 * (double)n * 4, (double)n);
}

static void prof_swiglu(tn_exec *ex, float *out, const float *gate, const float *up, int64_t n) {
    tn_profile *p = P(ex);
    TIMED(p, p->real->swiglu(p->inner, out, gate, up, n));
    record(p, "swiglu", "", t0_, 0, 3.0 * (double)n * 4, 5.0 * (double)n);
}

static double kv_row_bytes(const tn_kv_layer *kv, int head_dim) {
    return (double)tn_kv_row_size(kv->type_k, kv->n_embd_k, head_dim) +
           (double)tn_kv_row_size(kv->type_v, kv->n_embd_v, head_dim);
}

static void prof_rope_store(tn_exec *ex, float *q, float *k, const float *v,
                            const tn_attn_params *a, tn_kv_layer *kv) {
    tn_profile *p = P(ex);
    TIMED(p, p->real->rope_store(p->inner, q, k, v, a, kv));
    double n = p->base.batch->n_tokens, hd = a->head_dim;
    double act = n * hd * 4 * (2.0 * a->n_head + 3.0 * a->n_head_kv);
    record(p, "rope_store", "", t0_, n * kv_row_bytes(kv, a->head_dim), act, 3.0 * n * hd * (a->n_head + a->n_head_kv));
}

static void prof_attention(tn_exec *ex, float *out, const float *q, const tn_kv_layer *kv,
                           const tn_attn_params *a) {
    tn_profile *p = P(ex);
    TIMED(p, p->real->attention(p->inner, out, q, kv, a));
    const tn_batch_info *b = p->base.batch;
    double visible = 0;
    for (int32_t t = 0; t < b->n_tokens; t++)
        visible += b->pos[t] + 1 < b->n_kv ? b->pos[t] + 1 : b->n_kv;
    double qo = (double)b->n_tokens * a->n_head * a->head_dim * 4 * 2;
    record(p, "attention", "", t0_, (double)b->n_kv * kv_row_bytes(kv, a->head_dim), qo,
           4.0 * a->n_head * a->head_dim * visible);
}

static void prof_get_rows(tn_exec *ex, float *out, const float *x, int64_t dim) {
    tn_profile *p = P(ex);
    TIMED(p, p->real->get_rows(p->inner, out, x, dim));
    record(p, "get_rows", "", t0_, 0, 2.0 * p->base.batch->n_out * (double)dim * 4, 0);
}

static int prof_sync(tn_exec *ex) {
    tn_profile *p = P(ex);
    return p->real->sync ? p->real->sync(p->inner) : 0;
}

static const tn_backend_ops prof_ops = {
    .name = "profile",
    .free = prof_free,
    .upload_weight = prof_upload_weight,
    .exec_new = prof_exec_new,
    .exec_free = prof_exec_free,
    .alloc = prof_alloc,
    .release = prof_release,
    .read = prof_read,
    .begin = prof_begin,
    .end = prof_end,
    .embed = prof_embed,
    .rmsnorm = prof_rmsnorm,
    .matmul = prof_matmul,
    .add = prof_add,
    .swiglu = prof_swiglu,
    .rope_store = prof_rope_store,
    .attention = prof_attention,
    .get_rows = prof_get_rows,
    .sync = prof_sync,
};

tn_profile *tn_profile_attach(tn_ctx *ctx) {
    tn_exec **slot = ctx ? tn_ctx_exec_slot(ctx) : NULL;
    if (!slot || !*slot) {
        tn_set_error("profiler: no context");
        return NULL;
    }
    if ((*slot)->be->ops == &prof_ops) return P(*slot);
    tn_profile *p = calloc(1, sizeof *p);
    if (!p) {
        tn_set_error("profiler: out of memory");
        return NULL;
    }
    p->inner = *slot;
    p->real = p->inner->be->ops;
    p->be.ops = &prof_ops;
    p->base.be = &p->be;
    p->base.batch = p->inner->batch;
    p->paused = true;
    *slot = &p->base;
    return p;
}

void tn_profile_resume(tn_profile *p) { p->paused = false; }
void tn_profile_pause(tn_profile *p) { p->paused = true; }

void tn_profile_reset(tn_profile *p) {
    p->n_rows = 0;
    p->n_steps = p->n_tokens = 0;
    p->step_ns = 0;
}

int tn_profile_n_rows(const tn_profile *p) { return p->n_rows; }

const tn_profile_row *tn_profile_row_at(const tn_profile *p, int i) {
    return i >= 0 && i < p->n_rows ? &p->rows[i] : NULL;
}

tn_profile_row tn_profile_total(const tn_profile *p, const char *op) {
    tn_profile_row t;
    memset(&t, 0, sizeof t);
    snprintf(t.op, sizeof t.op, "%s", op ? op : "total");
    for (int i = 0; i < p->n_rows; i++) {
        const tn_profile_row *r = &p->rows[i];
        if (op && strcmp(r->op, op) != 0) continue;
        t.calls += r->calls;
        t.ns += r->ns;
        t.state_bytes += r->state_bytes;
        t.act_bytes += r->act_bytes;
        t.flops += r->flops;
    }
    return t;
}

uint64_t tn_profile_n_steps(const tn_profile *p) { return p->n_steps; }
uint64_t tn_profile_n_tokens(const tn_profile *p) { return p->n_tokens; }
double tn_profile_step_ns(const tn_profile *p) { return p->step_ns; }

/* ---- cost model ---- */

uint64_t tn_model_decode_weight_bytes(const tn_model *m) {
    bool has_output = false;
    for (int i = 0; i < m->n_weights; i++)
        if (strcmp(m->weights[i]->name, "output.weight") == 0) has_output = true;
    uint64_t total = 0;
    for (int i = 0; i < m->n_weights; i++) {
        const tn_weight *w = m->weights[i];
        uint64_t row = tn_row_size(w->type, w->n_in);
        if (strcmp(w->name, "token_embd.weight") == 0)
            total += has_output ? row : row * (uint64_t)(w->n_out + 1);
        else
            total += row * (uint64_t)w->n_out;
    }
    return total;
}

uint64_t tn_model_kv_bytes_per_cell(const tn_model *m, int type_k, int type_v) {
    uint32_t n_head = 0, n_head_kv = 0, k_len = 0, v_len = 0;
    if (tn_model_hparam_u32(m, "attention.head_count", &n_head, false) || !n_head) return 0;
    if (tn_model_hparam_u32(m, "attention.head_count_kv", &n_head_kv, false) || !n_head_kv)
        n_head_kv = n_head;
    if (tn_model_hparam_u32(m, "attention.key_length", &k_len, false) || !k_len)
        k_len = (uint32_t)m->n_embd / n_head;
    if (tn_model_hparam_u32(m, "attention.value_length", &v_len, false) || !v_len) v_len = k_len;
    uint64_t k = tn_kv_row_size(type_k, (int64_t)n_head_kv * k_len, (int)k_len);
    uint64_t v = tn_kv_row_size(type_v, (int64_t)n_head_kv * v_len, (int)v_len);
    if (!k || !v) return 0;
    return (uint64_t)m->n_layer * (k + v);
}

const char *tn_model_backend_name(const tn_model *m) {
    return m && m->be && m->be->ops && m->be->ops->name ? m->be->ops->name : "?";
}
