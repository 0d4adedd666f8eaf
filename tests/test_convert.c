/* tern convert against llama.cpp's converter: the small checkpoints in tests/data/convert (cut
 * out of the tiny Llama / Qwen3 / Qwen3.5 models by tests/scripts/make_convert_fixtures.py) must
 * convert to exactly the bytes of llama.cpp's GGUF cut the same way (every metadata key, tensor
 * name, shape, type and value); the converted Llama / Qwen3 models must reproduce float64 logits
 * of the same checkpoints; the other output types must hold the same values rounded as stated;
 * a sharded checkpoint converts like the single file; bad inputs fail with a message that names
 * the problem and leave no file behind. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "convert/convert.h"
#include "convert/safetensors.h"
#include "core/error.h"
#include "core/half.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "tern.h"
#include "testutil.h"

#define DATA "tests/data/convert"
static char tmp[64];

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static int copy_file(const char *from, const char *to, size_t max) {
    size_t n;
    char *buf = tn_test_read_file(from, &n);
    if (!buf) return -1;
    int rc = write_file(to, buf, n < max ? n : max);
    free(buf);
    return rc;
}

/* A fresh checkpoint folder tmp/NAME/hf holding the llama fixture's files. */
static const char *make_dir(const char *name, bool with_weights) {
    static char dir[512];
    char path[600];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/%s/hf", tmp, name);
    mkdir(dir, 0755);
    static const char *const files[] = {"config.json", "tokenizer.model", "tokenizer_config.json",
                                        "model.safetensors"};
    for (int i = 0; i < (with_weights ? 4 : 3); i++) {
        char from[256];
        snprintf(from, sizeof from, DATA "/tiny-llama/hf/%s", files[i]);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        CHECK(copy_file(from, path, SIZE_MAX) == 0, "copy %s", from);
    }
    return dir;
}

static int convert(const char *dir, const char *out, int outtype, bool force, const char *name) {
    tn_convert_params p = {.hf_dir = dir, .out_path = out, .outtype = outtype, .overwrite = force,
                           .name = name};
    return tn_convert(&p);
}

/* Every kv (key, type, serialized value, in order) and tensor (name, type, shape, bytes). */
static void compare_gguf(const char *got_path, const char *want_path) {
    tn_gguf *g = tn_gguf_open(got_path), *w = tn_gguf_open(want_path);
    CHECK(g && w, "open %s / %s: %s", got_path, want_path, tn_last_error());
    if (!g || !w) goto out;
    CHECK(tn_gguf_n_kv(g) == tn_gguf_n_kv(w), "%s: %lld kvs, llama.cpp %lld", got_path,
          (long long)tn_gguf_n_kv(g), (long long)tn_gguf_n_kv(w));
    int bad_kv = 0;
    for (int64_t i = 0; i < tn_gguf_n_kv(g) && i < tn_gguf_n_kv(w); i++) {
        size_t sg, sw;
        const void *rg = tn_gguf_kv_raw(g, i, &sg), *rw = tn_gguf_kv_raw(w, i, &sw);
        bool same = !strcmp(tn_gguf_kv_key(g, i), tn_gguf_kv_key(w, i)) &&
                    tn_gguf_kv_type(g, i) == tn_gguf_kv_type(w, i) && sg == sw &&
                    !memcmp(rg, rw, sg);
        if (!same && bad_kv++ < 3)
            CHECK(0, "%s: kv %lld is '%s', llama.cpp has '%s' (or the values differ)", got_path,
                  (long long)i, tn_gguf_kv_key(g, i), tn_gguf_kv_key(w, i));
    }
    CHECK(bad_kv == 0, "%s: %d kvs differ", got_path, bad_kv);
    CHECK(tn_gguf_n_tensors(g) == tn_gguf_n_tensors(w), "%s: %lld tensors, llama.cpp %lld",
          got_path, (long long)tn_gguf_n_tensors(g), (long long)tn_gguf_n_tensors(w));
    int bad_t = 0;
    for (int64_t i = 0; i < tn_gguf_n_tensors(g) && i < tn_gguf_n_tensors(w); i++) {
        const tn_gguf_tensor *a = tn_gguf_tensor_at(g, i), *b = tn_gguf_tensor_at(w, i);
        bool same = !strcmp(a->name, b->name) && a->type == b->type && a->n_dims == b->n_dims &&
                    !memcmp(a->ne, b->ne, sizeof a->ne) && a->nbytes == b->nbytes &&
                    !memcmp(a->data, b->data, a->nbytes);
        if (!same && bad_t++ < 3)
            CHECK(0, "%s: tensor %lld '%s' (%s) differs from llama.cpp's '%s' (%s)", got_path,
                  (long long)i, a->name, tn_type_name(a->type), b->name, tn_type_name(b->type));
    }
    CHECK(bad_t == 0, "%s: %d tensors differ", got_path, bad_t);
    /* and the layout: the whole file */
    size_t ng = 0, nw = 0;
    char *bg = tn_test_read_file(got_path, &ng), *bw = tn_test_read_file(want_path, &nw);
    CHECK(bg && bw && ng == nw && !memcmp(bg, bw, ng), "%s is not byte-identical to %s", got_path,
          want_path);
    free(bg);
    free(bw);
out:
    tn_gguf_close(g);
    tn_gguf_close(w);
}

