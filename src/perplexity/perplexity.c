/* The perplexity / KL-divergence evaluation loop (method and file format in perplexity.h):
 * windows are packed n_batch / n_ctx at a time into one batch, one sequence id each, so small
 * windows still fill the matmuls. */
#include "perplexity/perplexity.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "formats/types.h"

tn_ppl_params tn_ppl_default_params(void) {
    tn_ppl_params p = {.n_ctx = 512, .n_batch = 2048, .type_k = TN_TYPE_F16, .type_v = TN_TYPE_F16};
    return p;
}

int32_t *tn_ppl_tokenize(const tn_model *m, const char *text, size_t len, int64_t *n) {
    int32_t need = tn_tokenize(m, text, len, NULL, 0, true, false);
    if (need == INT32_MIN) return NULL;
    need = need < 0 ? -need : need;
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(need > 0 ? need : 1));
    if (!toks) {
        tn_set_error("out of memory for %d tokens", need);
        return NULL;
    }
    int32_t got = need ? tn_tokenize(m, text, len, toks, need, true, false) : 0;
    if (got < 0) {
        free(toks);
        if (got != INT32_MIN) tn_set_error("tokenizer returned an inconsistent count");
        return NULL;
    }
    *n = got;
    return toks;
}

/* Header of the log-prob file (perplexity.h). */
typedef struct logp_header {
    char magic[8];
    uint32_t n_ctx, first, n_vocab, n_chunks, bos, reserved;
} logp_header;

