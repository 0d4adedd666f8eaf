/* CPU attention: per-head q/k norm + RoPE + KV-cache write, and softmax attention over the cache.
 * The cache holds one row per cell (any KV type of src/kv/kv.h); a token sees the cells of its own
 * sequence whose position is not after its own (causal mask by position, so prefill and decode
 * compute the same thing). TurboQuant caches are read in the rotated domain: the query is rotated
 * once per head, scores are taken against norm-scaled codebook values, and the weighted sum of
 * rotated values is unrotated once at the end (q.k = Rq.Rk, sum w R v = R sum w v). */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "cpu/cpu_backend.h"
#include "formats/types.h"
#include "kv/kv.h"

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

typedef struct rope_task {
    float *q, *k;
    const float *v;
    const tn_attn_params *p;
    tn_kv_layer *kv;
    const tn_batch_info *b;
    tn_kv_codec ck, cv;
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
        tn_kv_store_row(&t->ck, k, (uint8_t *)t->kv->k + (size_t)cell * t->ck.row_bytes);
        tn_kv_store_row(&t->cv, t->v + i * t->kv->n_embd_v,
                        (uint8_t *)t->kv->v + (size_t)cell * t->cv.row_bytes);
    }
}

void tn_cpu_rope_store(tn_exec *e, float *q, float *k, const float *v, const tn_attn_params *p,
                       tn_kv_layer *kv) {
    tn_cpu_exec *ex = (tn_cpu_exec *)e;
    rope_task t = {.q = q, .k = k, .v = v, .p = p, .kv = kv, .b = e->batch};
    /* The types were checked against the head size when the cache was made. */
    int ok = tn_kv_codec_init(&t.ck, kv->type_k, p->head_dim, p->n_head_kv, kv->rot_seed) == 0 &&
             tn_kv_codec_init(&t.cv, kv->type_v, p->head_dim, p->n_head_kv, kv->rot_seed) == 0;
    assert(ok);
    (void)ok;
    tn_pool_parallel_for(ex->pool, e->batch->n_tokens, 4, rope_tokens, &t);
}

typedef struct attn_task {
    float *out;
    const float *q;
    const tn_kv_layer *kv;
    const tn_attn_params *p;
    const tn_batch_info *b;
    float *scores; /* n_kv floats per thread */
    tn_kv_codec ck, cv;
} attn_task;

static void attend(void *arg, int64_t jb, int64_t je, int thread) {
    attn_task *t = arg;
    const tn_attn_params *p = t->p;
    const tn_batch_info *b = t->b;
    const uint8_t *kc = t->kv->k, *vc = t->kv->v;
    size_t krow = t->ck.row_bytes, vrow = t->cv.row_bytes;
    int hd = p->head_dim;
    int group = p->n_head / p->n_head_kv;
    float *sc = t->scores + (size_t)thread * (size_t)b->n_kv;
    float qr[TN_TURBO_MAX_DIM], x[TN_TURBO_MAX_DIM]; /* head_dim <= 512: checked at model load */
    /* F16 / F32 caches (f16 is the default) are read inline; the other types decode each head
     * row through the codec. The sums run in one fixed order whatever the cache's address, so a
     * token's attention is the same in a prompt batch and in a decode step. */
    const int kt = t->ck.type, vt = t->cv.type;
    for (int64_t j = jb; j < je; j++) {
        int64_t tok = j / p->n_head;
        int h = (int)(j % p->n_head);
        int kvh = h / group;
        float *o = t->out + tok * (int64_t)p->n_head * hd + h * hd;
        memcpy(qr, t->q + tok * (int64_t)p->n_head * hd + h * hd, (size_t)hd * sizeof(float));
        if (t->ck.bits) tn_turbo_rotate(&t->ck.rot, qr);
        int32_t seq = b->seq[tok], pos = b->pos[tok];
        float mx = -INFINITY;
        for (int32_t c = 0; c < b->n_kv; c++) {
            if (b->cell_seq[c] != seq || b->cell_pos[c] < 0 || b->cell_pos[c] > pos) {
                sc[c] = -INFINITY;
                continue;
            }
            float s = 0;
            const uint8_t *kr = kc + (size_t)c * krow;
            if (kt == TN_TYPE_F16) {
                const uint16_t *k16 = (const uint16_t *)kr + (size_t)kvh * hd;
                for (int d = 0; d < hd; d++) s += qr[d] * tn_fp16_to_fp32(k16[d]);
            } else if (kt == TN_TYPE_F32) {
                const float *k32 = (const float *)kr + (size_t)kvh * hd;
                for (int d = 0; d < hd; d++) s += qr[d] * k32[d];
            } else {
                tn_kv_decode_head(&t->ck, kr, kvh, x, 1);
                for (int d = 0; d < hd; d++) s += qr[d] * x[d];
            }
            sc[c] = s * p->scale;
            if (sc[c] > mx) mx = sc[c];
        }
        memset(o, 0, (size_t)hd * sizeof(float));
        double sum = 0;
        for (int32_t c = 0; c < b->n_kv; c++) {
            if (sc[c] == -INFINITY) continue;
            float w = expf(sc[c] - mx);
            sum += w;
            const uint8_t *vr = vc + (size_t)c * vrow;
            if (vt == TN_TYPE_F16) {
                const uint16_t *v16 = (const uint16_t *)vr + (size_t)kvh * hd;
                for (int d = 0; d < hd; d++) o[d] += w * tn_fp16_to_fp32(v16[d]);
            } else if (vt == TN_TYPE_F32) {
                const float *v32 = (const float *)vr + (size_t)kvh * hd;
                for (int d = 0; d < hd; d++) o[d] += w * v32[d];
            } else {
                tn_kv_decode_head(&t->cv, vr, kvh, x, 1);
                for (int d = 0; d < hd; d++) o[d] += w * x[d];
            }
        }
        float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
        for (int d = 0; d < hd; d++) o[d] *= inv;
        if (t->cv.bits) tn_turbo_unrotate(&t->cv.rot, o);
    }
}

void tn_cpu_attention(tn_exec *e, float *out, const float *q, const tn_kv_layer *kv,
                      const tn_attn_params *p) {
    tn_cpu_exec *ex = (tn_cpu_exec *)e;
    const tn_batch_info *b = e->batch;
    size_t per_thread = (size_t)(b->n_kv > 0 ? b->n_kv : 1);
    float *scores = tn_cpu_grow((void **)&ex->score_buf, &ex->score_cap,
                                per_thread * sizeof(float) * (size_t)tn_pool_n_threads(ex->pool));
    attn_task t = {.out = out, .q = q, .kv = kv, .p = p, .b = b, .scores = scores};
    int ok = tn_kv_codec_init(&t.ck, kv->type_k, p->head_dim, p->n_head_kv, kv->rot_seed) == 0 &&
             tn_kv_codec_init(&t.cv, kv->type_v, p->head_dim, p->n_head_kv, kv->rot_seed) == 0;
    assert(ok);
    (void)ok;
    tn_pool_parallel_for(ex->pool, (int64_t)b->n_tokens * p->n_head, 1, attend, &t);
}