static void check_logits(const char *gguf, const char *m) {
    char path[256];
    snprintf(path, sizeof path, DATA "/%s-logits-tokens.json", m);
    char *json = tn_test_read_file(path, NULL);
    size_t len = json ? strlen(json) + 16 : 0;
    char *wrapped = json ? malloc(len) : NULL;
    if (wrapped) snprintf(wrapped, len, "{\"t\": %s}", json);
    int n = 0;
    int32_t *toks = wrapped ? tt_json_int_array(wrapped, "t", &n) : NULL;
    snprintf(path, sizeof path, DATA "/%s-logits-f64.bin", m);
    float *ref = n > 0 ? tt_read_f32(path, (size_t)n * 1024) : NULL;
    tn_model *model = tn_model_load(gguf, NULL);
    CHECK(toks && ref && model, "%s: reference or model missing: %s", m, tn_last_error());
    if (toks && ref && model) {
        tn_ctx_params cp = tn_ctx_default_params();
        cp.n_ctx = 64;
        cp.n_batch = 64;
        cp.n_threads = 2;
        cp.type_k = cp.type_v = TN_TYPE_F32; /* leave only float32 rounding */
        tn_ctx *c = tn_ctx_new(model, &cp);
        int8_t want[64];
        memset(want, 1, sizeof want);
        tn_batch b = {.n_tokens = n, .token = toks, .logits = want};
        CHECK(c && tn_decode(c, &b) == 0, "%s: decode: %s", m, tn_last_error());
        double err = INFINITY;
        if (c && tn_n_outputs(c) == n) {
            err = 0;
            for (int i = 0; i < n; i++) {
                const float *l = tn_get_logits(c, i);
                for (int v = 0; v < 1024; v++)
                    err = fmax(err, fabs(l[v] - ref[(size_t)i * 1024 + v]));
            }
        }
        printf("%s converted: logits max abs err vs float64 = %.3g over %d tokens (bound 1e-4)\n",
               m, err, n);
        CHECK(err < 1e-4, "%s: converted model's logits off by %.4g", m, err);
        tn_ctx_free(c);
    }
    tn_model_free(model);
    free(ref);
    free(toks);
    free(wrapped);
    free(json);
}

static void test_fixtures(void) {
    static const char *const models[] = {"tiny-llama", "tiny-qwen3", "tiny-qwen35"};
    for (int i = 0; i < 3; i++) {
        char dir[256], out[600], want[256];
        snprintf(dir, sizeof dir, DATA "/%s/hf", models[i]);
        snprintf(out, sizeof out, "%s/%s.gguf", tmp, models[i]);
        snprintf(want, sizeof want, DATA "/%s-expected.gguf", models[i]);
        int rc = convert(dir, out, TN_CONVERT_AUTO, false, NULL);
        CHECK(rc == 0, "convert %s: %s", dir, tn_last_error());
        if (rc) continue;
        compare_gguf(out, want);
        char t[620];
        snprintf(t, sizeof t, "%s.tmp", out);
        CHECK(!exists(t), "%s left behind", t);
        if (i < 2) check_logits(out, models[i]);
    }
}

