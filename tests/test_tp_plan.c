/* Tensor-parallel sharding plan (src/tp): on the bundled tiny models and -tp 1, 2, 3, 4, every
 * weight is cut into its per-rank shards and
 *   - the shards cover every byte of the tensor exactly once (replicated tensors: once per rank)
 *     and put back together give the original bytes;
 *   - column-parallel (row-split) shards: mat-vec outputs concatenated == the unsharded mat-vec,
 *     bit for bit (same rows, same quantized activations, same kernel);
 *   - row-parallel (column-split) shards: the activation slice quantized on its own is byte-equal
 *     to the matching blocks of the whole activation's quantization, and the sum of the partial
 *     mat-vecs (the all-reduce) matches the unsharded result within 4 (n + N) FLT_EPSILON S,
 *     S = sum_j |w_j x_j| (twice the classic gamma_n bound for recursive float summation: both
 *     the whole dot and the split one are such sums of the same products, only the order differs);
 *   - which (model, N) the plan refuses is predicted independently: KV heads % N, FFN blocks < N,
 *     attn_output head slices not on block boundaries (K-quants with 32-wide heads).
 * Plus the plan's numbers for real shapes (Llama-3-8B/70B) and KV bytes per rank adding up. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "tp/tp_plan.h"

static double max_rel_sum_err; /* largest |sum - whole| / S seen, printed for the record */

