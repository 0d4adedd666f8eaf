/* Weight formats (formats/types.h): traits, f16/bf16 conversions, quantize/dequantize round trips,
 * dequantization and byte-exact requantization of the llama.cpp-written tiny-llama GGUFs, and every
 * SIMD dot product against the scalar reference (which itself is checked against a double-precision
 * dot of the dequantized rows).
 *
 * Independent references: llama.cpp's own files (dequantized values against the bf16 original,
 * quantized bytes against our quantizer run on the bf16 original), IEEE arithmetic done in double
 * with rint() for the half conversions, and F16C hardware where the CPU has it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/half.h"
#include "formats/gguf.h"
#include "formats/types.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_uniform(void) { return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0); }
static float rng_gauss(void) {
    double u1 = rng_uniform(), u2 = rng_uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
}

static double rel_rms(const float *x, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)x[i] - ref[i]) * ((double)x[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static const int all_types[] = {TN_TYPE_F32,  TN_TYPE_F16,  TN_TYPE_BF16,   TN_TYPE_Q4_0,   TN_TYPE_Q4_1,
                                TN_TYPE_Q5_0, TN_TYPE_Q5_1, TN_TYPE_Q8_0,   TN_TYPE_Q2_K,   TN_TYPE_Q3_K,
                                TN_TYPE_Q4_K, TN_TYPE_Q5_K, TN_TYPE_Q6_K,   TN_TYPE_IQ4_NL, TN_TYPE_IQ4_XS,
                                TN_TYPE_MXFP4};
#define N_TYPES (int)(sizeof all_types / sizeof all_types[0])

/* ---- traits and dispatch ---- */

