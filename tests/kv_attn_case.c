/* Random attention problems over KV caches of any type (see kv_attn_case.h). */
#include "kv_attn_case.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kv/kv.h"

static uint64_t next_u64(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return ((next_u64(s) >> 11) + 0.5) * 0x1p-53; }

static float gauss(uint64_t *s) {
    return (float)(sqrt(-2.0 * log(uniform(s))) * cos(6.283185307179586 * uniform(s)));
}

/* Rows of N(0, 1) values times a per-row scale in [0.5, 1.5), like keys of varying length. */
static void fill_rows(float *x, int rows, int n, uint64_t *s) {
    for (int r = 0; r < rows; r++) {
        float sc = (float)(0.5 + uniform(s));
        for (int i = 0; i < n; i++) x[(size_t)r * n + i] = sc * gauss(s);
    }
}

int tkv_case_init(tkv_case *c, int type_k, int type_v, int head_dim, int n_head, int n_head_kv,
                  int n_kv, int n_tokens, uint64_t seed) {
    return tkv_case_init_scaled(c, type_k, type_v, head_dim, n_head, n_head_kv, n_kv, n_tokens, seed, 1.0f, 1.0f);
}

int tkv_case_init_scaled(tkv_case *c, int type_k, int type_v, int head_dim, int n_head, int n_head_kv,
                         int n_kv, int n_tokens, uint64_t seed, float q_scale, float v_scale) {
    memset(c, 0, sizeof *c);
    if (tn_kv_type_check(type_k, head_dim) || tn_kv_type_check(type_v, head_dim)) return -1;
    c->head_dim = head_dim;
    c->n_head = n_head;
    c->n_head_kv = n_head_kv;
    c->n_kv = n_kv;
    c->n_tokens = n_tokens;
    int64_t qd = (int64_t)n_head * head_dim, kd = (int64_t)n_head_kv * head_dim;
    c->ap = (tn_attn_params){.n_head = n_head, .n_head_kv = n_head_kv, .head_dim = head_dim,
                             .n_rot = 0, .freq_base = 10000.0f, .freq_scale = 1.0f,
                             .norm_eps = 1e-6f, .scale = 1.0f / sqrtf((float)head_dim)};
    c->kv = (tn_kv_layer){.type_k = type_k, .type_v = type_v, .n_embd_k = kd, .n_embd_v = kd,
                          .rot_seed = tn_turbo_layer_seed((int)(seed % 64))};
    c->k_row = tn_kv_row_size(type_k, kd, head_dim);
    c->v_row = tn_kv_row_size(type_v, kd, head_dim);
    c->q = malloc(sizeof(float) * (size_t)(n_tokens * qd));
    c->k = malloc(sizeof(float) * (size_t)(n_kv * kd));
    c->v = malloc(sizeof(float) * (size_t)(n_kv * kd));
    c->kv.k = calloc((size_t)n_kv, c->k_row);
    c->kv.v = calloc((size_t)n_kv, c->v_row);
    c->pos = malloc(sizeof(int32_t) * (size_t)(n_tokens + n_kv));
    c->seq = malloc(sizeof(int32_t) * (size_t)(n_tokens + n_kv));
    c->cell = malloc(sizeof(int32_t) * (size_t)(n_tokens + n_kv));
    c->cell_pos = malloc(sizeof(int32_t) * (size_t)n_kv);
    c->cell_seq = malloc(sizeof(int32_t) * (size_t)n_kv);
    if (!c->q || !c->k || !c->v || !c->kv.k || !c->kv.v || !c->pos || !c->seq || !c->cell ||
        !c->cell_pos || !c->cell_seq) {
        tkv_case_free(c);
        return tn_set_error("test case: out of memory");
    }
    uint64_t s = seed;
    fill_rows(c->q, n_tokens * n_head, head_dim, &s);
    fill_rows(c->k, n_kv * n_head_kv, head_dim, &s);
    fill_rows(c->v, n_kv * n_head_kv, head_dim, &s);
    for (int64_t i = 0; i < n_tokens * qd; i++) c->q[i] *= q_scale;
    for (int64_t i = 0; i < n_kv * kd; i++) c->v[i] *= v_scale;
    for (int i = 0; i < n_kv; i++) {
        c->cell_pos[i] = i;
        c->cell_seq[i] = i % 5 == 4 ? 1 : 0;
    }
    /* Store all cells with one rope_store batch (n_rot = 0: K and V are written as given). */
    tn_backend *be = tn_backend_cpu_new();
    tn_exec *ex = be ? be->ops->exec_new(be, 1) : NULL;
    float *qd_scratch = calloc((size_t)(n_kv * qd), sizeof(float));
    float *kcopy = malloc(sizeof(float) * (size_t)(n_kv * kd));
    int rc = -1;
    if (ex && qd_scratch && kcopy) {
        memcpy(kcopy, c->k, sizeof(float) * (size_t)(n_kv * kd));
        for (int i = 0; i < n_kv; i++) {
            c->pos[i] = c->cell_pos[i];
            c->seq[i] = c->cell_seq[i];
            c->cell[i] = i;
        }
        tn_batch_info sb = {.n_tokens = n_kv, .pos = c->pos, .seq = c->seq, .cell = c->cell,
                            .n_kv = n_kv, .cell_pos = c->cell_pos, .cell_seq = c->cell_seq};
        be->ops->begin(ex, &sb);
        be->ops->rope_store(ex, qd_scratch, kcopy, c->v, &c->ap, &c->kv);
        be->ops->end(ex);
        rc = 0;
    }
    free(qd_scratch);
    free(kcopy);
    if (ex) be->ops->exec_free(ex);
    if (be) be->ops->free(be);
    if (rc) {
        tkv_case_free(c);
        return tn_set_error("test case: cannot run the CPU backend");
    }
    /* The query batch: the last n_tokens positions, sequence 0. */
    for (int t = 0; t < n_tokens; t++) {
        c->pos[t] = n_kv - n_tokens + t;
        c->seq[t] = 0;
        c->cell[t] = n_kv - n_tokens + t;
    }
    c->b = (tn_batch_info){.n_tokens = n_tokens, .pos = c->pos, .seq = c->seq, .cell = c->cell,
                           .n_kv = n_kv, .cell_pos = c->cell_pos, .cell_seq = c->cell_seq};
    return 0;
}

