/* CPU attention: per-head q/k norm + RoPE + KV-cache write, and softmax attention over the cache.
 * The cache holds one row per cell; a token sees the cells of its own sequence whose position is
 * not after its own (causal mask by position, so prefill and decode compute the same thing). */
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "cpu/cpu_backend.h"
#include "formats/types.h"

static void head_rmsnorm(float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float s = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++) x[i] = x[i] * s * w[i];
}

/* Rotates the first n_rot dims of one head by the angles whose cos/sin are given. */
static void rope_head(float *x, const float *cs, const float *sn, int n_rot, int mode) {
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        int i0 = mode == TN_ROPE_NEOX ? i : 2 * i;
        int i1 = mode == TN_ROPE_NEOX ? i + half : 2 * i + 1;
        float x0 = x[i0], x1 = x[i1];
        x[i0] = x0 * cs[i] - x1 * sn[i];
        x[i1] = x0 * sn[i] + x1 * cs[i];
    }
}

static void store_row(void *cache, int type, int64_t cell, int64_t n, const float *src) {
    if (type == TN_TYPE_F32) {
        memcpy((float *)cache + cell * n, src, (size_t)n * sizeof(float));
    } else { /* F16: checked when the cache was created */
        uint16_t *dst = (uint16_t *)cache + cell * n;
        for (int64_t i = 0; i < n; i++) dst[i] = tn_fp32_to_fp16(src[i]);
    }
}

typedef struct rope_task {
    float *q, *k;
    const float *v;
    const tn_attn_params *p;
    tn_kv_layer *kv;
    const tn_batch_info *b;
} rope_task;

static void rope_tokens(void *arg, int64_t tb, int64_t te, int thread) {
    rope_task *t = arg;
    const tn_attn_params *p = t->p;
    int hd = p->head_dim;
    float cs[512], sn[512]; /* n_rot/2 <= 512: checked at model load */
    for (int64_t i = tb; i < te; i++) {
        double pos = (double)t->b->pos[i] * p->freq_scale;
        for (int j = 0; j < p->n_rot / 2; j++) {
            double theta = pos * pow(p->freq_base, -2.0 * j / p->n_rot);
            cs[j] = (float)cos(theta);
            sn[j] = (float)sin(theta);
        }
        float *q = t->q + i * (int64_t)p->n_head * hd;
        float *k = t->k + i * (int64_t)p->n_head_kv * hd;
        for (int h = 0; h < p->n_head; h++) {
            if (p->q_norm) head_rmsnorm(q + h * hd, p->q_norm->host, hd, p->norm_eps);
            rope_head(q + h * hd, cs, sn, p->n_rot, p->rope_mode);
        }
        for (int h = 0; h < p->n_head_kv; h++) {
            if (p->k_norm) head_rmsnorm(k + h * hd, p->k_norm->host, hd, p->norm_eps);
            rope_head(k + h * hd, cs, sn, p->n_rot, p->rope_mode);
        }
        int64_t cell = t->b->cell[i];
        store_row(t->kv->k, t->kv->type_k, cell, t->kv->n_embd_k, k);
        store_row(t->kv->v, t->kv->type_v, cell, t->kv->n_embd_v,
                  t->v + i * t->kv->n_embd_v);
    }
}

void tn_cpu_rope_store(tn_exec *e, float *q, float *k, const float *v, const tn_attn_params *p,
                       tn_kv_layer *kv) {
    tn_cpu_exec *ex = (tn_cpu_exec *)e;
    rope_task t = {q, k, v, p, kv, e->batch};
    tn_pool_parallel_for(ex->pool, e->batch->n_tokens, 4, rope_tokens, &t);
}

static inline float cache_at(const void *cache, int type, int64_t idx) {
    return type == TN_TYPE_F32 ? ((const float *)cache)[idx]
                               : tn_fp16_to_fp32(((const uint16_t *)cache)[idx]);
}

typedef struct attn_task {
    float *out;
    const float *q;
    const tn_kv_layer *kv;
    const tn_attn_params *p;
    const tn_batch_info *b;
    float *scores; /* n_kv floats per thread */
} attn_task;

static void attend(void *arg, int64_t jb, int64_t je, int thread) {
    attn_task *t = arg;
    const tn_attn_params *p = t->p;
    const tn_batch_info *b = t->b;
    int hd = p->head_dim;
    int group = p->n_head / p->n_head_kv;
    float *sc = t->scores + (size_t)thread * (size_t)b->n_kv;
    for (int64_t j = jb; j < je; j++) {
        int64_t tok = j / p->n_head;
        int h = (int)(j % p->n_head);
        int kvh = h / group;
        const float *q = t->q + tok * (int64_t)p->n_head * hd + h * hd;
        float *o = t->out + tok * (int64_t)p->n_head * hd + h * hd;
        int32_t seq = b->seq[tok], pos = b->pos[tok];
        float mx = -INFINITY;
        for (int32_t c = 0; c < b->n_kv; c++) {
            if (b->cell_seq[c] != seq || b->cell_pos[c] < 0 || b->cell_pos[c] > pos) {
                sc[c] = -INFINITY;
                continue;
            }
            int64_t base = (int64_t)c * t->kv->n_embd_k + (int64_t)kvh * hd;
            float s = 0;
            for (int d = 0; d < hd; d++) s += q[d] * cache_at(t->kv->k, t->kv->type_k, base + d);
            sc[c] = s * p->scale;
            if (sc[c] > mx) mx = sc[c];
        }
        memset(o, 0, (size_t)hd * sizeof(float));
        double sum = 0;
        for (int32_t c = 0; c < b->n_kv; c++) {
            if (sc[c] == -INFINITY) continue;
            float w = expf(sc[c] - mx);
            sum += w;
            int64_t base = (int64_t)c * t->kv->n_embd_v + (int64_t)kvh * hd;
            for (int d = 0; d < hd; d++) o[d] += w * cache_at(t->kv->v, t->kv->type_v, base + d);
        }
        float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
        for (int d = 0; d < hd; d++) o[d] *= inv;
    }
}

void tn_cpu_attention(tn_exec *e, float *out, const float *q, const tn_kv_layer *kv,
                      const tn_attn_params *p) {
    tn_cpu_exec *ex = (tn_cpu_exec *)e;
    const tn_batch_info *b = e->batch;
    size_t per_thread = (size_t)(b->n_kv > 0 ? b->n_kv : 1);
    float *scores = tn_cpu_grow((void **)&ex->score_buf, &ex->score_cap,
                                per_thread * sizeof(float) * (size_t)tn_pool_n_threads(ex->pool));
    attn_task t = {out, q, kv, p, b, scores};
    tn_pool_parallel_for(ex->pool, (int64_t)b->n_tokens * p->n_head, 1, attend, &t);
}