static void test_traits(void) {
    static const struct {
        int type, dot;
    } dots[] = {{TN_TYPE_F32, TN_TYPE_F32},      {TN_TYPE_F16, TN_TYPE_F32},     {TN_TYPE_BF16, TN_TYPE_F32},
                {TN_TYPE_Q4_0, TN_TYPE_Q8_0},    {TN_TYPE_Q4_1, TN_TYPE_Q8_1},   {TN_TYPE_Q5_0, TN_TYPE_Q8_0},
                {TN_TYPE_Q5_1, TN_TYPE_Q8_1},    {TN_TYPE_Q8_0, TN_TYPE_Q8_0},   {TN_TYPE_Q2_K, TN_TYPE_Q8_K},
                {TN_TYPE_Q3_K, TN_TYPE_Q8_K},    {TN_TYPE_Q4_K, TN_TYPE_Q8_K},   {TN_TYPE_Q5_K, TN_TYPE_Q8_K},
                {TN_TYPE_Q6_K, TN_TYPE_Q8_K},    {TN_TYPE_IQ4_NL, TN_TYPE_Q8_0}, {TN_TYPE_IQ4_XS, TN_TYPE_Q8_K},
                {TN_TYPE_MXFP4, TN_TYPE_Q8_0}};
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++) {
        CHECK(tn_vec_dot_type(dots[i].type) == dots[i].dot, "vec_dot_type(%s)", tn_type_name(dots[i].type));
        CHECK(tn_vec_dot(dots[i].type) != NULL && tn_vec_dot_scalar(dots[i].type) != NULL, "%s has no dot",
              tn_type_name(dots[i].type));
    }
    /* the traits flags agree with what the entry points accept */
    static unsigned char zeros[4096];
    static float out[2048];
    for (int t = 0; t < TN_TYPE_COUNT; t++) {
        const tn_type_info *info = tn_type_get(t);
        if (!info) continue;
        int64_t n = info->block_size * 4;
        int rd = tn_dequantize_row(t, zeros, out, n);
        CHECK((rd == 0) == info->can_dequantize, "%s dequantize rc %d vs flag %d", info->name, rd,
              info->can_dequantize);
        float src[1024] = {0};
        int rq = tn_quantize_row(t, src, zeros + 2048, n);
        CHECK((rq == 0) == info->can_quantize, "%s quantize rc %d vs flag %d", info->name, rq, info->can_quantize);
        if (rd != 0) CHECK(strstr(tn_last_error(), info->name) != NULL, "error names the type: %s", tn_last_error());
    }
    CHECK(tn_dequantize_row(TN_TYPE_Q4_0, zeros, out, 33) == -1, "n not a multiple of the block size");
    CHECK(tn_quantize_row(TN_TYPE_Q4_K, out, zeros, 255) == -1, "n not a multiple of the block size");
    CHECK(tn_dequantize_row(-1, zeros, out, 32) == -1 && tn_dequantize_row(99, zeros, out, 32) == -1, "bad type");
    CHECK(tn_vec_dot(TN_TYPE_IQ2_XXS) == NULL && tn_vec_dot_type(TN_TYPE_IQ2_XXS) == -1, "unsupported dot");

    /* hand-made blocks with known values */
    unsigned char b[64];
    memset(b, 0, sizeof b);
    uint16_t one = 0x3c00, half = 0x3800;
    memcpy(b, &one, 2); /* Q4_0: d = 1, element j = (j & 15) - 8 (low nibbles) / 7 - j (high) */
    for (int j = 0; j < 16; j++) b[2 + j] = (unsigned char)(j | ((15 - j) << 4));
    CHECK(tn_dequantize_row(TN_TYPE_Q4_0, b, out, 32) == 0, "q4_0");
    for (int j = 0; j < 16; j++) {
        CHECK(out[j] == j - 8 && out[j + 16] == 7 - j, "q4_0 element %d: %g %g", j, out[j], out[j + 16]);
    }
    memcpy(b, &half, 2); /* Q8_0: d = 0.5, qs = -16..15 */
    for (int j = 0; j < 32; j++) b[2 + j] = (unsigned char)(int8_t)(j - 16);
    CHECK(tn_dequantize_row(TN_TYPE_Q8_0, b, out, 32) == 0, "q8_0");
    for (int j = 0; j < 32; j++) CHECK(out[j] == 0.5f * (j - 16), "q8_0 element %d: %g", j, out[j]);
    memcpy(b, &one, 2); /* IQ4_NL: d = 1, index j / 15 - j */
    for (int j = 0; j < 16; j++) b[2 + j] = (unsigned char)(j | ((15 - j) << 4));
    static const int kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    CHECK(tn_dequantize_row(TN_TYPE_IQ4_NL, b, out, 32) == 0, "iq4_nl");
    for (int j = 0; j < 16; j++) CHECK(out[j] == kv[j] && out[j + 16] == kv[15 - j], "iq4_nl element %d", j);
    b[0] = 127; /* MXFP4: e = 127 -> scale 1 (codes are E2M1: 0 .5 1 1.5 2 3 4 6, sign bit 8) */
    static const float fp4[16] = {0, .5f, 1, 1.5f, 2, 3, 4, 6, 0, -.5f, -1, -1.5f, -2, -3, -4, -6};
    for (int j = 0; j < 16; j++) b[1 + j] = (unsigned char)(j | ((15 - j) << 4));
    CHECK(tn_dequantize_row(TN_TYPE_MXFP4, b, out, 32) == 0, "mxfp4");
    for (int j = 0; j < 16; j++) CHECK(out[j] == fp4[j] && out[j + 16] == fp4[15 - j], "mxfp4 element %d", j);
}

/* ---- f16 / bf16 conversions ---- */

/* IEEE round-to-nearest-even of x to a format with `mant` fraction bits, minimum normal exponent
 * emin and overflow threshold (the smallest magnitude that rounds to infinity), done in double. */
static double ref_round(float x, int mant, int emin, double inf_at) {
    if (isnan(x) || isinf(x)) return x;
    double ax = fabs((double)x);
    int e;
    frexp(ax, &e); /* ax = m * 2^e, m in [0.5, 1) */
    int exp = e - 1 < emin ? emin : e - 1;
    double q = ldexp(1.0, exp - mant);
    double r = rint(ax / q) * q;
    if (r >= inf_at) r = INFINITY;
    return x < 0 ? -r : r;
}

