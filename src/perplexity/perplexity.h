/* Perplexity and KL divergence of a model over a token stream, by llama-perplexity's method:
 * the text is tokenized with BOS in front (if the model's tokenizer adds one), the tokens are cut
 * into non-overlapping windows of n_ctx tokens, the first token of each window is replaced by BOS,
 * the window is evaluated from an empty cache and the predictions of positions first .. n_ctx-2
 * (first = n_ctx/2, or 0 with score_all) for the next token are scored. PPL = exp(mean NLL); its
 * error is llama.cpp's: PPL * sqrt(var(NLL) / (count - 1)).
 *
 * KL divergence: a base run saves, for every scored position, the full next-token log-probability
 * distribution (the "log-prob file", format below); a later run of another model (or KV cache
 * type) over the same windows compares its distributions against it.
 *
 * Log-prob file (little-endian):
 *   char   magic[8] = "tnlogp1\n"
 *   u32    n_ctx, first, n_vocab, n_chunks, bos, reserved (0)
 *   i32    tokens[n_chunks * n_ctx]          the text's tokens (before BOS replacement)
 *   then, for each chunk and each scored position (n_ctx - 1 - first per chunk), a record:
 *   f32    scale, min_log_prob
 *   u16    q[n_vocab] (+ one u16 of padding if n_vocab is odd)
 *   where log p_i = min_log_prob + scale * (q_i - 1) for q_i >= 1, and q_i = 0 marks a
 *   probability below exp(min_log_prob) (at least TN_PPL_LOGP_RANGE nats under the top token),
 *   counted as 0. */
#ifndef TN_PERPLEXITY_PERPLEXITY_H
#define TN_PERPLEXITY_PERPLEXITY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tern.h"

#define TN_PPL_LOGP_MAGIC "tnlogp1\n"
#define TN_PPL_LOGP_RANGE 24.0f /* nats below the most likely token that are kept */

typedef struct tn_ppl_result tn_ppl_result;
/* Called after every window with the running values (percentiles not yet filled in). */
typedef void (*tn_ppl_chunk_fn)(void *user, const tn_ppl_result *running, double ms_elapsed);

typedef struct tn_ppl_params {
    int32_t n_ctx;    /* window length in tokens (taken from the file in KLD mode if 0) */
    int32_t n_batch;  /* tokens per decode; a multiple of n_ctx evaluates several windows at once */
    int32_t n_ubatch; /* micro-batch of the context (0: min(n_batch, 512)) */
    int32_t n_chunks; /* windows to evaluate; <= 0: all that fit */
    int32_t n_threads;
    int type_k, type_v;   /* KV cache types */
    bool score_all;       /* score positions 0 .. n_ctx-2 instead of n_ctx/2 .. n_ctx-2 */
    const char *logp_out; /* write the base log-prob file here (written to .tmp, then renamed) */
    const char *logp_in;  /* compare against this log-prob file (KL divergence mode) */
    tn_ppl_chunk_fn on_chunk;
    void *user;
} tn_ppl_params;

tn_ppl_params tn_ppl_default_params(void);

/* Percentiles of the per-token KLD reported at the end (fractions). */
#define TN_PPL_N_PCT 9
extern const double tn_ppl_pct[TN_PPL_N_PCT]; /* 0.999 0.99 0.95 0.90 0.5 0.10 0.05 0.01 0.001 */

struct tn_ppl_result {
    int32_t n_ctx, first, n_chunks, chunks_done;
    int64_t n_tokens; /* tokens of the input */
    int64_t count;    /* scored predictions so far */
    double nll_sum, nll2_sum;
    double ppl, ppl_err;
    /* KL divergence mode */
    bool kld;
    double base_nll_sum, base_nll2_sum, nll_base_nll_sum;
    double ppl_base, ppl_base_err, ln_ratio, ln_ratio_err, ppl_cor;
    double kld_sum, kld2_sum, kld_mean, kld_err, kld_max, kld_min, kld_pct[TN_PPL_N_PCT];
    double dp_sum, dp2_sum, dp4_sum, dp_mean, dp_err, dp_rms, dp_rms_err, dp_max_abs;
    double dp_pct[TN_PPL_N_PCT];
    int64_t same_top;
    double same_top_frac, same_top_err;
};

/* Tokenizes text for perplexity as llama-perplexity does: BOS + the text's tokens (BOS only if
 * the tokenizer adds one). Returns a malloc'd array and its length in *n, or NULL with an error. */
int32_t *tn_ppl_tokenize(const tn_model *m, const char *text, size_t len, int64_t *n);

/* Runs the evaluation. tokens may be NULL in KLD mode (the log-prob file holds them). Returns 0,
 * or -1 with an error (nothing is left at logp_out then). */
int tn_perplexity(tn_model *m, const int32_t *tokens, int64_t n_tokens, const tn_ppl_params *p,
                  tn_ppl_result *res);

/* ---- helpers shared with the log-prob file code (logprob.c) ---- */

/* log(sum(exp(logits))) computed stably; *imax gets the arg max. */
double tn_ppl_log_sum_exp(const float *logits, int32_t n, int32_t *imax);
/* Encodes one distribution as a log-prob record (8 + 2*round_up_even(n) bytes). */
void tn_ppl_encode_logp(const float *logits, int32_t n, void *record);
size_t tn_ppl_record_size(int32_t n_vocab);

/* Adds one scored prediction (logits of the model under test, the base record, the true next
 * token) to the KLD sums of res; returns its KLD and writes its p_diff (p(tok) - p_base(tok)). */
double tn_ppl_kld_add(tn_ppl_result *res, const float *logits, const void *record, int32_t n_vocab,
                      int32_t tok, float *p_diff);
/* Fills the derived values (ppl, errors, means) of res from its sums. */
void tn_ppl_finish_stats(tn_ppl_result *res);

#endif
