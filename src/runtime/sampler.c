/* Token sampler with llama.cpp's default chain and defaults: repetition penalty -> top-k -> top-p
 * -> min-p -> temperature -> draw from the softmax. temp <= 0 is greedy (argmax after the
 * penalty). The random stream is xoshiro256** seeded by splitmix64 from the seed, so a given seed
 * reproduces the same tokens on every machine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "runtime/model.h"

typedef struct cand {
    int32_t id;
    float logit;
    float p;
} cand;

struct tn_sampler {
    tn_sampler_params p;
    int32_t n_vocab;
    cand *cands;
    int32_t *recent; /* ring buffer of the last repeat_last_n tokens */
    int32_t n_recent, recent_head;
    uint64_t rng[4];
};

tn_sampler_params tn_sampler_default_params(void) {
    tn_sampler_params p = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                           .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0xFFFFFFFFu};
    return p;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

void tn_sampler_reset(tn_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->n_recent = s->recent_head = 0;
}

tn_sampler *tn_sampler_new(const tn_sampler_params *params, int32_t n_vocab) {
    if (n_vocab <= 0) {
        tn_set_error("sampler: vocabulary size %d", n_vocab);
        return NULL;
    }
    tn_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = params ? *params : tn_sampler_default_params();
    if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
    s->n_vocab = n_vocab;
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    /* the ring of recent tokens, then room for their distinct ids (penalised) */
    s->recent = malloc((size_t)(2 * s->p.repeat_last_n + 1) * sizeof *s->recent);
    if (!s->cands || !s->recent) {
        tn_sampler_free(s);
        tn_set_error("out of memory");
        return NULL;
    }
    tn_sampler_reset(s);
    return s;
}

void tn_sampler_free(tn_sampler *s) {
    if (!s) return;
    free(s->cands);
    free(s->recent);
    free(s);
}

void tn_sampler_accept(tn_sampler *s, int32_t token) {
    if (s->p.repeat_last_n == 0) return;
    s->recent[s->recent_head] = token;
    s->recent_head = (s->recent_head + 1) % s->p.repeat_last_n;
    if (s->n_recent < s->p.repeat_last_n) s->n_recent++;
}

static int by_logit_desc(const void *a, const void *b) {
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const cand *)a)->id - ((const cand *)b)->id; /* deterministic ties */
}

/* a ranks below b: smaller logit, or equal logit and larger id */
static bool ranks_below(const cand *a, const cand *b) {
    return a->logit < b->logit || (a->logit == b->logit && a->id > b->id);
}

static void sift_down(cand *h, int32_t k, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && ranks_below(&h[l], &h[m])) m = l;
        if (r < k && ranks_below(&h[r], &h[m])) m = r;
        if (m == i) return;
        cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Moves the k best candidates to the front in O(n log k) with a min-heap; returns k. */
static int32_t select_top_k(cand *c, int32_t n, int32_t k) {
    for (int32_t i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int32_t i = k; i < n; i++)
        if (ranks_below(&c[0], &c[i])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    return k;
}

/* Softmax over the first n candidates (sorted descending) into .p */
static void softmax(cand *c, int32_t n) {
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += (c[i].p = expf(c[i].logit - c[0].logit));
    for (int32_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

/* The distinct recent tokens inside the vocabulary, each penalised once, as llama.cpp does;
 * ids has room for repeat_last_n. */
static int32_t penalised(const tn_sampler *s, int32_t *ids) {
    int32_t n = 0;
    if (s->p.repeat_penalty == 1.0f) return 0;
    for (int32_t j = 0; j < s->n_recent; j++) {
        int32_t t = s->recent[j];
        bool seen = false;
        for (int32_t k = 0; k < j && !seen; k++) seen = s->recent[k] == t;
        if (!seen && t >= 0 && t < s->n_vocab) ids[n++] = t;
    }
    return n;
}

/* The chain after top-k: c holds n candidates sorted by logit, descending. */
static int32_t draw(tn_sampler *s, cand *c, int32_t n) {
    softmax(c, n);
    if (s->p.top_p < 1.0f) {
        double cum = 0;
        for (int32_t i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= s->p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0) {
        float thr = c[0].p * s->p.min_p;
        int32_t keep = 1;
        while (keep < n && c[keep].p >= thr) keep++;
        n = keep;
    }
    for (int32_t i = 0; i < n; i++) c[i].logit /= s->p.temp;
    softmax(c, n);
    double r = (double)(next_u64(s->rng) >> 11) * (1.0 / 9007199254740992.0);
    double cum = 0;
    for (int32_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}

/* The whole chain on a full logits row, with the penalised ids already found. */
static int32_t sample_row(tn_sampler *s, const float *logits, const int32_t *pen, int32_t n_pen) {
    cand *c = s->cands;
    int32_t n = s->n_vocab;
    for (int32_t i = 0; i < n; i++) c[i] = (cand){i, logits[i], 0};
    for (int32_t j = 0; j < n_pen; j++) {
        cand *t = &c[pen[j]];
        t->logit = t->logit > 0 ? t->logit / s->p.repeat_penalty : t->logit * s->p.repeat_penalty;
    }
    if (s->p.temp <= 0) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }
    if (s->p.top_k > 0 && s->p.top_k < n) n = select_top_k(c, n, s->p.top_k);
    qsort(c, (size_t)n, sizeof *c, by_logit_desc);
    return draw(s, c, n);
}

int32_t tn_sampler_sample(tn_sampler *s, const float *logits) {
    int32_t *pen = s->recent + s->p.repeat_last_n; /* see tn_sampler_new */
    return sample_row(s, logits, pen, penalised(s, pen));
}

int32_t tn_sample(tn_sampler *s, tn_ctx *ctx, int32_t i) {
    const int32_t n_out = tn_n_outputs(ctx);
    if (i < -n_out || i >= n_out) {
        tn_set_error("sample: no logits for output %d (the last decode has %d)", i, n_out);
        return -1;
    }
    /* greedy: the argmax (ties: lowest id, as the loop above); else the top_k candidates */
    const bool greedy = s->p.temp <= 0;
    const int32_t k = greedy ? 1 : (s->p.top_k > 0 && s->p.top_k < s->n_vocab ? s->p.top_k : 0);
    int32_t *pen = s->recent + s->p.repeat_last_n, n_pen = penalised(s, pen);
    if (k > 0) {
        int32_t ids[TN_TOP_K_MAX];
        float vals[TN_TOP_K_MAX];
        const int rc = tn_ctx_top_k(ctx, i, k, pen, n_pen, s->p.repeat_penalty, ids, vals);
        if (rc < 0) return -1;
        if (rc > 0) {
            if (greedy) return ids[0];
            for (int32_t j = 0; j < k; j++) s->cands[j] = (cand){ids[j], vals[j], 0};
            return draw(s, s->cands, k);
        }
    }
    const float *logits = tn_get_logits(ctx, i); /* NULL: the copy failed, with an error */
    return logits ? sample_row(s, logits, pen, n_pen) : -1;
}