static int same_value(float a, double b) {
    if (isnan(b)) return isnan(a);
    return a == b && !signbit(a) == !signbit(b);
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("f16c"))) static uint16_t hw_f16(float f) { return (uint16_t)_cvtss_sh(f, 0); }
#endif

static void check_f32_to_halves(float f, int hw) {
    uint16_t h = tn_fp32_to_fp16(f);
    CHECK(same_value(tn_fp16_to_fp32(h), ref_round(f, 10, -14, 65520.0)), "f16(%a) = 0x%04x", (double)f, h);
    uint16_t b = tn_fp32_to_bf16(f);
    CHECK(same_value(tn_bf16_to_fp32(b), ref_round(f, 7, -126, 0x1.ffp127)), "bf16(%a) = 0x%04x",
          (double)f, b);
#if defined(__x86_64__)
    if (hw && !isnan(f)) CHECK(h == hw_f16(f), "f16(%a): 0x%04x vs F16C 0x%04x", (double)f, h, hw_f16(f));
#else
    (void)hw;
#endif
}

static void test_half(void) {
    static const struct {
        float f;
        uint16_t h, b;
    } known[] = {{1.0f, 0x3c00, 0x3f80},       {-2.0f, 0xc000, 0xc000},      {0.1f, 0x2e66, 0x3dcd},
                 {65504.f, 0x7bff, 0x4780},    {65520.f, 0x7c00, 0x4780},    {0x1p-24f, 0x0001, 0x3380},
                 {0x1p-25f, 0x0000, 0x3300},   {0x1.8p-25f, 0x0001, 0x3340}, {-0.0f, 0x8000, 0x8000},
                 {0x1.002p0f, 0x3c00, 0x3f80}, {0x1.006p0f, 0x3c02, 0x3f80}, {0x1.01p0f, 0x3c04, 0x3f80},
                 {0x1.03p0f, 0x3c0c, 0x3f82}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        CHECK(tn_fp32_to_fp16(known[i].f) == known[i].h, "f16(%a) = 0x%04x, want 0x%04x", (double)known[i].f,
              tn_fp32_to_fp16(known[i].f), known[i].h);
        CHECK(tn_fp32_to_bf16(known[i].f) == known[i].b, "bf16(%a) = 0x%04x, want 0x%04x", (double)known[i].f,
              tn_fp32_to_bf16(known[i].f), known[i].b);
    }
    CHECK(tn_fp32_to_fp16(INFINITY) == 0x7c00 && tn_fp32_to_bf16(-INFINITY) == 0xff80, "infinities");
    CHECK((tn_fp32_to_fp16(NAN) & 0x7fff) > 0x7c00 && (tn_fp32_to_bf16(NAN) & 0x7fff) > 0x7f80, "nan stays nan");

    /* every f16 and bf16 pattern: decode against the formula, and round-trip through f32 */
    int bad16 = 0, badbf = 0;
    for (uint32_t u = 0; u < 65536; u++) {
        uint16_t h = (uint16_t)u;
        int e = (h >> 10) & 31, m = h & 1023;
        double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
        if (h & 0x8000) v = -v;
        float f = tn_fp16_to_fp32(h);
        if (!same_value(f, v)) bad16++;
        uint16_t back = tn_fp32_to_fp16(f);
        if (isnan(f) ? !((back & 0x7fff) > 0x7c00 && (back & 0x8000) == (h & 0x8000)) : back != h) bad16++;
        float g = tn_bf16_to_fp32(h);
        uint16_t bback = tn_fp32_to_bf16(g);
        if (isnan(g) ? (bback | 0x40) != (h | 0x40) : bback != h) badbf++;
    }
    CHECK(bad16 == 0, "%d f16 patterns decode or round-trip wrongly", bad16);
    CHECK(badbf == 0, "%d bf16 patterns round-trip wrongly", badbf);

    /* encoding: a sweep over all f32 bit patterns plus every f16 rounding midpoint and its neighbours */
    int hw = 0;
#if defined(__x86_64__)
    hw = __builtin_cpu_supports("avx2"); /* every AVX2 CPU has F16C; clang does not know "f16c" here */
#endif
    int before = tn_checks_failed;
    for (uint64_t u = 0; u < 0x100000000ull && tn_checks_failed - before < 10; u += 4099)
        check_f32_to_halves(tn_f32_from_bits((uint32_t)u), hw);
    for (uint32_t h = 0; h < 0x7c00 && tn_checks_failed - before < 10; h++) {
        float mid = (tn_fp16_to_fp32((uint16_t)h) + tn_fp16_to_fp32((uint16_t)(h + 1))) / 2;
        uint32_t mb = tn_bits_from_f32(mid);
        for (int d = -1; d <= 1; d++) {
            check_f32_to_halves(tn_f32_from_bits(mb + (uint32_t)d), hw);
            check_f32_to_halves(-tn_f32_from_bits(mb + (uint32_t)d), hw);
        }
    }
    printf("half: f16/bf16 conversions checked (F16C cross-check %s)\n", hw ? "on" : "off");
}