static void fill_x(float *x, int64_t n, uint32_t seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static void *quantize_act(int type, const float *x, int64_t n, size_t *bytes) {
    int at = tn_vec_dot_type(type);
    size_t nb = tn_row_size(at, n);
    void *q = nb ? malloc(nb) : NULL;
    if (q && tn_quantize_row(at, x, q, n)) {
        free(q);
        q = NULL;
    }
    *bytes = nb;
    return q;
}

/* y[i] = dot(row i of w, x) for ne1 rows of ne0 columns. */
static void matvec(int type, const void *w, int64_t ne0, int64_t ne1, const void *xq, float *y) {
    tn_vec_dot_fn dot = tn_vec_dot(type);
    size_t rb = tn_row_size(type, ne0);
    for (int64_t i = 0; i < ne1; i++) dot(ne0, &y[i], (const char *)w + (size_t)i * rb, xq);
}

/* Shards of one 2-D weight against its whole mat-vec. */
static void check_matvec(const tn_gguf_tensor *t, const tn_tp_slice *sl, void *const *shards,
                         int n_ranks, const char *what) {
    int64_t ne0 = t->ne[0], ne1 = t->ne[1];
    float *x = malloc(sizeof(float) * (size_t)ne0), *y = malloc(sizeof(float) * (size_t)ne1);
    float *ys = calloc((size_t)ne1, sizeof(float)), *part = malloc(sizeof(float) * (size_t)ne1);
    fill_x(x, ne0, (uint32_t)ne0 * 7u + (uint32_t)ne1);
    size_t xq_bytes;
    void *xq = quantize_act(t->type, x, ne0, &xq_bytes);
    CHECK(xq && tn_vec_dot(t->type), "%s: no dot product / activation quantizer for %s", what,
          tn_type_name(t->type));
    if (!xq || !tn_vec_dot(t->type)) goto out;
    matvec(t->type, t->data, ne0, ne1, xq, y);
    if (sl[0].kind == TN_TP_SPLIT_ROWS) {
        int exact = 1;
        for (int r = 0; r < n_ranks; r++) {
            matvec(t->type, shards[r], sl[r].ne0, sl[r].ne1, xq, part);
            exact &= !memcmp(part, y + sl[r].begin, sizeof(float) * (size_t)sl[r].ne1);
        }
        CHECK(exact, "%s: concatenated shard outputs differ from the whole mat-vec", what);
    } else {
        int at = tn_vec_dot_type(t->type);
        const tn_type_info *ai = tn_type_get(at);
        for (int r = 0; r < n_ranks; r++) {
            size_t qb;
            void *xs = quantize_act(t->type, x + sl[r].begin, sl[r].ne0, &qb);
            size_t off = (size_t)(sl[r].begin / ai->block_size) * (size_t)ai->type_size;
            CHECK(xs && off + qb <= xq_bytes && !memcmp(xs, (char *)xq + off, qb),
                  "%s rank %d: activation slice quantizes differently from the whole", what, r);
            if (xs) {
                matvec(t->type, shards[r], sl[r].ne0, sl[r].ne1, xs, part);
                for (int64_t i = 0; i < ne1; i++) ys[i] += part[i];
            }
            free(xs);
        }
        const tn_type_info *ti = tn_type_get(t->type);
        size_t rb = tn_row_size(t->type, ne0);
        float *wrow = malloc(sizeof(float) * (size_t)ne0);
        int bad = 0;
        for (int64_t i = 0; i < ne1 && ti->can_dequantize; i++) {
            tn_dequantize_row(t->type, (const char *)t->data + (size_t)i * rb, wrow, ne0);
            double s = 0;
            for (int64_t j = 0; j < ne0; j++) s += fabs((double)wrow[j] * x[j]);
            double err = fabs((double)ys[i] - y[i]), tol = 4.0 * (double)(ne0 + n_ranks) * FLT_EPSILON * s;
            if (n_ranks == 1) tol = 0; /* one rank: the very same computation */
            if (s > 0 && err / s > max_rel_sum_err) max_rel_sum_err = err / s;
            if (err > tol && bad++ < 3)
                CHECK(0, "%s row %lld: sum of partials %.9g vs whole %.9g (tol %.3g)", what,
                      (long long)i, ys[i], y[i], tol);
        }
        CHECK(ti->can_dequantize, "%s: %s cannot be dequantized for the bound", what, tn_type_name(t->type));
        CHECK(!bad, "%s: %d rows outside the bound", what, bad);
        free(wrow);
    }
out:
    free(xq);
    free(x);
    free(y);
    free(ys);
    free(part);
}

/* Every tensor of g on every rank of p; returns how many tensors could not be sliced (each one
 * must be a predicted refusal). */
static int check_tensors(const tn_gguf *g, const tn_tp_plan *p, const char *file) {
    int n_fail = 0, N = p->n_ranks;
    size_t sum_rank_bytes = 0, whole = 0, replicated = 0;
    for (int64_t k = 0; k < tn_gguf_n_tensors(g); k++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, k);
        char what[256];
        snprintf(what, sizeof what, "%s -tp %d %s", file, N, t->name);
        tn_tp_slice sl[TN_TP_MAX_RANKS];
        int rc = 0;
        for (int r = 0; r < N && !rc; r++)
            rc = tn_tp_tensor_slice(p, r, t->name, t->type, t->n_dims, t->ne, &sl[r]);
        /* The only expected refusal: a column split off the block grid. */
        int64_t bs = tn_type_get(t->type)->block_size, hd = p->hp.head_dim;
        bool predicted_bad = strstr(t->name, "attn_output") && ((p->hp.n_head / N) * hd) % bs;
        CHECK((rc != 0) == predicted_bad, "%s: slice rc %d, predicted %s (%s)", what, rc,
              predicted_bad ? "refusal" : "success", rc ? tn_last_error() : "");
        if (rc) {
            CHECK(strstr(tn_last_error(), t->name) && strstr(tn_last_error(), "block"),
                  "%s: error names the tensor and the block: %s", what, tn_last_error());
            n_fail++;
            continue;
        }
        whole += t->nbytes;
        if (sl[0].kind == TN_TP_REPLICATED) replicated += t->nbytes;
        /* Coverage: count how often each byte is taken, and put the shards back together. */
        unsigned char *count = calloc(t->nbytes, 1), *back = calloc(t->nbytes, 1);
        void *shards[TN_TP_MAX_RANKS], *raw[TN_TP_MAX_RANKS];
        for (int r = 0; r < N; r++) {
            sum_rank_bytes += sl[r].nbytes;
            /* The CPU float kernels peel to a 64-byte weight address, so their summation order
             * depends on the row's address mod 64: give each shard the source's, to compare bits. */
            raw[r] = malloc(sl[r].nbytes + 64);
            uintptr_t want = ((uintptr_t)t->data + sl[r].offset) % 64;
            shards[r] = (char *)raw[r] + (want + 64 - (uintptr_t)raw[r] % 64) % 64;
            tn_tp_slice_copy(&sl[r], t->data, shards[r]);
            CHECK(sl[r].nbytes == tn_row_size(t->type, sl[r].ne0) * (size_t)sl[r].ne1,
                  "%s rank %d: %zu bytes for a %lld x %lld shard", what, r, sl[r].nbytes,
                  (long long)sl[r].ne0, (long long)sl[r].ne1);
            for (int64_t i = 0; i < sl[r].n_pieces; i++) {
                size_t at = sl[r].offset + (size_t)i * sl[r].stride;
                if (at + sl[r].piece_bytes > t->nbytes) break;
                memcpy(back + at, (char *)shards[r] + (size_t)i * sl[r].piece_bytes, sl[r].piece_bytes);
                for (size_t b = 0; b < sl[r].piece_bytes; b++) count[at + b]++;
            }
        }
        int want = sl[0].kind == TN_TP_REPLICATED ? N : 1, cover_ok = 1;
        for (size_t b = 0; b < t->nbytes; b++) cover_ok &= count[b] == want;
        CHECK(cover_ok, "%s: shards do not cover every byte %d time(s)", what, want);
        CHECK(!memcmp(back, t->data, t->nbytes), "%s: shards put back together differ", what);
        if (sl[0].kind != TN_TP_REPLICATED && t->ne[1] > 1) check_matvec(t, sl, shards, N, what);
        for (int r = 0; r < N; r++) free(raw[r]);
        free(count);
        free(back);
    }
    if (!n_fail) {
        size_t by_rank = 0;
        for (int r = 0; r < N; r++) by_rank += tn_tp_rank_weight_bytes(p, g, r);
        CHECK(by_rank == sum_rank_bytes && by_rank == whole + (size_t)(N - 1) * replicated,
              "%s -tp %d: rank weight bytes %zu, expected %zu", file, N, by_rank,
              whole + (size_t)(N - 1) * replicated);
    }
    return n_fail;
}

