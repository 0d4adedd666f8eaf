/* The sampler's candidates on the device: the k best logits of a row (after the repetition
 * penalty), so that a decode step copies k (id, logit) pairs to the host instead of the whole
 * vocabulary (128256 floats for Llama 3) and the host's top-k pass over it disappears.
 *
 * Each block sorts a chunk of 1024 candidates in shared memory (bitonic) and keeps its best k;
 * passes repeat over the survivors until one chunk is left (k <= 256: every pass shrinks the
 * set at least fourfold; k = 1, greedy decoding, reduces instead of sorting). The order is
 * total (value descending, then id ascending), so the k chosen and their order are exactly those
 * of the host sampler's heap and sort. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.cuh"

namespace {

constexpr int TK_CHUNK = 1024, TK_THREADS = TK_CHUNK / 2;

struct tk_cand {
    float v;
    int32_t id;
};

struct tk_penalty {
    int32_t n;
    float penalty;
    int32_t ids[TN_PENALTY_MAX];
};

__device__ __forceinline__ bool better(tk_cand a, tk_cand b) { return a.v > b.v || (a.v == b.v && a.id < b.id); }

/* RAW: the input is the logits row (ids = indices; the penalty applies); else candidates. */
template <bool RAW>
__global__ void __launch_bounds__(TK_THREADS) k_top_k(const float *row, const tk_cand *in, int64_t n, int k,
                                                      const tk_penalty pen, tk_cand *out) {
    __shared__ tk_cand s[TK_CHUNK];
    tn_cu_pdl_begin();
    tn_cu_pdl_wait();
    const int64_t base = (int64_t)blockIdx.x * TK_CHUNK;
    for (int i = threadIdx.x; i < TK_CHUNK; i += TK_THREADS) {
        tk_cand c = {-INFINITY, INT_MAX}; /* padding ranks below every real entry */
        if (base + i < n) c = RAW ? tk_cand{row[base + i], (int32_t)(base + i)} : in[base + i];
        s[i] = c;
    }
    __syncthreads();
    if (RAW) {
        for (int j = threadIdx.x; j < pen.n; j += TK_THREADS) {
            const int64_t t = pen.ids[j] - base; /* distinct ids: no two threads touch one entry */
            if (t < 0 || t >= TK_CHUNK || base + t >= n) continue;
            const float v = s[t].v;
            s[t].v = v > 0 ? v / pen.penalty : v * pen.penalty;
        }
        __syncthreads();
    }
    if (k == 1) { /* greedy: the chunk's best entry by a reduction, not a sort (10 steps, not 55) */
        tk_cand b = better(s[threadIdx.x + TK_THREADS], s[threadIdx.x]) ? s[threadIdx.x + TK_THREADS] : s[threadIdx.x];
        __shared__ tk_cand warp_best[TK_THREADS / 32];
        for (int o = 16; o > 0; o >>= 1) {
            const tk_cand c = {__shfl_xor_sync(0xffffffffu, b.v, o), __shfl_xor_sync(0xffffffffu, b.id, o)};
            if (better(c, b)) b = c;
        }
        if ((threadIdx.x & 31) == 0) warp_best[threadIdx.x / 32] = b;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int w = 1; w < TK_THREADS / 32; w++)
                if (better(warp_best[w], b)) b = warp_best[w];
            out[blockIdx.x] = b;
        }
        return;
    }
    for (int size = 2; size <= TK_CHUNK; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            const int t = threadIdx.x, i = 2 * t - (t & (stride - 1)), j = i + stride;
            const tk_cand a = s[i], b = s[j];
            const bool best_first = (i & size) == 0; /* the final pass (size = CHUNK): all of it */
            if (best_first ? better(b, a) : better(a, b)) {
                s[i] = b;
                s[j] = a;
            }
            __syncthreads();
        }
    for (int i = threadIdx.x; i < k; i += TK_THREADS) out[(int64_t)blockIdx.x * k + i] = s[i];
}

int64_t chunks(int64_t n) { return (n + TK_CHUNK - 1) / TK_CHUNK; }

} // namespace

size_t tn_cu_top_k_scratch(int64_t n, int k) { return 2 * (size_t)chunks(n) * (size_t)k * sizeof(tk_cand); }