/* ---- quantize -> dequantize round trips ---- */

static void test_roundtrip(void) {
    static const struct {
        int type;
        double bound; /* relative RMS error on N(0,1) data */
    } cases[] = {{TN_TYPE_F32, 0},        {TN_TYPE_F16, 3e-4},    {TN_TYPE_BF16, 2.5e-3}, {TN_TYPE_Q8_0, 7e-3},
                 {TN_TYPE_Q8_1, 7e-3},    {TN_TYPE_Q8_K, 9e-3},   {TN_TYPE_Q6_K, 0.022},  {TN_TYPE_Q5_0, 0.05},
                 {TN_TYPE_Q5_1, 0.045},   {TN_TYPE_Q5_K, 0.045},  {TN_TYPE_Q4_0, 0.10},   {TN_TYPE_Q4_1, 0.09},
                 {TN_TYPE_Q4_K, 0.085},   {TN_TYPE_IQ4_NL, 0.09}, {TN_TYPE_IQ4_XS, 0.09}, {TN_TYPE_Q3_K, 0.17},
                 {TN_TYPE_Q2_K, 0.33},    {TN_TYPE_MXFP4, 0.13}};
    const int64_t n = 256 * 64;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    unsigned char *q = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) x[i] = rng_gauss();
    printf("round trip (relative RMS error, N(0,1) data):");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int t = cases[c].type;
        CHECK(tn_quantize_row(t, x, q, n) == 0 && tn_dequantize_row(t, q, y, n) == 0, "%s", tn_type_name(t));
        double e = rel_rms(y, x, n);
        printf(" %s %.4f", tn_type_name(t), e);
        CHECK(e <= cases[c].bound, "%s round trip error %.5f > %.5f", tn_type_name(t), e, cases[c].bound);
        /* an all-zero row stays zero */
        memset(y, 0, 256 * sizeof *y);
        float z[256] = {0};
        CHECK(tn_quantize_row(t, z, q, 256) == 0 && tn_dequantize_row(t, q, y, 256) == 0, "zero row");
        for (int i = 0; i < 256; i++) CHECK(y[i] == 0, "%s: zero row element %d = %g", tn_type_name(t), i, y[i]);
    }
    printf("\n");
    /* the activation formats' side data: Q8_K bsums are the sums of qs, Q8_1's s is d * sum(qs) */
    for (int64_t i = 0; i < n; i++) x[i] = rng_gauss() * (i % 300 == 0 ? 20.f : 1.f);
    CHECK(tn_quantize_row(TN_TYPE_Q8_K, x, q, n) == 0, "q8_K");
    for (int64_t b = 0; b < n / 256; b++) {
        const unsigned char *blk = q + b * 292;
        const int8_t *qs = (const int8_t *)(blk + 4);
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            int16_t bs;
            for (int l = 0; l < 16; l++) sum += qs[16 * g + l];
            memcpy(&bs, blk + 4 + 256 + 2 * g, 2);
            CHECK(bs == sum, "q8_K block %lld bsum %d: %d vs %d", (long long)b, g, bs, sum);
        }
    }
    CHECK(tn_quantize_row(TN_TYPE_Q8_1, x, q, n) == 0, "q8_1");
    for (int64_t b = 0; b < n / 32; b++) {
        const unsigned char *blk = q + b * 36;
        uint16_t d, s;
        memcpy(&d, blk, 2);
        memcpy(&s, blk + 2, 2);
        int sum = 0;
        for (int l = 0; l < 32; l++) sum += (int8_t)blk[4 + l];
        /* s was rounded from the unrounded d, so allow both roundings (2^-11 each) */
        const float want = sum * tn_fp16_to_fp32(d);
        CHECK(fabsf(tn_fp16_to_fp32(s) - want) <= 1.5e-3f * fabsf(want) + 1e-7f, "q8_1 block %lld: s %g vs d*sum %g",
              (long long)b, tn_fp16_to_fp32(s), want);
    }
    free(x);
    free(y);
    free(q);
}