static void check_model(const char *file) {
    tn_gguf *g = tn_gguf_open(file);
    CHECK(g != NULL, "open %s: %s", file, tn_last_error());
    if (!g) return;
    tn_tp_hparams hp;
    CHECK(tn_tp_hparams_from_gguf(g, &hp) == 0, "%s: %s", file, tn_last_error());
    /* The FFN cut granularity, recomputed here: the largest ffn_down block size (1, 32, 256 all
     * divide 256, so the largest is the LCM). */
    int64_t ff_align = 1;
    for (int64_t k = 0; k < tn_gguf_n_tensors(g); k++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, k);
        if (strstr(t->name, "ffn_down") && tn_type_get(t->type)->block_size > ff_align)
            ff_align = tn_type_get(t->type)->block_size;
    }
    CHECK(tn_tp_ff_align_from_gguf(g) == ff_align, "%s: ff_align %lld vs %lld", file,
          (long long)tn_tp_ff_align_from_gguf(g), (long long)ff_align);
    for (int N = 1; N <= 4; N++) {
        tn_tp_plan p;
        int rc_init = tn_tp_plan_init(&p, &hp, N, ff_align);
        bool kv_ok = hp.n_head_kv % N == 0, ff_ok = hp.n_ff / ff_align >= N;
        CHECK((rc_init == 0) == (kv_ok && ff_ok), "%s -tp %d: init rc %d (%s)", file, N, rc_init,
              rc_init ? tn_last_error() : "");
        if (rc_init) {
            CHECK(strstr(tn_last_error(), kv_ok ? "feed-forward" : "KV heads"),
                  "%s -tp %d: error should name the cause: %s", file, N, tn_last_error());
            tn_tp_plan q;
            CHECK(tn_tp_plan_from_gguf(&q, g, N) != 0, "%s -tp %d: plan_from_gguf accepted", file, N);
            printf("  %-44s -tp %d refused: %s\n", file, N, tn_last_error());
            continue;
        }
        int n_fail = check_tensors(g, &p, file);
        tn_tp_plan q;
        int rc_full = tn_tp_plan_from_gguf(&q, g, N);
        CHECK((rc_full == 0) == (n_fail == 0), "%s -tp %d: plan_from_gguf rc %d with %d unsliceable",
              file, N, rc_full, n_fail);
        if (rc_full) printf("  %-44s -tp %d refused: %s\n", file, N, tn_last_error());
        else printf("  %-44s -tp %d ok\n", file, N);
    }
    tn_gguf_close(g);
}