/* f32 / f16 / q8_0 hold llama.cpp's bf16 values, converted as stated; 1-D stays f32. */
static void test_outtypes(void) {
    static const struct {
        const char *name;
        int type, file_type;
    } types[] = {{"f32", TN_TYPE_F32, 0}, {"f16", TN_TYPE_F16, 1}, {"q8_0", TN_TYPE_Q8_0, 7}};
    tn_gguf *ref = tn_gguf_open(DATA "/tiny-llama-expected.gguf");
    CHECK(ref != NULL, "expected file: %s", tn_last_error());
    for (int k = 0; ref && k < 3; k++) {
        char out[600];
        snprintf(out, sizeof out, "%s/llama-%s.gguf", tmp, types[k].name);
        int rc = convert(DATA "/tiny-llama/hf", out, types[k].type, false, NULL);
        CHECK(rc == 0, "--outtype %s: %s", types[k].name, tn_last_error());
        tn_gguf *g = rc ? NULL : tn_gguf_open(out);
        if (!g) continue;
        uint32_t ft = 99;
        tn_gguf_get_u32(g, "general.file_type", &ft);
        CHECK(ft == (uint32_t)types[k].file_type, "%s: general.file_type %u", types[k].name, ft);
        CHECK(tn_gguf_n_tensors(g) == tn_gguf_n_tensors(ref), "%s: tensor count", types[k].name);
        double worst = 0; /* error relative to the bound of the type, <= 1 passes */
        int wrong_type = 0;
        for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
            const tn_gguf_tensor *a = tn_gguf_tensor_at(g, i), *r = tn_gguf_tensor_at(ref, i);
            int want_type = r->type == TN_TYPE_F32 ? TN_TYPE_F32 : types[k].type;
            wrong_type += a->type != want_type || strcmp(a->name, r->name) != 0;
            if (a->type != want_type) continue;
            int64_t n = a->ne[0] * a->ne[1] * a->ne[2] * a->ne[3];
            float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
            tn_dequantize_row(a->type, a->data, x, n);
            tn_dequantize_row(r->type, r->data, y, n);
            for (int64_t b = 0; b < n; b += 32) { /* q8_0 blocks: |err| <= scale / 2 */
                double amax = 0;
                for (int64_t j = b; j < b + 32 && j < n; j++) amax = fmax(amax, fabs(y[j]));
                for (int64_t j = b; j < b + 32 && j < n; j++) {
                    double e = fabs((double)x[j] - y[j]), bound;
                    if (a->type == TN_TYPE_F32) bound = 0; /* bf16 -> f32 is exact */
                    else if (a->type == TN_TYPE_F16) bound = fmax(fabs(y[j]) * 0x1p-11, 0x1p-25);
                    else /* half a step of the f16-rounded scale, plus that rounding x 127 */
                        bound = amax / 127 * (0.5 + 127 * 0x1p-11) + 1e-7;
                    worst = fmax(worst, bound > 0 ? e / bound : (e > 0 ? INFINITY : 0));
                }
            }
            free(x);
            free(y);
        }
        printf("--outtype %s: worst error / bound = %.3g\n", types[k].name, worst);
        CHECK(wrong_type == 0, "%s: %d tensors with the wrong type", types[k].name, wrong_type);
        CHECK(worst <= 1.0, "%s: values off by %.3g x the bound", types[k].name, worst);
        tn_gguf_close(g);
    }
    tn_gguf_close(ref);
}