/* ---- SIMD kernels against the scalar reference, and the scalar reference against double ---- */

/* byte offsets of the fp16 scale fields in one block (random bytes there could be inf/nan) */
static int scale_fields(int type, int off[2]) {
    switch (type) {
    case TN_TYPE_Q4_1: case TN_TYPE_Q5_1: case TN_TYPE_Q4_K: case TN_TYPE_Q5_K:
        off[0] = 0, off[1] = 2;
        return 2;
    case TN_TYPE_Q2_K: off[0] = 80, off[1] = 82; return 2;
    case TN_TYPE_Q3_K: off[0] = 108; return 1;
    case TN_TYPE_Q6_K: off[0] = 208; return 1;
    default: off[0] = 0; return 1;
    }
}

/* Weights for a dot test: quantized Gaussian data, or (random_bits) random bytes with sane scales,
 * which reaches bit patterns the quantizers never emit. */
static void make_weights(int type, int64_t n, void *w, float *tmp, int random_bits) {
    const tn_type_info *info = tn_type_get(type);
    if (!random_bits || info->block_size == 1) {
        for (int64_t i = 0; i < n; i++) tmp[i] = rng_gauss() * (i % 97 == 0 ? 8.f : 1.f);
        tn_quantize_row(type, tmp, w, n);
        return;
    }
    unsigned char *p = w;
    size_t bytes = tn_row_size(type, n);
    for (size_t i = 0; i < bytes; i++) p[i] = (unsigned char)rng_u64();
    for (int64_t b = 0; b < n / info->block_size; b++) {
        unsigned char *blk = p + b * info->type_size;
        if (type == TN_TYPE_MXFP4) {
            blk[0] = (unsigned char)(120 + rng_u64() % 16);
            continue;
        }
        int off[2], k = scale_fields(type, off);
        for (int j = 0; j < k; j++) {
            uint16_t h = tn_fp32_to_fp16((float)(rng_uniform() * 2 - 1) * 0.05f);
            memcpy(blk + off[j], &h, 2);
        }
    }
}