static int write_all(FILE *f, const void *p, size_t n, const char *path) {
    if (n && fwrite(p, 1, n, f) != n)
        return tn_set_error("%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* Opens and checks a log-prob file; reads its tokens into *tokens (malloc'd). */
static FILE *open_logp(const char *path, int32_t n_vocab, logp_header *h, int32_t **tokens) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tn_set_error("cannot open the KL-divergence base file '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (fread(h, sizeof *h, 1, f) != 1 || memcmp(h->magic, TN_PPL_LOGP_MAGIC, 8) != 0) {
        tn_set_error("'%s' is not a tern log-prob file (made by --kl-divergence-base)", path);
        goto fail;
    }
    if (h->n_ctx < 2 || h->n_ctx > (1u << 20) || h->first >= h->n_ctx - 1 || h->n_chunks == 0 ||
        h->n_chunks > (1u << 24)) {
        tn_set_error("'%s': implausible header (n_ctx %u, first %u, chunks %u)", path, h->n_ctx,
                     h->first, h->n_chunks);
        goto fail;
    }
    if ((int32_t)h->n_vocab != n_vocab) {
        tn_set_error("'%s' was made with a vocabulary of %u tokens, this model has %d", path,
                     h->n_vocab, n_vocab);
        goto fail;
    }
    size_t n_tok = (size_t)h->n_ctx * h->n_chunks;
    unsigned long long want =
        sizeof *h + 4ull * n_tok +
        (unsigned long long)h->n_chunks * (h->n_ctx - 1 - h->first) * tn_ppl_record_size(n_vocab);
    if (fseek(f, 0, SEEK_END) || (unsigned long long)ftell(f) != want) {
        tn_set_error("'%s' is truncated or corrupt (%ld bytes, expected %llu)", path, ftell(f),
                     want);
        goto fail;
    }
    fseek(f, sizeof *h, SEEK_SET);
    *tokens = malloc(4 * n_tok);
    if (!*tokens || fread(*tokens, 4, n_tok, f) != n_tok) {
        tn_set_error("'%s': cannot read its tokens", path);
        free(*tokens);
        *tokens = NULL;
        goto fail;
    }
    for (size_t i = 0; i < n_tok; i++)
        if ((*tokens)[i] < 0 || (*tokens)[i] >= n_vocab) {
            tn_set_error("'%s': token %d at %zu is outside the vocabulary", path, (*tokens)[i], i);
            free(*tokens);
            *tokens = NULL;
            goto fail;
        }
    return f;
fail:
    fclose(f);
    return NULL;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (as llama.cpp's percentile). */
static double percentile(const float *sorted, int64_t n, double frac) {
    if (n <= 0) return 0;
    double p = frac * (double)(n - 1);
    int64_t i = (int64_t)p;
    if (i >= n - 1) return sorted[n - 1];
    p -= (double)i;
    return (1 - p) * sorted[i] + p * sorted[i + 1];
}

int tn_perplexity(tn_model *m, const int32_t *tokens, int64_t n_tokens, const tn_ppl_params *pin,
                  tn_ppl_result *res) {
    tn_ppl_params p = *pin;
    memset(res, 0, sizeof *res);
    int32_t n_vocab = tn_model_n_vocab(m);
    int32_t *file_tokens = NULL;
    FILE *in = NULL, *out = NULL;
    char *tmp_path = NULL;
    tn_ctx *ctx = NULL;
    int32_t *bt = NULL, *bpos = NULL, *bseq = NULL;
    int8_t *bout = NULL;
    unsigned char *recs = NULL;
    float *kld_vals = NULL, *dp_vals = NULL;
    int rc = -1;
    int32_t first;

    if (p.logp_in && p.logp_out)
        return tn_set_error("cannot read and write a KL-divergence base file in the same run");
    if (p.logp_in) {
        logp_header h;
        if (!(in = open_logp(p.logp_in, n_vocab, &h, &file_tokens))) return -1;
        if (p.n_ctx > 0 && (uint32_t)p.n_ctx != h.n_ctx) {
            tn_set_error("'%s' was made with a context of %u tokens, not %d (leave -c out)",
                         p.logp_in, h.n_ctx, p.n_ctx);
            goto done;
        }
        if (p.score_all != (h.first == 0)) {
            tn_set_error("'%s' was made %s --score-all; use the same setting", p.logp_in,
                         h.first == 0 ? "with" : "without");
            goto done;
        }
        p.n_ctx = (int32_t)h.n_ctx;
        first = (int32_t)h.first;
        tokens = file_tokens;
        n_tokens = (int64_t)h.n_ctx * h.n_chunks;
        res->kld = true;
    } else {
        if (!tokens) return tn_set_error("perplexity: no tokens");
        if (p.n_ctx < 4)
            return tn_set_error("the context size must be at least 4, got %d", p.n_ctx);
        first = p.score_all ? 0 : p.n_ctx / 2;
    }
    int64_t n_chunk_max = n_tokens / p.n_ctx;
    if (n_chunk_max < 1) {
        tn_set_error("the text has %lld tokens, fewer than one window of %d (-c)",
                     (long long)n_tokens, p.n_ctx);
        goto done;
    }
    if (n_chunk_max > INT32_MAX) n_chunk_max = INT32_MAX;
    int32_t n_chunks =
        p.n_chunks > 0 && p.n_chunks < n_chunk_max ? p.n_chunks : (int32_t)n_chunk_max;
    int32_t n_ctx = p.n_ctx, n_score = n_ctx - 1 - first;
    int32_t n_seq = p.n_batch > n_ctx ? p.n_batch / n_ctx : 1;
    if (n_seq > n_chunks) n_seq = n_chunks;
    res->n_ctx = n_ctx;
    res->first = first;
    res->n_chunks = n_chunks;
    res->n_tokens = n_tokens;

    /* Windows start with BOS when the model's tokenizer adds one (llama.cpp's add_bos). */
    int32_t bos = tn_token_bos(m);
    bool add_bos = bos >= 0 && tn_tokenize(m, "", 0, NULL, 0, true, false) == -1;

    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = n_ctx * n_seq;
    cp.n_batch = p.n_ubatch > 0 ? p.n_ubatch : (p.n_batch < 512 ? p.n_batch : 512);
    if (cp.n_batch <= 0) cp.n_batch = 512;
    cp.n_threads = p.n_threads;
    cp.n_seq_max = n_seq;
    cp.type_k = p.type_k;
    cp.type_v = p.type_v;
    if (!(ctx = tn_ctx_new(m, &cp))) goto done;

    size_t nb = (size_t)n_ctx * (size_t)n_seq, rsz = tn_ppl_record_size(n_vocab);
    bt = malloc(nb * sizeof *bt);
    bpos = malloc(nb * sizeof *bpos);
    bseq = malloc(nb * sizeof *bseq);
    bout = malloc(nb);
    if (p.logp_in || p.logp_out) recs = malloc((size_t)n_score * rsz);
    if (p.logp_in) {
        kld_vals = malloc(sizeof(float) * (size_t)n_chunks * (size_t)n_score);
        dp_vals = malloc(sizeof(float) * (size_t)n_chunks * (size_t)n_score);
    }
    if (!bt || !bpos || !bseq || !bout || ((p.logp_in || p.logp_out) && !recs) ||
        (p.logp_in && (!kld_vals || !dp_vals))) {
        tn_set_error("out of memory");
        goto done;
    }
    if (p.logp_out) {
        size_t len = strlen(p.logp_out);
        if (!(tmp_path = malloc(len + 5))) {
            tn_set_error("out of memory");
            goto done;
        }
        memcpy(tmp_path, p.logp_out, len);
        memcpy(tmp_path + len, ".tmp", 5);
        if (!(out = fopen(tmp_path, "wb"))) {
            tn_set_error("cannot create '%s': %s", tmp_path, strerror(errno));
            goto done;
        }
        logp_header h = {.n_ctx = (uint32_t)n_ctx,
                         .first = (uint32_t)first,
                         .n_vocab = (uint32_t)n_vocab,
                         .n_chunks = (uint32_t)n_chunks,
                         .bos = (uint32_t)(add_bos ? bos : -1)};
        memcpy(h.magic, TN_PPL_LOGP_MAGIC, 8);
        if (write_all(out, &h, sizeof h, tmp_path) ||
            write_all(out, tokens, 4 * (size_t)n_ctx * (size_t)n_chunks, tmp_path))
            goto done;
    }

    double t_start = now_ms();
    for (int32_t c0 = 0; c0 < n_chunks; c0 += n_seq) {
        int32_t ns = n_chunks - c0 < n_seq ? n_chunks - c0 : n_seq;
        size_t k = 0;
        for (int32_t s = 0; s < ns; s++) {
            const int32_t *w = tokens + (size_t)(c0 + s) * (size_t)n_ctx;
            for (int32_t j = 0; j < n_ctx; j++, k++) {
                bt[k] = (j == 0 && add_bos) ? bos : w[j];
                bpos[k] = j;
                bseq[k] = s;
                bout[k] = j >= first && j < n_ctx - 1;
            }
        }
        tn_kv_seq_rm(ctx, -1, 0, -1);
        tn_batch b = {
            .n_tokens = (int32_t)k, .token = bt, .pos = bpos, .seq_id = bseq, .logits = bout};
        if (tn_decode(ctx, &b)) goto done;
        for (int32_t s = 0; s < ns; s++) {
            const int32_t *next = tokens + (size_t)(c0 + s) * (size_t)n_ctx + first + 1;
            if (in && fread(recs, rsz, (size_t)n_score, in) != (size_t)n_score) {
                tn_set_error("'%s': read failed", p.logp_in);
                goto done;
            }
            for (int32_t j = 0; j < n_score; j++) {
                const float *l = tn_get_logits(ctx, s * n_score + j);
                if (in) {
                    size_t at = (size_t)res->count;
                    kld_vals[at] = (float)tn_ppl_kld_add(res, l, recs + (size_t)j * rsz, n_vocab,
                                                         next[j], &dp_vals[at]);
                    continue;
                }
                double nll = tn_ppl_log_sum_exp(l, n_vocab, NULL) - l[next[j]];
                res->nll_sum += nll;
                res->nll2_sum += nll * nll;
                res->count++;
                if (out) tn_ppl_encode_logp(l, n_vocab, recs + (size_t)j * rsz);
            }
            if (out && write_all(out, recs, (size_t)n_score * rsz, tmp_path)) goto done;
            res->chunks_done++;
            tn_ppl_finish_stats(res);
            if (p.on_chunk) p.on_chunk(p.user, res, now_ms() - t_start);
        }
    }
    if (in) {
        qsort(kld_vals, (size_t)res->count, sizeof(float), cmp_float);
        qsort(dp_vals, (size_t)res->count, sizeof(float), cmp_float);
        for (int i = 0; i < TN_PPL_N_PCT; i++) {
            res->kld_pct[i] = percentile(kld_vals, res->count, tn_ppl_pct[i]);
            res->dp_pct[i] = percentile(dp_vals, res->count, tn_ppl_pct[i]);
        }
        res->kld_min = kld_vals[0];
        res->kld_max = kld_vals[res->count - 1];
    }
    if (out) {
        int e = fclose(out);
        out = NULL;
        if (e) {
            tn_set_error("%s: write failed: %s", tmp_path, strerror(errno));
            goto done;
        }
        if (rename(tmp_path, p.logp_out)) {
            tn_set_error("cannot rename '%s' to '%s': %s", tmp_path, p.logp_out, strerror(errno));
            goto done;
        }
    }
    rc = 0;
done:
    if (out) fclose(out);
    if (rc && tmp_path) remove(tmp_path);
    if (in) fclose(in);
    tn_ctx_free(ctx);
    free(tmp_path);
    free(file_tokens);
    free(bt);
    free(bpos);
    free(bseq);
    free(bout);
    free(recs);
    free(kld_vals);
    free(dp_vals);
    return rc;
}
