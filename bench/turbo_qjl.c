/* Does the QJL 1-bit residual (TurboQuant "prod", arXiv 2504.19874 sec. 3.2) help attention over
 * the K cache at equal bits? Compares, for keys on random data (d = 128, 512 keys, N(0,1) rows):
 *   mse3: turbo3 as shipped (3-bit Lloyd-Max codes, src/kv/turbo.c)
 *   prod3: 2-bit codes + 1 bit sign(S r) of the residual r (S a d x d N(0,1) matrix, residual norm
 *          kept in fp32), inner product <q,k> ~ <q,k2> + sqrt(pi/2)/d * |r| * <S q, sign(S r)>
 *   mse2: turbo2, for scale
 * Metrics: score error (RMS of q.k_hat - q.k over RMS of q.k), score slope (regression of
 * estimated on exact scores: 1 = unbiased), and attention output error with exact V, at two
 * softmax temperatures (logit std 1 and 4).
 * Build: cc -O2 -std=c11 -D_GNU_SOURCE -Isrc bench/turbo_qjl.c build-turbo/libtern.a -lm -o /tmp/turbo_qjl */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/turbo.h"

enum { D = 128, N_KEYS = 512, N_Q = 64 };

static uint64_t rs = 7;
static double ur(void) {
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return ((rs >> 11) + 0.5) * 0x1p-53;
}
static float gr(void) { return (float)(sqrt(-2 * log(ur())) * cos(6.283185307179586 * ur())); }

/* Decoded (original-domain) vector of b-bit turbo codes of x. */
static void mse_decode(const tn_turbo_rot *r, int bits, const float *x, float *out) {
    uint8_t idx[D];
    float norm[TN_TURBO_MAX_SUB];
    tn_turbo_quantize_head(r, bits, x, idx, norm);
    const float *cb = tn_turbo_codebook(bits);
    for (int i = 0; i < D; i++) out[i] = norm[0] / sqrtf((float)D) * cb[idx[i]];
    tn_turbo_unrotate(r, out);
}

int main(void) {
    tn_turbo_rot rot;
    tn_turbo_rot_init(&rot, D, tn_turbo_layer_seed(0));
    static float k[N_KEYS][D], v[N_KEYS][D], q[N_Q][D], S[D][D];
    static float k3[N_KEYS][D], k2[N_KEYS][D], rn[N_KEYS], sgn[N_KEYS][D];
    for (int i = 0; i < N_KEYS; i++)
        for (int j = 0; j < D; j++) k[i][j] = gr(), v[i][j] = gr();
    for (int i = 0; i < N_Q; i++)
        for (int j = 0; j < D; j++) q[i][j] = gr();
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) S[i][j] = gr();
    for (int i = 0; i < N_KEYS; i++) {
        mse_decode(&rot, 3, k[i], k3[i]);
        mse_decode(&rot, 2, k[i], k2[i]);
        float r[D];
        double ss = 0;
        for (int j = 0; j < D; j++) r[j] = k[i][j] - k2[i][j], ss += (double)r[j] * r[j];
        rn[i] = (float)sqrt(ss);
        for (int a = 0; a < D; a++) {
            double s = 0;
            for (int j = 0; j < D; j++) s += (double)S[a][j] * r[j];
            sgn[i][a] = s >= 0 ? 1.0f : -1.0f;
        }
    }
    const char *names[3] = {"mse3 (turbo3)", "prod3 (2-bit + QJL)", "mse2 (turbo2)"};
    for (int temp = 1; temp <= 4; temp += 3) {
        printf("logit std %d:\n", temp);
        for (int m = 0; m < 3; m++) {
            double se = 0, s2 = 0, sxy = 0, sxx = 0, oe = 0, o2 = 0;
            for (int qi = 0; qi < N_Q; qi++) {
                float sq[D];
                for (int a = 0; a < D; a++) {
                    double s = 0;
                    for (int j = 0; j < D; j++) s += (double)S[a][j] * q[qi][j];
                    sq[a] = (float)s;
                }
                double ex[N_KEYS], es[N_KEYS], mx = -1e30, mxe = -1e30;
                for (int i = 0; i < N_KEYS; i++) {
                    double t = 0, e = 0;
                    for (int j = 0; j < D; j++) t += (double)q[qi][j] * k[i][j];
                    if (m == 0)
                        for (int j = 0; j < D; j++) e += (double)q[qi][j] * k3[i][j];
                    else {
                        for (int j = 0; j < D; j++) e += (double)q[qi][j] * k2[i][j];
                        if (m == 1) {
                            double c = 0;
                            for (int a = 0; a < D; a++) c += (double)sq[a] * sgn[i][a];
                            e += sqrt(M_PI / 2) / D * rn[i] * c;
                        }
                    }
                    se += (e - t) * (e - t), s2 += t * t, sxy += e * t, sxx += t * t;
                    ex[i] = t * temp / sqrt(D), es[i] = e * temp / sqrt(D);
                    if (ex[i] > mx) mx = ex[i];
                    if (es[i] > mxe) mxe = es[i];
                }
                double zx = 0, ze = 0, ox[D] = {0}, oq[D] = {0};
                for (int i = 0; i < N_KEYS; i++) {
                    double wx = exp(ex[i] - mx), we = exp(es[i] - mxe);
                    zx += wx, ze += we;
                    for (int j = 0; j < D; j++) ox[j] += wx * v[i][j], oq[j] += we * v[i][j];
                }
                for (int j = 0; j < D; j++) {
                    double a = ox[j] / zx, b = oq[j] / ze;
                    oe += (a - b) * (a - b), o2 += a * a;
                }
            }
            printf("  %-20s score err %.4f  slope %.4f  attention out err %.4f\n", names[m],
                   sqrt(se / s2), sxy / sxx, sqrt(oe / o2));
        }
    }
    return 0;
}