static void test_simd(void) {
    static const int64_t lens32[] = {32, 256, 512, 4064, 4096, 11008};
    static const int64_t lens256[] = {256, 512, 4096, 11008};
    static const int64_t lens1[] = {1, 7, 33, 256, 4095, 11011};
    static const char *const levels[] = {"avx2", "avx512"};
    const int64_t nmax = 11011;
    float *tmp = malloc(nmax * sizeof *tmp), *wf = malloc(nmax * sizeof *wf), *af = malloc(nmax * sizeof *af);
    void *w = malloc(nmax * 4), *a = malloc(nmax * 4);
    void *wshift = malloc(nmax * 4 + 64), *ashift = malloc(nmax * 4 + 64);
    double worst_scalar = 0, worst_simd = 0;
    int n_levels_run = 0;
    for (int ti = 0; ti < N_TYPES; ti++) {
        const int type = all_types[ti], atype = tn_vec_dot_type(type);
        const tn_type_info *info = tn_type_get(type);
        const int64_t *lens = info->block_size == 1 ? lens1 : info->block_size == 32 ? lens32 : lens256;
        const int nlens = info->block_size == 32 ? 6 : info->block_size == 1 ? 6 : 4;
        tn_vec_dot_fn scalar = tn_vec_dot_scalar(type);
        for (int li = 0; li < nlens; li++)
            for (int trial = 0; trial < 4; trial++) {
                const int64_t n = lens[li];
                make_weights(type, n, w, tmp, trial & 1);
                for (int64_t i = 0; i < n; i++) tmp[i] = rng_gauss() * (trial >= 2 && i % 31 == 0 ? 10.f : 1.f);
                tn_quantize_row(atype, tmp, a, n);
                tn_dequantize_row(type, w, wf, n);
                tn_dequantize_row(atype, a, af, n);
                double ref = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) {
                    ref += (double)wf[i] * af[i];
                    mag += fabs((double)wf[i] * af[i]);
                }
                if (atype == TN_TYPE_Q8_1) {
                    /* Q4_1/Q5_1 offsets m meet Q8_1's stored s = d*sum(q), rounded from the unrounded
                     * d to fp16: the format's product is m*s, not m * sum of the dequantized values */
                    for (int64_t b = 0; b < n / 32; b++) {
                        uint16_t m, sa;
                        memcpy(&m, (const unsigned char *)w + b * info->type_size + 2, 2);
                        memcpy(&sa, (const unsigned char *)a + b * 36 + 2, 2);
                        double dsum = 0;
                        for (int l = 0; l < 32; l++) dsum += af[32 * b + l];
                        ref += tn_fp16_to_fp32(m) * (tn_fp16_to_fp32(sa) - dsum);
                    }
                }
                /* tolerance: 1e-5 of the sum of |terms| plus 1e-4 (float accumulation over up to
                 * 11011 terms, block scales applied in a different order) */
                const double tol = 1e-5 * mag + 1e-4;
                float ss = NAN;
                scalar(n, &ss, w, a);
                CHECK(fabs(ss - ref) <= tol, "%s scalar n=%lld trial %d: %.9g vs double %.9g (tol %.3g)",
                      info->name, (long long)n, trial, ss, ref, tol);
                if (fabs(ss - ref) / (mag + 1e-30) > worst_scalar) worst_scalar = fabs(ss - ref) / (mag + 1e-30);
                for (int l = 0; l < 2; l++) {
                    tn_vec_dot_fn f = tn_vec_dot_level(type, levels[l]);
                    if (!f) continue;
                    n_levels_run++;
                    float sv = NAN;
                    f(n, &sv, w, a);
                    CHECK(fabs(sv - ss) <= tol, "%s %s n=%lld trial %d: %.9g vs scalar %.9g (tol %.3g)", info->name,
                          levels[l], (long long)n, trial, sv, ss, tol);
                    if (fabs(sv - ss) / (mag + 1e-30) > worst_simd) worst_simd = fabs(sv - ss) / (mag + 1e-30);
                    if (info->block_size == 1) {
                        /* the float kernels peel to an aligned weight pointer: try other alignments */
                        const size_t esz = (size_t)info->type_size;
                        const size_t aesz = (size_t)tn_type_get(atype)->type_size;
                        for (int shift = 1; shift <= 5; shift += 2) {
                            unsigned char *w2 = (unsigned char *)wshift + shift * esz;
                            unsigned char *a2 = (unsigned char *)ashift + (6 - shift) * aesz;
                            memcpy(w2, w, n * esz);
                            memcpy(a2, a, n * aesz);
                            float sv2 = NAN;
                            f(n, &sv2, w2, a2);
                            CHECK(fabs(sv2 - ss) <= tol, "%s %s n=%lld shifted by %d: %.9g vs scalar %.9g", info->name,
                                  levels[l], (long long)n, shift, sv2, ss);
                        }
                    }
                }
            }
    }
    printf("dot: %d SIMD runs; worst |scalar-double|/sum|terms| %.2g, worst |simd-scalar|/sum|terms| %.2g\n",
           n_levels_run, worst_scalar, worst_simd);
    free(tmp);
    free(wf);
    free(af);
    free(w);
    free(a);
    free(wshift);
    free(ashift);
}