/* Writes `st`'s tensors [from, to) as a safetensors file. */
static int write_shard(const tn_st *st, int64_t from, int64_t to, const char *path) {
    size_t cap = 1 << 16, n = 0;
    char *hdr = malloc(cap);
    n += (size_t)snprintf(hdr + n, cap - n, "{");
    size_t off = 0;
    for (int64_t i = from; i < to; i++) {
        const tn_st_tensor *t = tn_st_tensor_at(st, i);
        n += (size_t)snprintf(hdr + n, cap - n, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[",
                              i > from ? "," : "", t->name);
        for (int d = 0; d < t->n_dims; d++)
            n += (size_t)snprintf(hdr + n, cap - n, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        n += (size_t)snprintf(hdr + n, cap - n, "],\"data_offsets\":[%zu,%zu]}", off,
                              off + t->nbytes);
        off += t->nbytes;
    }
    n += (size_t)snprintf(hdr + n, cap - n, "}");
    FILE *f = fopen(path, "wb");
    int rc = f ? 0 : -1;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    if (f) {
        fwrite(len, 1, 8, f);
        fwrite(hdr, 1, n, f);
        for (int64_t i = from; i < to; i++) {
            const tn_st_tensor *t = tn_st_tensor_at(st, i);
            fwrite(t->data, 1, t->nbytes, f);
        }
        rc = fclose(f);
    }
    free(hdr);
    return rc;
}

static void test_sharded(void) {
    const char *dir = make_dir("sharded", false);
    tn_st *st = tn_st_open_file(DATA "/tiny-llama/hf/model.safetensors");
    CHECK(st != NULL, "open fixture: %s", tn_last_error());
    if (!st) return;
    /* the fixture is written in name order: split it in two halves, index maps each name */
    int64_t n = tn_st_n_tensors(st), half = n / 2;
    char path[600], idx[8192];
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    CHECK(write_shard(st, 0, half, path) == 0, "write shard 1");
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    CHECK(write_shard(st, half, n, path) == 0, "write shard 2");
    size_t k = (size_t)snprintf(idx, sizeof idx, "{\"metadata\":{},\"weight_map\":{");
    for (int64_t i = 0; i < n; i++)
        k += (size_t)snprintf(idx + k, sizeof idx - k, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"",
                              i ? "," : "", tn_st_tensor_at(st, i)->name, i < half ? 1 : 2);
    k += (size_t)snprintf(idx + k, sizeof idx - k, "}}");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK(write_file(path, idx, k) == 0, "write index");
    tn_st_close(st);

    char out[600];
    snprintf(out, sizeof out, "%s/sharded.gguf", tmp);
    int rc = convert(dir, out, TN_CONVERT_AUTO, false, "Tiny Llama");
    CHECK(rc == 0, "sharded: %s", tn_last_error());
    if (rc == 0) compare_gguf(out, DATA "/tiny-llama-expected.gguf");

    /* a shard the index names is missing */
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    unlink(path);
    snprintf(out, sizeof out, "%s/sharded-missing.gguf", tmp);
    rc = convert(dir, out, TN_CONVERT_AUTO, false, NULL);
    CHECK(rc != 0 && strstr(tn_last_error(), "model-00002-of-00002.safetensors") &&
              strstr(tn_last_error(), "missing"),
          "missing shard: rc %d, '%s'", rc, tn_last_error());
    CHECK(!exists(out), "missing shard: output written");
}

/* Converting `dir` into tmp/NAME.gguf fails, names `expect` and leaves nothing. */
static void expect_failure(const char *dir, const char *name, const char *expect) {
    char out[600], t[610];
    snprintf(out, sizeof out, "%s/%s.gguf", tmp, name);
    snprintf(t, sizeof t, "%s.tmp", out);
    int rc = convert(dir, out, TN_CONVERT_AUTO, false, NULL);
    printf("%s: %s\n", name, rc ? tn_last_error() : "(converted!)");
    CHECK(rc != 0, "%s: converted", name);
    CHECK(strstr(tn_last_error(), expect) != NULL, "%s: error '%s' does not mention '%s'", name,
          tn_last_error(), expect);
    CHECK(!exists(out) && !exists(t), "%s: a file was left behind", name);
}

/* config.json of the llama fixture with `from` replaced by `to`. */
static void edit_config(const char *dir, const char *from, const char *to) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *s = tn_test_read_file(path, NULL);
    char *at = s ? strstr(s, from) : NULL;
    CHECK(at != NULL, "'%s' not in config.json", from);
    if (!at) {
        free(s);
        return;
    }
    size_t n = strlen(s) + strlen(to) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    write_file(path, o, strlen(o));
    free(o);
    free(s);
}

static void test_bad_input(void) {
    char path[600], from[256];
    snprintf(from, sizeof from, DATA "/tiny-llama/hf/model.safetensors");
    size_t full;
    char *buf = tn_test_read_file(from, &full);
    free(buf);

    /* truncated downloads: inside the data, and inside the header */
    const char *dir = make_dir("truncated", false);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    copy_file(from, path, full * 2 / 3);
    expect_failure(dir, "truncated", "past the end of the file");
    copy_file(from, path, 100);
    expect_failure(dir, "truncated-header", "does not fit");

    dir = make_dir("no-hidden-size", true);
    edit_config(dir, "\"hidden_size\"", "\"hidden_sizes\"");
    expect_failure(dir, "no-hidden-size", "'hidden_size'");
    dir = make_dir("no-layers", true);
    edit_config(dir, "\"num_hidden_layers\"", "\"n_layers\"");
    expect_failure(dir, "no-layers", "'num_hidden_layers'");
    dir = make_dir("no-eps", true);
    edit_config(dir, "\"rms_norm_eps\"", "\"eps\"");
    expect_failure(dir, "no-eps", "'rms_norm_eps'");
    dir = make_dir("bad-json", true);
    edit_config(dir, "\"hidden_size\": 32,", "\"hidden_size\": 32");
    expect_failure(dir, "bad-json", "invalid JSON");

    dir = make_dir("unknown-arch", true);
    edit_config(dir, "LlamaForCausalLM", "FooForCausalLM");
    expect_failure(dir, "unknown-arch", "'FooForCausalLM' is not supported");

    dir = make_dir("head-mismatch", true); /* shapes must agree with the config */
    edit_config(dir, "\"num_key_value_heads\": 1", "\"num_key_value_heads\": 2");
    expect_failure(dir, "head-mismatch", "k_proj.weight' has a shape");

    dir = make_dir("no-tokenizer", true);
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    unlink(path);
    expect_failure(dir, "no-tokenizer", "no tokenizer.model or tokenizer.json");

    /* corrupt tokenizer.model: cut in the middle of a piece */
    dir = make_dir("bad-tokenizer", true);
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    copy_file(DATA "/tiny-llama/hf/tokenizer.model", path, 5001);
    expect_failure(dir, "bad-tokenizer", "tokenizer.model");

    /* the output exists: refused without force, replaced with it */
    char out[600];
    snprintf(out, sizeof out, "%s/exists.gguf", tmp);
    write_file(out, "keep", 4);
    int rc = convert(DATA "/tiny-llama/hf", out, TN_CONVERT_AUTO, false, NULL);
    CHECK(rc != 0 && strstr(tn_last_error(), "already exists") &&
              strstr(tn_last_error(), "--force"),
          "existing output: rc %d '%s'", rc, tn_last_error());
    size_t n;
    char *s = tn_test_read_file(out, &n);
    CHECK(s && n == 4 && !memcmp(s, "keep", 4), "existing output was modified");
    free(s);
    rc = convert(DATA "/tiny-llama/hf", out, TN_CONVERT_AUTO, true, NULL);
    CHECK(rc == 0, "--force: %s", tn_last_error());
    compare_gguf(out, DATA "/tiny-llama-expected.gguf");

    /* an output folder that does not exist */
    snprintf(out, sizeof out, "%s/no/such/dir/x.gguf", tmp);
    rc = convert(DATA "/tiny-llama/hf", out, TN_CONVERT_AUTO, false, NULL);
    CHECK(rc != 0 && strstr(tn_last_error(), "cannot create"), "bad out dir: '%s'",
          tn_last_error());
}

/* tokenizer.json (byte-level BPE) instead of tokenizer.model: a hand-written file exercising each
 * rule convert_vocab.c follows from llama.cpp's get_vocab_base / SpecialVocab (there is no
 * llama.cpp-converted BPE checkpoint small enough to bundle, so these are the rules as read,
 * not a byte comparison). */
static void test_bpe_tokenizer(void) {
    const char *dir = make_dir("bpe", true);
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    unlink(path);
    static const char tj[] =
        "{\"version\":\"1.0\",\"added_tokens\":["
        "{\"id\":5,\"content\":\"<|endoftext|>\",\"special\":true},"
        "{\"id\":6,\"content\":\"<tool>\",\"special\":false}],"
        "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|"
        "[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|"
        "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\"},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\\u0120\":3,"
        "\"\\u0120a\":4},\"merges\":[\"a b\",[\"\\u0120\",\"a\"]]}}";
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_file(path, tj, strlen(tj));
    static const char tc[] = "{\"eos_token\":{\"content\":\"<|endoftext|>\"},\"add_bos_token\":false,"
                             "\"chat_template\":\"{{ messages }}\"}";
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_file(path, tc, strlen(tc));
    char out[600];
    snprintf(out, sizeof out, "%s/bpe.gguf", tmp);
    int rc = convert(dir, out, TN_CONVERT_AUTO, false, NULL);
    CHECK(rc == 0, "bpe: %s", tn_last_error());
    tn_gguf *g = rc ? NULL : tn_gguf_open(out);
    if (!g) return;
    const char *model = NULL, *pre = NULL, *tpl = NULL;
    tn_gguf_get_str(g, "tokenizer.ggml.model", &model);
    tn_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    tn_gguf_get_str(g, "tokenizer.chat_template", &tpl);
    CHECK(model && !strcmp(model, "gpt2"), "bpe model '%s'", model ? model : "");
    CHECK(pre && !strcmp(pre, "qwen2"), "bpe pre '%s'", pre ? pre : "");
    CHECK(tpl && !strcmp(tpl, "{{ messages }}"), "chat template");
    CHECK(tn_gguf_find_key(g, "tokenizer.ggml.scores") < 0, "gpt2 vocabularies have no scores");
    int64_t ki = tn_gguf_find_key(g, "tokenizer.ggml.tokens");
    CHECK(ki >= 0 && tn_gguf_arr_len(g, ki) == 1024, "tokens padded to config's vocab_size");
    static const char *const want[] = {"a", "b", "ab", "\xc4\xa0", "\xc4\xa0" "a", "<|endoftext|>",
                                       "<tool>", "[PAD7]"};
    for (int i = 0; ki >= 0 && i < 8; i++) {
        uint64_t len;
        const char *t = tn_gguf_arr_str(g, ki, (uint64_t)i, &len);
        CHECK(len == strlen(want[i]) && !memcmp(t, want[i], len), "token %d", i);
    }
    int32_t *types = NULL;
    uint64_t nt = 0;
    tn_gguf_get_arr_i32(g, "tokenizer.ggml.token_type", &types, &nt);
    static const int32_t want_types[] = {1, 1, 1, 1, 1, 3, 4, 5};
    CHECK(types && nt == 1024 && !memcmp(types, want_types, sizeof want_types),
          "token types: normal, control (special), user-defined, unused padding");
    free(types);
    int64_t mi = tn_gguf_find_key(g, "tokenizer.ggml.merges");
    uint64_t l0 = 0, l1 = 0;
    const char *m0 = mi >= 0 ? tn_gguf_arr_str(g, mi, 0, &l0) : NULL;
    const char *m1 = mi >= 0 ? tn_gguf_arr_str(g, mi, 1, &l1) : NULL;
    CHECK(m0 && m1 && l0 == 3 && !memcmp(m0, "a b", 3) && l1 == 4 && !memcmp(m1, "\xc4\xa0 a", 4),
          "merges in both spellings");
    uint32_t bos = 99, eos = 99;
    bool add_bos = true;
    tn_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos);
    tn_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos);
    tn_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos);
    CHECK(eos == 5, "eos from the added token named in tokenizer_config.json: %u", eos);
    CHECK(bos == 1, "bos from config.json's bos_token_id: %u", bos);
    CHECK(!add_bos, "add_bos_token from tokenizer_config.json");
    tn_gguf_close(g);

    /* an unrecognized split expression is refused rather than guessed */
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *t2 = malloc(sizeof tj);
    memcpy(t2, tj, sizeof tj);
    char *at = strstr(t2, "\\\\p{N}|");
    CHECK(at != NULL, "digit alternative in the test expression");
    if (at) at[4] = 'L'; /* \\p{N} -> \\p{L} */
    write_file(path, t2, strlen(t2));
    expect_failure(dir, "bpe-unknown-pre", "pre-tokenizer not recognized");
    free(t2);
}

