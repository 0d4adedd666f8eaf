/* Sampler: greedy picks the argmax; each filter keeps exactly the candidates its definition keeps
 * (checked against distributions computed here from the logits); draws follow the filtered
 * softmax (chi-square style tolerance over many draws); a seed reproduces the same tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tern.h"

enum { V = 8, DRAWS = 40000 };
static const float LOGITS[V] = {2.0f, 1.0f, 0.5f, 3.0f, -1.0f, 0.0f, 2.5f, -3.0f};

static tn_sampler_params base(void) {
    tn_sampler_params p = tn_sampler_default_params();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = 1234;
    return p;
}

/* Empirical frequencies of DRAWS samples. */
static void frequencies(const tn_sampler_params *p, double *freq) {
    tn_sampler *s = tn_sampler_new(p, V);
    memset(freq, 0, sizeof(double) * V);
    for (int i = 0; i < DRAWS; i++) freq[tn_sampler_sample(s, LOGITS)] += 1.0 / DRAWS;
    tn_sampler_free(s);
}

/* Expected distribution: softmax(logits / temp) restricted to `keep`. */
static void expected(const int *keep, float temp, double *want) {
    double z = 0;
    for (int i = 0; i < V; i++) z += keep[i] ? exp(LOGITS[i] / temp) : 0;
    for (int i = 0; i < V; i++) want[i] = keep[i] ? exp(LOGITS[i] / temp) / z : 0;
}

static void check_dist(const char *what, const double *got, const double *want) {
    for (int i = 0; i < V; i++) {
        /* 5 standard deviations of a binomial frequency, and exact zeros where excluded */
        double sd = sqrt(want[i] * (1 - want[i]) / DRAWS);
        if (want[i] == 0) CHECK(got[i] == 0, "%s: token %d drawn %.4f but was filtered", what, i, got[i]);
        else CHECK(fabs(got[i] - want[i]) <= 5 * sd + 1e-9, "%s: token %d freq %.4f want %.4f", what, i, got[i], want[i]);
    }
}

int main(void) {
    double got[V], want[V];

    /* greedy */
    tn_sampler_params p = base();
    p.temp = 0;
    tn_sampler *s = tn_sampler_new(&p, V);
    CHECK(tn_sampler_sample(s, LOGITS) == 3, "greedy picks the argmax");
    tn_sampler_free(s);

    /* plain softmax at temperature 1 and 0.5 */
    int all[V] = {1, 1, 1, 1, 1, 1, 1, 1};
    p = base();
    frequencies(&p, got);
    expected(all, 1.0f, want);
    check_dist("temp 1", got, want);
    p.temp = 0.5f;
    frequencies(&p, got);
    expected(all, 0.5f, want);
    check_dist("temp 0.5", got, want);

    /* top-k 3 keeps logits 3.0, 2.5, 2.0 (tokens 3, 6, 0) */
    p = base();
    p.top_k = 3;
    frequencies(&p, got);
    int k3[V] = {1, 0, 0, 1, 0, 0, 1, 0};
    expected(k3, 1.0f, want);
    check_dist("top-k 3", got, want);

    /* top-p 0.6: sorted probabilities at temp 1 are p3=.389, p6=.236, p0=.143...; the smallest
     * prefix reaching 0.6 is {3, 6} (0.625). */
    p = base();
    p.top_p = 0.6f;
    frequencies(&p, got);
    int p06[V] = {0, 0, 0, 1, 0, 0, 1, 0};
    expected(p06, 1.0f, want);
    check_dist("top-p 0.6", got, want);

    /* min-p 0.3: keep tokens with p >= 0.3 * p_max, i.e. logit >= 3 + ln 0.3 = 1.796: {3, 6, 0} */
    p = base();
    p.min_p = 0.3f;
    frequencies(&p, got);
    expected(k3, 1.0f, want);
    check_dist("min-p 0.3", got, want);

    /* repetition penalty 2 on token 3 (positive logit -> 1.5) and token 4 (negative -> -2):
     * greedy now picks token 6 (2.5). */
    p = base();
    p.temp = 0;
    p.repeat_penalty = 2.0f;
    s = tn_sampler_new(&p, V);
    tn_sampler_accept(s, 3);
    tn_sampler_accept(s, 4);
    tn_sampler_accept(s, 3);
    CHECK(tn_sampler_sample(s, LOGITS) == 6, "repeat penalty moves greedy to token 6");
    tn_sampler_free(s);
    /* ... and the penalised distribution is softmax of the penalised logits */
    p.temp = 1.0f;
    s = tn_sampler_new(&p, V);
    tn_sampler_accept(s, 3);
    memset(got, 0, sizeof got);
    for (int i = 0; i < DRAWS; i++) got[tn_sampler_sample(s, LOGITS)] += 1.0 / DRAWS;
    tn_sampler_free(s);
    double z = 0;
    for (int i = 0; i < V; i++) z += exp(i == 3 ? LOGITS[i] / 2 : LOGITS[i]);
    for (int i = 0; i < V; i++) want[i] = exp(i == 3 ? LOGITS[i] / 2 : LOGITS[i]) / z;
    check_dist("repeat penalty", got, want);

    /* Same seed, same tokens; another seed, another sequence. */
    p = base();
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.temp = 0.8f;
    int a[64], b[64], c[64];
    tn_sampler *s1 = tn_sampler_new(&p, V), *s2 = tn_sampler_new(&p, V);
    p.seed = 99;
    tn_sampler *s3 = tn_sampler_new(&p, V);
    for (int i = 0; i < 64; i++) {
        a[i] = tn_sampler_sample(s1, LOGITS);
        b[i] = tn_sampler_sample(s2, LOGITS);
        c[i] = tn_sampler_sample(s3, LOGITS);
    }
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed gives the same tokens");
    CHECK(memcmp(a, c, sizeof a) != 0, "a different seed gives different tokens");
    tn_sampler_reset(s1);
    for (int i = 0; i < 64; i++) b[i] = tn_sampler_sample(s1, LOGITS);
    CHECK(memcmp(a, b, sizeof a) == 0, "reset replays the sequence");
    tn_sampler_free(s1);
    tn_sampler_free(s2);
    tn_sampler_free(s3);

    CHECK(tn_sampler_new(&p, 0) == NULL, "vocabulary of 0 is refused");
    return tn_test_done("test_sampler");
}