/* The plan's numbers for real shapes, and KV bytes per rank adding up to the whole. */
static void check_shapes(void) {
    tn_tp_hparams l8b = {.n_embd = 4096, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
                         .n_ff = 14336, .n_vocab = 128256, .n_layer = 32};
    tn_tp_plan p;
    CHECK(tn_tp_plan_init(&p, &l8b, 2, 256) == 0, "8B -tp 2: %s", tn_last_error());
    CHECK(p.rank[1].q_heads.begin == 16 && p.rank[1].q_heads.end == 32 &&
              p.rank[1].kv_heads.begin == 4 && p.rank[1].kv_heads.end == 8,
          "8B -tp 2 heads");
    CHECK(p.rank[0].ff.end == 7168 && p.rank[1].ff.begin == 7168 && p.rank[1].ff.end == 14336, "8B ff");
    CHECK(p.rank[0].vocab.end == 64128 && p.rank[1].vocab.end == 128256, "8B vocab");
    CHECK(tn_tp_plan_init(&p, &l8b, 8, 256) == 0, "8B -tp 8: %s", tn_last_error());
    /* 14336 / 256 = 56 blocks, 7 per rank. */
    CHECK(p.rank[3].ff.begin == 3 * 1792 && p.rank[3].ff.end == 4 * 1792 && p.rank[7].q_heads.begin == 28,
          "8B -tp 8 ranges");
    CHECK(tn_tp_plan_init(&p, &l8b, 3, 256) != 0 && strstr(tn_last_error(), "8 KV heads") &&
              strstr(tn_last_error(), "3 GPUs"),
          "8B -tp 3 error: %s", tn_last_error());
    /* Uneven FFN split: 3 blocks of 256 over 2 ranks. */
    tn_tp_hparams odd = l8b;
    odd.n_ff = 768;
    CHECK(tn_tp_plan_init(&p, &odd, 2, 256) == 0 && p.rank[0].ff.end == 256 && p.rank[1].ff.end == 768,
          "uneven ff split");
    CHECK(tn_tp_plan_init(&p, &odd, 4, 256) != 0 && strstr(tn_last_error(), "3 blocks of 256"),
          "too few ff blocks: %s", tn_last_error());
    tn_tp_split k;
    CHECK(tn_tp_split_of("blk.3.ffn_gate_exps.weight", &k) != 0 &&
              strstr(tn_last_error(), "ffn_gate_exps"),
          "unknown tensor refused");
    CHECK(tn_tp_split_of("blk.3.ffn_down.weight", &k) == 0 && k == TN_TP_SPLIT_COLS, "down is row-parallel");
    CHECK(tn_tp_split_of("output.weight", &k) == 0 && k == TN_TP_SPLIT_ROWS, "output split by vocab");
    /* 70B shape at -tp 2: KV per token per rank, f16 = 80 layers * 2 (K, V) * 4 heads * 128 * 2 B. */
    tn_tp_hparams l70b = {.n_embd = 8192, .n_head = 64, .n_head_kv = 8, .head_dim = 128,
                          .n_ff = 28672, .n_vocab = 128256, .n_layer = 80};
    CHECK(tn_tp_plan_init(&p, &l70b, 2, 256) == 0, "70B -tp 2: %s", tn_last_error());
    CHECK(tn_tp_kv_bytes_per_token(&p, 0, TN_TYPE_F16, TN_TYPE_F16) == 80u * 2 * 4 * 128 * 2,
          "70B f16 KV per token per rank %zu", tn_tp_kv_bytes_per_token(&p, 0, TN_TYPE_F16, TN_TYPE_F16));
    /* q8_0: 34 bytes per 32 elements. */
    CHECK(tn_tp_kv_bytes_per_token(&p, 1, TN_TYPE_Q8_0, TN_TYPE_Q8_0) == 80u * 2 * 4 * 128 / 32 * 34,
          "70B q8_0 KV per token per rank");
    const int kv_types[] = {TN_TYPE_F32, TN_TYPE_F16, TN_TYPE_BF16, TN_TYPE_Q8_0, TN_TYPE_Q4_0,
                            TN_KV_TURBO2, TN_KV_TURBO3, TN_KV_TURBO4};
    tn_tp_hparams tiny = {.n_embd = 256, .n_head = 8, .n_head_kv = 4, .head_dim = 32, .n_ff = 512,
                          .n_vocab = 1024, .n_layer = 6};
    for (int N = 1; N <= 4; N *= 2)
        for (size_t a = 0; a < sizeof kv_types / sizeof kv_types[0]; a++)
            for (size_t b = 0; b < sizeof kv_types / sizeof kv_types[0]; b++) {
                CHECK(tn_tp_plan_init(&p, &tiny, N, 32) == 0, "tiny -tp %d", N);
                size_t sum = 0;
                for (int r = 0; r < N; r++) sum += tn_tp_kv_bytes_per_token(&p, r, kv_types[a], kv_types[b]);
                size_t whole = 6 * (tn_kv_row_size(kv_types[a], 128, 32) + tn_kv_row_size(kv_types[b], 128, 32));
                CHECK(whole > 0 && sum == whole, "KV %s/%s -tp %d: ranks %zu vs whole %zu",
                      tn_kv_type_name(kv_types[a]), tn_kv_type_name(kv_types[b]), N, sum, whole);
            }
}