void tkv_case_free(tkv_case *c) {
    void *p[] = {c->q, c->k, c->v, c->kv.k, c->kv.v, c->pos, c->seq, c->cell, c->cell_pos,
                 c->cell_seq};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    memset(c, 0, sizeof *c);
}

int tkv_attention_cpu(const tkv_case *c, float *out, int n_threads) {
    tn_backend *be = tn_backend_cpu_new();
    tn_exec *ex = be ? be->ops->exec_new(be, n_threads) : NULL;
    if (!ex) {
        if (be) be->ops->free(be);
        return -1;
    }
    be->ops->begin(ex, &c->b);
    be->ops->attention(ex, out, c->q, &c->kv, &c->ap);
    be->ops->end(ex);
    be->ops->exec_free(ex);
    be->ops->free(be);
    return 0;
}

void tkv_attention_ref(const tkv_case *c, float *out) {
    int hd = c->head_dim, group = c->n_head / c->n_head_kv;
    int64_t kd = (int64_t)c->n_head_kv * hd;
    tn_kv_codec ck, cv;
    tn_kv_codec_init(&ck, c->kv.type_k, hd, c->n_head_kv, c->kv.rot_seed);
    tn_kv_codec_init(&cv, c->kv.type_v, hd, c->n_head_kv, c->kv.rot_seed);
    float *k = malloc(sizeof(float) * (size_t)(c->n_kv * kd));
    float *v = malloc(sizeof(float) * (size_t)(c->n_kv * kd));
    double *w = malloc(sizeof(double) * (size_t)c->n_kv);
    for (int i = 0; i < c->n_kv; i++) {
        tn_kv_dequant_row(&ck, (const uint8_t *)c->kv.k + (size_t)i * c->k_row, k + i * kd);
        tn_kv_dequant_row(&cv, (const uint8_t *)c->kv.v + (size_t)i * c->v_row, v + i * kd);
    }
    for (int t = 0; t < c->n_tokens; t++)
        for (int h = 0; h < c->n_head; h++) {
            const float *q = c->q + ((size_t)t * c->n_head + h) * hd;
            int kvh = h / group;
            double mx = -INFINITY, sum = 0;
            for (int i = 0; i < c->n_kv; i++) {
                w[i] = -INFINITY;
                if (c->cell_seq[i] != c->seq[t] || c->cell_pos[i] > c->pos[t]) continue;
                double s = 0;
                for (int d = 0; d < hd; d++) s += (double)q[d] * k[i * kd + kvh * hd + d];
                w[i] = s * c->ap.scale;
                if (w[i] > mx) mx = w[i];
            }
            double o[TN_TURBO_MAX_DIM] = {0};
            for (int i = 0; i < c->n_kv; i++) {
                if (w[i] == -INFINITY) continue;
                double e = exp(w[i] - mx);
                sum += e;
                for (int d = 0; d < hd; d++) o[d] += e * v[i * kd + kvh * hd + d];
            }
            float *dst = out + ((size_t)t * c->n_head + h) * hd;
            for (int d = 0; d < hd; d++) dst[d] = (float)(o[d] / sum);
        }
    free(k);
    free(v);
    free(w);
}

double tkv_rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