/* ---- the llama.cpp-quantized tiny-llama files ---- */

static const struct {
    int type;
    double bound; /* relative RMS error of the dequantized tensor against the bf16 original */
} model_bounds[] = {{TN_TYPE_F32, 0},       {TN_TYPE_BF16, 0},      {TN_TYPE_Q8_0, 0.007},  {TN_TYPE_Q6_K, 0.021},
                    {TN_TYPE_Q5_0, 0.05},   {TN_TYPE_Q5_1, 0.045},  {TN_TYPE_Q5_K, 0.045},  {TN_TYPE_Q4_0, 0.10},
                    {TN_TYPE_Q4_1, 0.09},   {TN_TYPE_Q4_K, 0.085},  {TN_TYPE_IQ4_NL, 0.09}, {TN_TYPE_IQ4_XS, 0.09},
                    {TN_TYPE_Q3_K, 0.17},   {TN_TYPE_Q2_K, 0.33}};

static double model_bound(int type) {
    for (size_t i = 0; i < sizeof model_bounds / sizeof model_bounds[0]; i++)
        if (model_bounds[i].type == type) return model_bounds[i].bound;
    return -1;
}

static void test_models(void) {
    static const char *const names[] = {"IQ4_NL", "IQ4_XS", "Q2_K",   "Q3_K_M", "Q4_0",   "Q4_1", "Q4_K_M",
                                        "Q4_K_S", "Q5_0",   "Q5_1",   "Q5_K_M", "Q6_K",   "Q8_0", "bf16"};
    tn_gguf *ref = tn_gguf_open("models/tiny-llama/tiny-llama-bf16.gguf");
    CHECK(ref != NULL, "open bf16 reference: %s", tn_last_error());
    if (!ref) return;
    double worst[TN_TYPE_COUNT];
    int tensors[TN_TYPE_COUNT] = {0}, requant_same[TN_TYPE_COUNT] = {0};
    for (int t = 0; t < TN_TYPE_COUNT; t++) worst[t] = 0;
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        char path[256];
        snprintf(path, sizeof path, "models/tiny-llama/tiny-llama-%s.gguf", names[f]);
        tn_gguf *g = tn_gguf_open(path);
        CHECK(g != NULL, "open %s: %s", path, tn_last_error());
        if (!g) continue;
        CHECK(tn_gguf_n_tensors(g) == tn_gguf_n_tensors(ref), "%s tensor count", path);
        for (int64_t ti = 0; ti < tn_gguf_n_tensors(g); ti++) {
            const tn_gguf_tensor *qt = tn_gguf_tensor_at(g, ti);
            const tn_gguf_tensor *rt = tn_gguf_find_tensor(ref, qt->name);
            CHECK(rt != NULL, "%s: %s missing from the bf16 file", path, qt->name);
            if (!rt) continue;
            const int64_t ne0 = qt->ne[0], nrows = qt->ne[1] * qt->ne[2] * qt->ne[3];
            CHECK(rt->ne[0] == ne0 && rt->ne[1] * rt->ne[2] * rt->ne[3] == nrows, "%s shape", qt->name);
            const size_t qrs = tn_row_size(qt->type, ne0), rrs = tn_row_size(rt->type, ne0);
            float *x = malloc(ne0 * sizeof *x), *r = malloc(ne0 * sizeof *r);
            unsigned char *requant = malloc(qrs);
            double num = 0, den = 0;
            int rc = 0, same = 1;
            const int can_q = tn_type_get(qt->type) && tn_type_get(qt->type)->can_quantize;
            for (int64_t row = 0; row < nrows && rc == 0; row++) {
                const unsigned char *qrow = (const unsigned char *)qt->data + row * qrs;
                rc |= tn_dequantize_row(qt->type, qrow, x, ne0);
                rc |= tn_dequantize_row(rt->type, (const unsigned char *)rt->data + row * rrs, r, ne0);
                for (int64_t i = 0; i < ne0; i++) {
                    num += ((double)x[i] - r[i]) * ((double)x[i] - r[i]);
                    den += (double)r[i] * r[i];
                }
                if (can_q) {
                    rc |= tn_quantize_row(qt->type, r, requant, ne0);
                    if (memcmp(requant, qrow, qrs) != 0) same = 0;
                }
            }
            CHECK(rc == 0, "%s %s (%s): %s", path, qt->name, tn_type_name(qt->type), tn_last_error());
            const double e = den > 0 ? sqrt(num / den) : sqrt(num);
            const double bound = model_bound(qt->type);
            CHECK(bound >= 0 && e <= bound, "%s %s (%s): relative RMS error %.5f > %.5f", path, qt->name,
                  tn_type_name(qt->type), e, bound);
            /* llama-quantize without an imatrix uses the reference quantizers: same bytes */
            CHECK(!can_q || same, "%s %s (%s): requantizing the bf16 tensor gives different bytes", path, qt->name,
                  tn_type_name(qt->type));
            if (e > worst[qt->type]) worst[qt->type] = e;
            tensors[qt->type]++;
            requant_same[qt->type] += can_q && same;
            free(x);
            free(r);
            free(requant);
        }
        tn_gguf_close(g);
    }
    tn_gguf_close(ref);
    printf("models (worst relative RMS error vs bf16; tensors whose requantization is byte-identical):\n");
    for (int t = 0; t < TN_TYPE_COUNT; t++)
        if (tensors[t])
            printf("  %-7s %.5f (bound %.3f)  %d/%d identical\n", tn_type_name(t), worst[t], model_bound(t),
                   requant_same[t], tensors[t]);
}

