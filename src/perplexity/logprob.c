/* Per-prediction math of the perplexity tool: stable log-softmax, the compact log-prob records of
 * the KL-divergence base file (see perplexity.h), the KLD / top-1 / probability-difference sums,
 * and turning the sums into means with llama.cpp-style uncertainties. */
#include <math.h>
#include <string.h>

#include "perplexity/perplexity.h"

const double tn_ppl_pct[TN_PPL_N_PCT] = {0.999, 0.99, 0.95, 0.90, 0.5, 0.10, 0.05, 0.01, 0.001};

double tn_ppl_log_sum_exp(const float *logits, int32_t n, int32_t *imax) {
    int32_t im = 0;
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > logits[im]) im = i;
    double mx = logits[im], sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)logits[i] - mx);
    if (imax) *imax = im;
    return mx + log(sum);
}

size_t tn_ppl_record_size(int32_t n_vocab) {
    return 8 + 2 * (size_t)((n_vocab + 1) / 2 * 2);
}

void tn_ppl_encode_logp(const float *logits, int32_t n, void *record) {
    int32_t im;
    double lse = tn_ppl_log_sum_exp(logits, n, &im);
    float top = (float)(logits[im] - lse);
    float lo = logits[im];
    for (int32_t i = 0; i < n; i++)
        if (logits[i] < lo) lo = logits[i];
    if (lo < logits[im] - TN_PPL_LOGP_RANGE) lo = logits[im] - TN_PPL_LOGP_RANGE;
    float min_lp = (float)(lo - lse);
    /* q = 1 .. 65535 spans [min_lp, top]; 0 is kept for "below the range". */
    float scale = (top - min_lp) / 65534.0f;
    unsigned char *r = record;
    memcpy(r, &scale, 4);
    memcpy(r + 4, &min_lp, 4);
    uint16_t *q = (uint16_t *)(r + 8);
    float inv = scale > 0 ? 1.0f / scale : 0;
    for (int32_t i = 0; i < n; i++) {
        float lp = (float)(logits[i] - lse);
        uint16_t v = 0;
        if (lp >= min_lp) {
            float x = (lp - min_lp) * inv;
            v = (uint16_t)(1 + (x > 65534.0f ? 65534 : (int)lrintf(x)));
        }
        q[i] = v;
    }
    if (n % 2) q[n] = 0;
}

/* Base log-probability of entry q of a record; -INFINITY for the "below range" code. */
static inline double decode_lp(float scale, float min_lp, uint16_t q) {
    return q ? (double)min_lp + (double)scale * (q - 1) : -INFINITY;
}

double tn_ppl_kld_add(tn_ppl_result *res, const float *logits, const void *record, int32_t n_vocab,
                      int32_t tok, float *p_diff) {
    int32_t im;
    double lse = tn_ppl_log_sum_exp(logits, n_vocab, &im);
    const unsigned char *r = record;
    float scale, min_lp;
    memcpy(&scale, r, 4);
    memcpy(&min_lp, r + 4, 4);
    const uint16_t *q = (const uint16_t *)(r + 8);
    double kld = 0;
    int32_t im_base = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (q[i] > q[im_base]) im_base = i;
        if (!q[i]) continue;
        double lpb = decode_lp(scale, min_lp, q[i]);
        kld += exp(lpb) * (lpb - ((double)logits[i] - lse));
    }
    double nll = lse - logits[tok];
    double nll_base = -decode_lp(scale, min_lp, q[tok]);
    if (!q[tok]) nll_base = -(double)min_lp; /* below range: the best bound the record holds */
    res->nll_sum += nll;
    res->nll2_sum += nll * nll;
    res->base_nll_sum += nll_base;
    res->base_nll2_sum += nll_base * nll_base;
    res->nll_base_nll_sum += nll * nll_base;
    res->kld_sum += kld;
    res->kld2_sum += kld * kld;
    res->same_top += im == im_base;
    double dp = exp(-nll) - exp(-nll_base);
    res->dp_sum += dp;
    res->dp2_sum += dp * dp;
    res->dp4_sum += dp * dp * dp * dp;
    if (fabs(dp) > res->dp_max_abs) res->dp_max_abs = fabs(dp);
    res->count++;
    *p_diff = (float)dp;
    return kld;
}

/* Mean of the values whose sum and sum of squares are given, and the standard error of the mean
 * (0 for fewer than two values). */
static void mean_err(double sum, double sum2, int64_t n, double *mean, double *err) {
    *mean = n > 0 ? sum / (double)n : 0;
    double var = n > 0 ? sum2 / (double)n - *mean * *mean : 0;
    *err = var > 0 && n > 1 ? sqrt(var / (double)(n - 1)) : 0;
}

void tn_ppl_finish_stats(tn_ppl_result *r) {
    double m, e;
    mean_err(r->nll_sum, r->nll2_sum, r->count, &m, &e);
    r->ppl = exp(m);
    r->ppl_err = r->ppl * e;
    if (!r->kld || r->count == 0) return;
    double mb, eb;
    mean_err(r->base_nll_sum, r->base_nll2_sum, r->count, &mb, &eb);
    r->ppl_base = exp(mb);
    r->ppl_base_err = r->ppl_base * eb;
    double n = (double)r->count;
    /* covariance of the two mean log-PPLs (of the means, hence / (n - 1)) */
    double cov = r->count > 1 ? (r->nll_base_nll_sum / n - m * mb) / (n - 1) : 0;
    r->ppl_cor = e > 0 && eb > 0 ? cov / (e * eb) : 0;
    r->ln_ratio = m - mb;
    double v = e * e + eb * eb - 2 * cov;
    r->ln_ratio_err = v > 0 ? sqrt(v) : 0;
    mean_err(r->kld_sum, r->kld2_sum, r->count, &r->kld_mean, &r->kld_err);
    mean_err(r->dp_sum, r->dp2_sum, r->count, &r->dp_mean, &r->dp_err);
    double mse, mse_err;
    mean_err(r->dp2_sum, r->dp4_sum, r->count, &mse, &mse_err);
    r->dp_rms = sqrt(mse);
    r->dp_rms_err = r->dp_rms > 0 ? 0.5 / r->dp_rms * mse_err : 0;
    r->same_top_frac = (double)r->same_top / n;
    r->same_top_err = r->count > 1 ? sqrt(r->same_top_frac * (1 - r->same_top_frac) / (n - 1)) : 0;
}
