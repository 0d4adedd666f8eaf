/* Writes a synthetic model (see synth.h) as a GGUF file, fast enough for 8B-70B shapes.
 *
 * The GGUF writer wants every tensor's bytes in memory, which a 70B model does not fit. So the
 * file is laid out first with all tensors pointing at one read-only anonymous mapping (the kernel's
 * zero page: no memory used), then mapped back read-write and parsed with tn_gguf_open_memory(),
 * whose tensor pointers then point into our writable mapping; the random rows are generated and
 * quantized straight into the file by a thread pool.
 *
 * Gaussian values come from a 65536-entry inverse-CDF table indexed by 16-bit pieces of a
 * counter-based generator (splitmix64 of seed, tensor and row), so each row's values depend only on
 * the seed and where the row is, not on thread scheduling. A table is 4 lookups per 64-bit draw:
 * value generation costs far less than quantization. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "cpu/threadpool.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "synth/synth.h"

#define GAUSS_BITS 16
#define GAUSS_N (1 << GAUSS_BITS)

typedef struct synth_tensor {
    char name[64];
    int type;
    int n_dims;
    int64_t ne[2];
    size_t nbytes;
    bool ones; /* norm weights: all 1.0 */
} synth_tensor;

typedef struct synth_plan {
    synth_tensor *t;
    int n, cap;
} synth_plan;

tn_synth_params tn_synth_default_params(void) {
    tn_synth_params p = {.seed = 42, .std = 0.02f};
    return p;
}

static int plan_add(synth_plan *pl, const tn_synth_params *p, const char *name, int layer,
                    int64_t n_in, int64_t n_out) {
    if (pl->n == pl->cap) {
        int cap = pl->cap ? pl->cap * 2 : 256;
        synth_tensor *t = realloc(pl->t, (size_t)cap * sizeof *t);
        if (!t) return tn_set_error("out of memory");
        pl->t = t;
        pl->cap = cap;
    }
    synth_tensor *t = &pl->t[pl->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ne[0] = n_in;
    t->ne[1] = n_out;
    if (n_out == 1) { /* norms stay f32, as every converter writes them */
        t->n_dims = 1;
        t->type = TN_TYPE_F32;
        t->ones = true;
    } else {
        int n_layer = p->n_layer_override > 0 ? p->n_layer_override : (int)p->shape->n_layer;
        t->n_dims = 2;
        t->type = tn_synth_tensor_type(&p->wtype, name, layer, n_layer, n_in, p->shape->tied, p->pure);
    }
    t->nbytes = tn_row_size(t->type, n_in) * (size_t)n_out;
    if (!t->nbytes) return tn_set_error("synthetic %s: %s cannot hold rows of %lld", name,
                                        tn_type_name(t->type), (long long)n_in);
    return 0;
}

static int build_plan(const tn_synth_params *p, synth_plan *pl) {
    const tn_synth_shape *s = p->shape;
    int n_layer = p->n_layer_override > 0 ? p->n_layer_override : (int)s->n_layer;
    int64_t d = s->n_embd, q = (int64_t)s->n_head * s->head_dim, kv = (int64_t)s->n_head_kv * s->head_dim;
    if (plan_add(pl, p, "token_embd.weight", -1, d, s->n_vocab)) return -1;
    for (int l = 0; l < n_layer; l++) {
        const struct { const char *what; int64_t n_in, n_out; } lt[] = {
            {"attn_norm.weight", d, 1}, {"attn_q.weight", d, q}, {"attn_k.weight", d, kv},
            {"attn_v.weight", d, kv}, {"attn_output.weight", q, d},
            {"attn_q_norm.weight", s->head_dim, 1}, {"attn_k_norm.weight", s->head_dim, 1},
            {"ffn_norm.weight", d, 1}, {"ffn_gate.weight", d, s->n_ff},
            {"ffn_up.weight", d, s->n_ff}, {"ffn_down.weight", s->n_ff, d},
        };
        for (size_t i = 0; i < sizeof lt / sizeof lt[0]; i++) {
            if (!s->qk_norm && strstr(lt[i].what, "_norm") && strncmp(lt[i].what, "attn_", 5) == 0 &&
                strcmp(lt[i].what, "attn_norm.weight") != 0)
                continue;
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, lt[i].what);
            if (plan_add(pl, p, name, l, lt[i].n_in, lt[i].n_out)) return -1;
        }
    }
    if (plan_add(pl, p, "output_norm.weight", -1, d, 1)) return -1;
    if (!s->tied && plan_add(pl, p, "output.weight", -1, d, s->n_vocab)) return -1;
    return 0;
}