int main(void) {
    static const char *files[] = {
        "models/tiny-llama/tiny-llama-Q4_0.gguf",   "models/tiny-llama/tiny-llama-Q4_1.gguf",
        "models/tiny-llama/tiny-llama-Q5_0.gguf",   "models/tiny-llama/tiny-llama-Q5_1.gguf",
        "models/tiny-llama/tiny-llama-Q8_0.gguf",   "models/tiny-llama/tiny-llama-IQ4_NL.gguf",
        "models/tiny-llama/tiny-llama-IQ4_XS.gguf", "models/tiny-llama/tiny-llama-Q2_K.gguf",
        "models/tiny-llama/tiny-llama-Q3_K_M.gguf", "models/tiny-llama/tiny-llama-Q4_K_M.gguf",
        "models/tiny-llama/tiny-llama-Q5_K_M.gguf", "models/tiny-llama/tiny-llama-Q6_K.gguf",
        "models/tiny-llama/tiny-llama-bf16.gguf",   "models/tiny-qwen3/tiny-qwen3-bf16.gguf",
    };
    check_shapes();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) check_model(files[i]);
    printf("largest |sum of partials - whole| / sum|w x|: %.3g (bound 4 (n + N) eps = %.3g at n = 512)\n",
           max_rel_sum_err, 4.0 * (512 + 4) * FLT_EPSILON);
    return tn_test_done("test_tp_plan");
}