void tn_cu_top_k(tn_cu_exec *ex, const float *row, int64_t n, int k, const int32_t *pen_ids, int n_pen,
                 float penalty, void *scratch, void *host, int32_t *ids, float *vals) {
    if (k < 1 || k > TN_TOP_K_MAX || k > n || n_pen < 0 || n_pen > TN_PENALTY_MAX) {
        tn_cu_fail(ex, "CUDA top-k: k %d of %lld entries, %d penalised ids", k, (long long)n, n_pen);
        return;
    }
    tk_penalty pen;
    pen.n = n_pen;
    pen.penalty = penalty;
    for (int j = 0; j < n_pen; j++) pen.ids[j] = pen_ids[j];
    tk_cand *buf[2] = {(tk_cand *)scratch, (tk_cand *)scratch + chunks(n) * k};
    int64_t nb = chunks(n);
    tn_cu_launch(ex, k_top_k<true>, (unsigned)nb, TK_THREADS, 0, row, (const tk_cand *)nullptr, n, k, pen, buf[0]);
    int cur = 0;
    pen.n = 0;
    while (nb > 1) {
        const int64_t m = nb * k;
        nb = chunks(m);
        tn_cu_launch(ex, k_top_k<false>, (unsigned)nb, TK_THREADS, 0, (const float *)nullptr,
                     (const tk_cand *)buf[cur], m, k, pen, buf[cur ^ 1]);
        cur ^= 1;
    }
    if (!tn_cu_check(ex, "top-k")) return;
    cudaMemcpyAsync(host, buf[cur], (size_t)k * sizeof(tk_cand), cudaMemcpyDeviceToHost, ex->st);
    const cudaError_t err = cudaStreamSynchronize(ex->st);
    if (err != cudaSuccess) {
        tn_cu_fail(ex, "CUDA top-k: %s", cudaGetErrorString(err));
        return;
    }
    const tk_cand *c = (const tk_cand *)host;
    for (int i = 0; i < k; i++) ids[i] = c[i].id, vals[i] = c[i].v;
}

/* ---- device test (tests/test_cuda.c) ---- */

extern "C" tn_backend *tn_backend_cuda_new(int device); /* cuda_backend.cu */

extern "C" int tn_cuda_selftest_top_k(char *msg, size_t cap) {
    tn_backend *be = tn_backend_cuda_new(0);
    tn_exec *e = be ? be->ops->exec_new(be, 1) : NULL;
    if (!e) {
        snprintf(msg, cap, "no CUDA exec: %s", tn_last_error());
        if (be) be->ops->free(be);
        return -1;
    }
    const int64_t sizes[] = {1, 5, 1023, 1024, 1025, 40000, 128256, 262144};
    const int ks[] = {1, 2, 40, 256};
    uint64_t rng = 12345;
    int rc = 0, cases = 0;
    for (int64_t n : sizes) {
        std::vector<float> row((size_t)n);
        for (int64_t i = 0; i < n; i++) { /* few distinct values: many ties, signs, infinities */
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const int q = (int)(rng >> 58); /* 0..63 */
            row[(size_t)i] = q == 63 ? -INFINITY : (float)(q - 20) * 0.375f;
        }
        float *d = (float *)be->ops->alloc(e, (size_t)n * sizeof(float));
        if (!d || cudaMemcpy(d, row.data(), (size_t)n * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess) {
            snprintf(msg, cap, "upload of %lld logits failed", (long long)n);
            rc = -1;
        }
        for (int k : ks) {
            if (rc || k > n) continue;
            for (int with_pen = 0; with_pen < 2 && !rc; with_pen++) {
                int32_t pen[TN_PENALTY_MAX];
                int n_pen = 0;
                const float penalty = 1.7f;
                for (int j = 0; with_pen && j < 64 && n_pen < (int)n; j++) {
                    const int32_t t = (int32_t)((j * 7919 + 13) % n);
                    if (std::find(pen, pen + n_pen, t) == pen + n_pen) pen[n_pen++] = t;
                }
                /* reference: the whole row, penalised, sorted by the same total order */
                std::vector<tk_cand> ref((size_t)n);
                for (int64_t i = 0; i < n; i++) ref[(size_t)i] = {row[(size_t)i], (int32_t)i};
                for (int j = 0; j < n_pen; j++) {
                    float &v = ref[(size_t)pen[j]].v;
                    v = v > 0 ? v / penalty : v * penalty;
                }
                std::sort(ref.begin(), ref.end(), [](const tk_cand &a, const tk_cand &b) {
                    return a.v > b.v || (a.v == b.v && a.id < b.id);
                });
                int32_t ids[TN_TOP_K_MAX];
                float vals[TN_TOP_K_MAX];
                if (be->ops->top_k(e, d, (int32_t)n, k, pen, n_pen, penalty, ids, vals)) {
                    snprintf(msg, cap, "top_k(n %lld, k %d): %s", (long long)n, k, tn_last_error());
                    rc = -1;
                    break;
                }
                cases++;
                for (int i = 0; i < k && !rc; i++)
                    if (ids[i] != ref[(size_t)i].id || memcmp(&vals[i], &ref[(size_t)i].v, 4) != 0) {
                        snprintf(msg, cap, "n %lld k %d penalty %d: rank %d is id %d (%g), reference id %d (%g)",
                                 (long long)n, k, with_pen, i, ids[i], vals[i], ref[(size_t)i].id, ref[(size_t)i].v);
                        rc = -1;
                    }
            }
        }
        if (d) be->ops->release(e, d);
    }
    if (!rc) snprintf(msg, cap, "%d cases (n up to 262144, k 1..256, ties, -inf, penalties) equal a full sort", cases);
    be->ops->exec_free(e);
    be->ops->free(be);
    return rc;
}