int main(void) {
    /* TERN_SIMD is read once, at the first dispatch: force AVX2 and check it took effect */
    setenv("TERN_SIMD", "avx2", 1);
    const int have_avx2 = tn_vec_dot_level(TN_TYPE_Q4_0, "avx2") != NULL;
    printf("simd: avx2 %s, avx512 %s; TERN_SIMD=avx2 gives %s\n", have_avx2 ? "yes" : "no",
           tn_vec_dot_level(TN_TYPE_Q4_0, "avx512") ? "yes" : "no", tn_simd_level());
    CHECK(strcmp(tn_simd_level(), have_avx2 ? "avx2" : "scalar") == 0, "TERN_SIMD ignored: %s", tn_simd_level());
    CHECK(tn_vec_dot(TN_TYPE_Q4_K) == (have_avx2 ? tn_vec_dot_level(TN_TYPE_Q4_K, "avx2") : tn_vec_dot_scalar(TN_TYPE_Q4_K)),
          "tn_vec_dot follows TERN_SIMD");
    CHECK(tn_vec_dot_level(TN_TYPE_Q4_0, "scalar") == tn_vec_dot_scalar(TN_TYPE_Q4_0) &&
              tn_vec_dot_level(TN_TYPE_Q4_0, "sse9") == NULL,
          "named levels");

    test_traits();
    test_half();
    test_roundtrip();
    test_simd();
    test_models();
    return tn_test_done("test_quants");
}