/* The CLI: exit codes, messages, the progress bar. */
static void test_cli(void) {
    char cmd[2048], out[8192], dst[600];
    snprintf(dst, sizeof dst, "%s/cli.gguf", tmp);
    snprintf(cmd, sizeof cmd, "%s convert " DATA "/tiny-qwen3/hf %s --outtype bf16", tt_tern_bin(),
             dst);
    int rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 0 && strstr(out, "100.0%"), "cli convert: rc %d: %s", rc, out);
    if (rc == 0) compare_gguf(dst, DATA "/tiny-qwen3-expected.gguf");
    rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "already exists"), "cli existing output: rc %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "%s convert " DATA "/tiny-qwen3/hf %s --force --outtype q4_0",
             tt_tern_bin(), dst);
    rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "--outtype 'q4_0'"), "cli bad outtype: rc %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "%s convert %s/unknown-arch/hf %s/cli2.gguf", tt_tern_bin(), tmp, tmp);
    rc = tt_run(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "FooForCausalLM") && strstr(out, "Qwen3_5ForCausalLM"),
          "cli unknown arch: rc %d: %s", rc, out);
}

static void rm_rf(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/tern-test-convert-XXXXXX");
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp: %s", strerror(errno));
    test_fixtures();
    test_outtypes();
    test_sharded();
    test_bad_input();
    test_bpe_tokenizer();
    test_cli();
    rm_rf(tmp);
    return tn_test_done("test_convert");
}
