/* Per-type kernel table and the public entry points of formats/types.h: tn_dequantize_row,
 * tn_quantize_row, tn_vec_dot_type, tn_vec_dot (fastest for this CPU), tn_vec_dot_scalar and
 * tn_simd_level.
 *
 * The SIMD level is detected once (lazily; the result is a pure function of the CPU and the
 * environment, so racing first calls store the same value). TERN_SIMD=scalar|avx2|avx512 lowers
 * the level (tests use it to compare implementations); asking for more than the CPU has gives
 * what the CPU has. Types without a kernel at the chosen level fall back to the next lower one. */
#include "core/error.h"
#include "formats/quant_kernels.h"
#include "formats/types.h"

#include <stdlib.h>
#include <string.h>

typedef void (*dequant_fn)(const void *src, float *dst, int64_t n);
typedef void (*quant_fn)(const float *src, void *dst, int64_t n);

typedef struct {
    dequant_fn dequant;
    quant_fn quant;
    int dot_type; /* -1: no dot product */
    tn_vec_dot_fn dot[3]; /* scalar, avx2, avx512 */
} kernels;

enum { LEVEL_SCALAR = 0, LEVEL_AVX2 = 1, LEVEL_AVX512 = 2 };

#if defined(__x86_64__) || defined(__i386__)
#define X86_DOTS(t) {tn_dot_##t##_scalar, tn_dot_##t##_avx2, tn_dot_##t##_avx512}
#else
#define X86_DOTS(t) {tn_dot_##t##_scalar, NULL, NULL}
#endif

#define CONV(t) tn_dequant_##t, tn_quant_##t

static const kernels table[TN_TYPE_COUNT] = {
    [TN_TYPE_F32] = {CONV(f32), TN_TYPE_F32, X86_DOTS(f32)},
    [TN_TYPE_F16] = {CONV(f16), TN_TYPE_F32, X86_DOTS(f16)},
    [TN_TYPE_BF16] = {CONV(bf16), TN_TYPE_F32, X86_DOTS(bf16)},
    [TN_TYPE_Q4_0] = {CONV(q4_0), TN_TYPE_Q8_0, X86_DOTS(q4_0)},
    [TN_TYPE_Q4_1] = {CONV(q4_1), TN_TYPE_Q8_1, X86_DOTS(q4_1)},
    [TN_TYPE_Q5_0] = {CONV(q5_0), TN_TYPE_Q8_0, X86_DOTS(q5_0)},
    [TN_TYPE_Q5_1] = {CONV(q5_1), TN_TYPE_Q8_1, X86_DOTS(q5_1)},
    [TN_TYPE_Q8_0] = {CONV(q8_0), TN_TYPE_Q8_0, X86_DOTS(q8_0)},
    [TN_TYPE_Q8_1] = {CONV(q8_1), -1, {NULL, NULL, NULL}},
    [TN_TYPE_Q2_K] = {CONV(q2_K), TN_TYPE_Q8_K, X86_DOTS(q2_K)},
    [TN_TYPE_Q3_K] = {CONV(q3_K), TN_TYPE_Q8_K, X86_DOTS(q3_K)},
    [TN_TYPE_Q4_K] = {CONV(q4_K), TN_TYPE_Q8_K, X86_DOTS(q4_K)},
    [TN_TYPE_Q5_K] = {CONV(q5_K), TN_TYPE_Q8_K, X86_DOTS(q5_K)},
    [TN_TYPE_Q6_K] = {CONV(q6_K), TN_TYPE_Q8_K, X86_DOTS(q6_K)},
    [TN_TYPE_Q8_K] = {CONV(q8_K), -1, {NULL, NULL, NULL}},
    [TN_TYPE_IQ4_NL] = {CONV(iq4_nl), TN_TYPE_Q8_0, X86_DOTS(iq4_nl)},
    [TN_TYPE_IQ4_XS] = {CONV(iq4_xs), TN_TYPE_Q8_K, X86_DOTS(iq4_xs)},
    [TN_TYPE_MXFP4] = {CONV(mxfp4), TN_TYPE_Q8_0, X86_DOTS(mxfp4)},
};

static const kernels *kernels_for(int type) {
    if (type < 0 || type >= TN_TYPE_COUNT || !table[type].dequant) return NULL;
    return &table[type];
}

/* ---- SIMD level ---- */

/* F16C is not tested: every CPU with AVX2 has it (and clang's __builtin_cpu_supports does not
 * know the name). */
static int cpu_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni")) {
        return LEVEL_AVX512;
    }
    if (avx2) return LEVEL_AVX2;
#endif
    return LEVEL_SCALAR;
}

/* Bits 0-1: level, bit 3: initialised. */
static int level_state;

static int simd_state(void) {
    int st = __atomic_load_n(&level_state, __ATOMIC_ACQUIRE);
    if (st & 8) return st;
    int level = cpu_level();
    const char *env = getenv("TERN_SIMD");
    if (env && *env) {
        int want = strcmp(env, "scalar") == 0 ? LEVEL_SCALAR
                   : strcmp(env, "avx2") == 0 ? LEVEL_AVX2
                                              : LEVEL_AVX512;
        if (want < level) level = want;
    }
    st = level | 8;
    __atomic_store_n(&level_state, st, __ATOMIC_RELEASE);
    return st;
}

const char *tn_simd_level(void) {
    static const char *const names[] = {"scalar", "avx2", "avx512"};
    return names[simd_state() & 3];
}

/* ---- public entry points ---- */

static int check_n(int type, int64_t n) {
    const tn_type_info *info = tn_type_get(type);
    if (n < 0 || n % info->block_size)
        return tn_set_error("%s row of %lld elements: not a multiple of the block size %d", info->name,
                            (long long)n, info->block_size);
    return 0;
}

int tn_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    const kernels *k = kernels_for(type);
    if (!k) return tn_set_error("cannot dequantize type %s (%d)", tn_type_name(type), type);
    if (check_n(type, n)) return -1;
    k->dequant(src, dst, n);
    return 0;
}

int tn_quantize_row(int type, const float *src, void *dst, int64_t n) {
    const kernels *k = kernels_for(type);
    if (!k || !k->quant) return tn_set_error("cannot quantize to type %s (%d)", tn_type_name(type), type);
    if (check_n(type, n)) return -1;
    k->quant(src, dst, n);
    return 0;
}

int tn_vec_dot_type(int type) {
    const kernels *k = kernels_for(type);
    return k ? k->dot_type : -1;
}

tn_vec_dot_fn tn_vec_dot_scalar(int type) {
    const kernels *k = kernels_for(type);
    return k ? k->dot[LEVEL_SCALAR] : NULL;
}

tn_vec_dot_fn tn_vec_dot(int type) {
    const kernels *k = kernels_for(type);
    if (!k) return NULL;
    int st = simd_state();
    for (int level = st & 3; level >= 0; level--)
        if (k->dot[level]) return k->dot[level];
    return NULL;
}

tn_vec_dot_fn tn_vec_dot_level(int type, const char *level) {
    const kernels *k = kernels_for(type);
    if (!k || !level) return NULL;
    const int cpu = cpu_level();
    int want;
    if (strcmp(level, "scalar") == 0)
        want = LEVEL_SCALAR;
    else if (strcmp(level, "avx2") == 0)
        want = LEVEL_AVX2;
    else if (strcmp(level, "avx512") == 0)
        want = LEVEL_AVX512;
    else
        return NULL;
    if (want > cpu) return NULL;
    return k->dot[want];
}