uint64_t tn_synth_data_bytes(const tn_synth_params *p) {
    synth_plan pl = {0};
    uint64_t total = 0;
    if (build_plan(p, &pl) == 0)
        for (int i = 0; i < pl.n; i++)
            total += (pl.t[i].nbytes + TN_GGUF_DEFAULT_ALIGNMENT - 1) / TN_GGUF_DEFAULT_ALIGNMENT *
                     TN_GGUF_DEFAULT_ALIGNMENT;
    free(pl.t);
    return total;
}

/* Minimal SentencePiece vocabulary: what tern's and llama.cpp's "llama" tokenizers require. */
static int write_vocab(tn_gguf_writer *w, uint32_t n_vocab) {
    if (n_vocab < 3 + 256) return tn_set_error("synthetic vocabulary needs >= 259 tokens");
    char **strs = calloc(n_vocab, sizeof *strs);
    uint64_t *lens = calloc(n_vocab, sizeof *lens);
    float *scores = calloc(n_vocab, sizeof *scores);
    int32_t *types = calloc(n_vocab, sizeof *types);
    char *blob = malloc((size_t)n_vocab * 16);
    int rc = -1;
    if (!strs || !lens || !scores || !types || !blob) {
        tn_set_error("out of memory for the vocabulary");
        goto done;
    }
    for (uint32_t i = 0; i < n_vocab; i++) {
        char *s = blob + (size_t)i * 16;
        if (i < 3) {
            snprintf(s, 16, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
            types[i] = i == 0 ? 2 : 3; /* UNKNOWN, CONTROL */
        } else if (i < 3 + 256) {
            snprintf(s, 16, "<0x%02X>", i - 3);
            types[i] = 6; /* BYTE */
        } else {
            snprintf(s, 16, "w%u", i); /* NORMAL filler pieces, unique */
            types[i] = 1;
            scores[i] = -(float)(i - 258);
        }
        strs[i] = s;
        lens[i] = strlen(s);
    }
    if (tn_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama") ||
        tn_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default") ||
        tn_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs, lens,
                                   n_vocab) ||
        tn_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TN_GGUF_F32, scores, n_vocab) ||
        tn_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TN_GGUF_I32, types, n_vocab) ||
        tn_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1) ||
        tn_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2) ||
        tn_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0) ||
        tn_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true) ||
        tn_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false))
        goto done;
    rc = 0;
done:
    free(strs);
    free(lens);
    free(scores);
    free(types);
    free(blob);
    return rc;
}

static int write_metadata(tn_gguf_writer *w, const tn_synth_params *p) {
    const tn_synth_shape *s = p->shape;
    char key[96], name[96];
    const char *a = s->arch;
    uint32_t n_layer = p->n_layer_override > 0 ? (uint32_t)p->n_layer_override : s->n_layer;
    snprintf(name, sizeof name, "synthetic %s %s", s->name, p->wtype.name);
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)
    if (tn_gguf_writer_set_str(w, "general.architecture", a) ||
        tn_gguf_writer_set_str(w, "general.type", "model") ||
        tn_gguf_writer_set_str(w, "general.name", name) ||
        tn_gguf_writer_set_str(w, "general.size_label", s->size_label) ||
        tn_gguf_writer_set_u32(w, KEY("block_count"), n_layer) ||
        tn_gguf_writer_set_u32(w, KEY("context_length"), s->n_ctx_train) ||
        tn_gguf_writer_set_u32(w, KEY("embedding_length"), s->n_embd) ||
        tn_gguf_writer_set_u32(w, KEY("feed_forward_length"), s->n_ff) ||
        tn_gguf_writer_set_u32(w, KEY("attention.head_count"), s->n_head) ||
        tn_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), s->n_head_kv) ||
        tn_gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_freq_base) ||
        tn_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), s->norm_eps) ||
        tn_gguf_writer_set_u32(w, KEY("attention.key_length"), s->head_dim) ||
        tn_gguf_writer_set_u32(w, KEY("attention.value_length"), s->head_dim) ||
        tn_gguf_writer_set_u32(w, KEY("rope.dimension_count"), s->head_dim) ||
        tn_gguf_writer_set_u32(w, KEY("vocab_size"), s->n_vocab) ||
        tn_gguf_writer_set_u32(w, "general.file_type", p->wtype.ftype) ||
        tn_gguf_writer_set_u32(w, "general.quantization_version", 2) ||
        tn_gguf_writer_set_u64(w, "tern.synthetic.seed", p->seed) ||
        tn_gguf_writer_set_f32(w, "tern.synthetic.std", p->std))
        return -1;
#undef KEY
    return write_vocab(w, s->n_vocab);
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Standard normal quantiles at (i + 0.5) / GAUSS_N: Abramowitz & Stegun 26.2.23 as the start
 * (|error| < 4.5e-4), then two Newton steps on Phi(x) = erfc(-x / sqrt 2) / 2. */
static void build_gauss_table(float *tab) {
    for (int i = 0; i < GAUSS_N; i++) {
        double pr = (i + 0.5) / GAUSS_N, pm = pr < 0.5 ? pr : 1 - pr;
        double t = sqrt(-2 * log(pm));
        double x = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                           (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
        if (pr < 0.5) x = -x;
        for (int it = 0; it < 2; it++) {
            double cdf = 0.5 * erfc(-x / sqrt(2.0));
            double pdf = exp(-0.5 * x * x) / sqrt(2 * M_PI);
            x -= (cdf - pr) / pdf;
        }
        tab[i] = (float)x;
    }
}

typedef struct gen_job {
    const tn_synth_params *p;
    const float *gauss; /* scaled by std */
    const synth_tensor *t;
    uint8_t *dst;
    uint64_t tensor_index;
    float *scratch; /* [n_threads][max_n_in] */
    int64_t max_n_in;
    int failed;
} gen_job;

static void gen_rows(void *arg, int64_t r0, int64_t r1, int thread) {
    gen_job *j = arg;
    const synth_tensor *t = j->t;
    int64_t n = t->ne[0];
    float *x = j->scratch + (size_t)thread * (size_t)j->max_n_in;
    size_t row_bytes = tn_row_size(t->type, n);
    for (int64_t r = r0; r < r1; r++) {
        uint64_t st = j->p->seed ^ (j->tensor_index << 40) ^ (uint64_t)r * 0x2545f4914f6cdd1dull;
        splitmix64(&st);
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            uint64_t v = splitmix64(&st);
            x[i] = j->gauss[v & 0xffff];
            x[i + 1] = j->gauss[(v >> 16) & 0xffff];
            x[i + 2] = j->gauss[(v >> 32) & 0xffff];
            x[i + 3] = j->gauss[v >> 48];
        }
        for (; i < n; i++) x[i] = j->gauss[splitmix64(&st) & 0xffff];
        if (tn_quantize_row(t->type, x, j->dst + (size_t)r * row_bytes, n)) j->failed = 1;
    }
}

static int fill_tensors(const tn_synth_params *p, const synth_plan *pl, tn_gguf *g) {
    int rc = -1;
    int64_t max_n_in = 0;
    uint64_t total = 0, done = 0;
    for (int i = 0; i < pl->n; i++) {
        if (pl->t[i].ne[0] > max_n_in) max_n_in = pl->t[i].ne[0];
        total += pl->t[i].nbytes;
    }
    tn_pool *pool = tn_pool_new(p->n_threads);
    float *gauss = malloc(GAUSS_N * sizeof(float));
    float *scratch = pool ? malloc((size_t)tn_pool_n_threads(pool) * (size_t)max_n_in * sizeof(float)) : NULL;
    if (!pool || !gauss || !scratch) {
        tn_set_error("synthetic model: out of memory or threads");
        goto done;
    }
    build_gauss_table(gauss);
    float std = p->std > 0 ? p->std : 0.02f;
    for (int i = 0; i < GAUSS_N; i++) gauss[i] *= std;
    for (int i = 0; i < pl->n; i++) {
        const synth_tensor *t = &pl->t[i];
        const tn_gguf_tensor *gt = tn_gguf_tensor_at(g, i);
        if (!gt || strcmp(gt->name, t->name) != 0 || gt->type != t->type || gt->nbytes != t->nbytes) {
            tn_set_error("synthetic model: the written layout of '%s' does not match the plan", t->name);
            goto done;
        }
        uint8_t *dst = (uint8_t *)(uintptr_t)gt->data; /* into our read-write MAP_SHARED view */
        if (t->ones) {
            for (int64_t k = 0; k < t->ne[0]; k++) {
                float one = 1.0f;
                memcpy(dst + k * 4, &one, 4);
            }
        } else {
            gen_job j = {.p = p, .gauss = gauss, .t = t, .dst = dst, .tensor_index = (uint64_t)i,
                         .scratch = scratch, .max_n_in = max_n_in};
            int64_t grain = 262144 / t->ne[0] > 0 ? 262144 / t->ne[0] : 1;
            tn_pool_parallel_for(pool, t->ne[1], grain, gen_rows, &j);
            if (j.failed) {
                tn_set_error("synthetic model: cannot quantize '%s' to %s: %s", t->name,
                             tn_type_name(t->type), tn_last_error());
                goto done;
            }
        }
        done += t->nbytes;
        if (p->progress) p->progress(p->progress_user, "weights", (double)done / (double)total);
    }
    rc = 0;
done:
    free(scratch);
    free(gauss);
    tn_pool_free(pool);
    return rc;
}

typedef struct layout_progress {
    const tn_synth_params *p;
} layout_progress;

static void on_layout(void *user, uint64_t done, uint64_t total) {
    const tn_synth_params *p = ((layout_progress *)user)->p;
    if (p->progress && total) p->progress(p->progress_user, "layout", (double)done / (double)total);
}

int tn_synth_write(const tn_synth_params *p, const char *path) {
    if (!p || !p->shape || !path) return tn_set_error("tn_synth_write: missing shape or path");
    synth_plan pl = {0};
    tn_gguf_writer *w = NULL;
    void *zeros = MAP_FAILED, *map = MAP_FAILED;
    size_t max_bytes = 0, map_size = 0;
    tn_gguf *g = NULL;
    int fd = -1, rc = -1;
    if (build_plan(p, &pl)) goto done;
    for (int i = 0; i < pl.n; i++)
        if (pl.t[i].nbytes > max_bytes) max_bytes = pl.t[i].nbytes;
    /* Every tensor borrows the same untouched read-only pages: reads give zeros, cost nothing. */
    zeros = mmap(NULL, max_bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (zeros == MAP_FAILED) {
        tn_set_error("synthetic model: cannot reserve %zu bytes of address space", max_bytes);
        goto done;
    }
    if (!(w = tn_gguf_writer_new()) || write_metadata(w, p)) goto done;
    for (int i = 0; i < pl.n; i++)
        if (tn_gguf_writer_add_tensor(w, pl.t[i].name, pl.t[i].type, pl.t[i].n_dims, pl.t[i].ne,
                                      zeros, pl.t[i].nbytes))
            goto done;
    layout_progress lp = {p};
    if (tn_gguf_writer_write(w, path, on_layout, &lp)) goto done;
    struct stat st;
    if ((fd = open(path, O_RDWR)) < 0 || fstat(fd, &st) != 0) {
        tn_set_error("synthetic model: cannot reopen '%s'", path);
        goto done;
    }
    map_size = (size_t)st.st_size;
    map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        tn_set_error("synthetic model: cannot map '%s' for writing", path);
        goto done;
    }
    if (!(g = tn_gguf_open_memory(map, map_size, path))) goto done;
    if (tn_gguf_n_tensors(g) != pl.n) {
        tn_set_error("synthetic model: '%s' has %lld tensors, expected %d", path,
                     (long long)tn_gguf_n_tensors(g), pl.n);
        goto done;
    }
    rc = fill_tensors(p, &pl, g);
done:
    tn_gguf_close(g);
    if (map != MAP_FAILED) munmap(map, map_size);
    if (fd >= 0) close(fd);
    if (zeros != MAP_FAILED) munmap(zeros, max_bytes);
    tn_gguf_writer_free(w);
    free(pl.t);
    if (rc) unlink(path);
    return rc;
}
