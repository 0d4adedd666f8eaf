/* Tests for the GGUF reader and writer (src/formats/gguf.c, gguf_write.c).
 *
 * Reference values for the bundled models come from an independent parse of the files with a
 * ~40-line Python struct-based walker (not this code): tiny-llama-bf16.gguf has version 3,
 * 27 kvs, 57 tensors, header ending at byte 25755 and the data section at 25760; its first tensor
 * is output.weight bf16 [256,1024] at offset 0, token_embd.weight bf16 [256,1024] at 524288
 * starting with bytes e7 3b f0 3a 5c bb 20 bc, output_norm.weight f32 [256] at 8138752 starting
 * with 1.2578125. tokens[259] is "\xe2\x96\x81t", scores[500] = -241, token_type[3] = 6.
 * Corrupt inputs are built by hand here (byte by byte, not with the writer) and patched one field
 * at a time; each must fail with a message naming the file and the field. */
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/types.h"

#define BF16_PATH "models/tiny-llama/tiny-llama-bf16.gguf"
#define Q4KM_PATH "models/tiny-llama/tiny-llama-Q4_K_M.gguf"
#define BF16_DATA_START 25760

/* ---- the real file ---- */

static bool arr_str_is(const tn_gguf *g, int64_t kv, uint64_t j, const char *want) {
    uint64_t len = 0;
    const char *s = tn_gguf_arr_str(g, kv, j, &len);
    return s && len == strlen(want) && memcmp(s, want, len) == 0;
}

static void test_real_file(void) {
    size_t fsize = 0;
    unsigned char *file = (unsigned char *)tn_test_read_file(BF16_PATH, &fsize);
    tn_gguf *g = tn_gguf_open(BF16_PATH);
    CHECK(g != NULL, "open: %s", tn_last_error());
    if (!g || !file) return;
    CHECK(tn_gguf_version(g) == 3, "version");
    CHECK(tn_gguf_alignment(g) == 32, "alignment %zu", tn_gguf_alignment(g));
    CHECK(tn_gguf_file_size(g) == 8165536 && fsize == 8165536, "size %zu", tn_gguf_file_size(g));
    CHECK(strcmp(tn_gguf_path(g), BF16_PATH) == 0, "path");
    CHECK(tn_gguf_n_kv(g) == 27, "n_kv %lld", (long long)tn_gguf_n_kv(g));
    CHECK(tn_gguf_n_tensors(g) == 57, "n_tensors %lld", (long long)tn_gguf_n_tensors(g));

    const char *s = NULL;
    CHECK(tn_gguf_get_str(g, "general.architecture", &s) == 0 && strcmp(s, "llama") == 0, "arch");
    CHECK(tn_gguf_get_str(g, "general.name", &s) == 0 && strcmp(s, "Tiny Llama") == 0, "name");
    uint32_t u = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    CHECK(tn_gguf_get_u32(g, "llama.block_count", &u) == 0 && u == 6, "block_count %u", u);
    CHECK(tn_gguf_get_i32(g, "llama.block_count", &i32) == 0 && i32 == 6, "block_count i32");
    CHECK(tn_gguf_get_u64(g, "llama.block_count", &u64) == 0 && u64 == 6, "block_count u64");
    CHECK(tn_gguf_get_u32(g, "llama.embedding_length", &u) == 0 && u == 256, "n_embd %u", u);
    CHECK(tn_gguf_get_u32(g, "llama.attention.head_count", &u) == 0 && u == 8, "n_head %u", u);
    CHECK(tn_gguf_get_u32(g, "llama.attention.head_count_kv", &u) == 0 && u == 4, "n_kv %u", u);
    CHECK(tn_gguf_get_u32(g, "llama.feed_forward_length", &u) == 0 && u == 512, "n_ff %u", u);
    CHECK(tn_gguf_get_u32(g, "general.file_type", &u) == 0 && u == 32, "file_type %u", u);
    float f = 0;
    CHECK(tn_gguf_get_f32(g, "llama.rope.freq_base", &f) == 0 && f == 10000.0f, "freq_base %g", f);
    CHECK(tn_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f) == 0 && f == 1e-5f,
          "eps %g", f);
    bool b = false;
    CHECK(tn_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0 && b, "add_bos");
    CHECK(tn_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) == 0 && !b, "add_eos");

    /* Absent keys: 1, value untouched. Wrong types: -1 with the key named. */
    u = 77;
    CHECK(tn_gguf_get_u32(g, "llama.no_such_key", &u) == 1 && u == 77, "absent");
    CHECK(tn_gguf_find_key(g, "llama.no_such_key") == -1, "find absent");
    CHECK(tn_gguf_get_u32(g, "general.architecture", &u) == -1 &&
              strstr(tn_last_error(), "general.architecture") && strstr(tn_last_error(), "string"),
          "u32 of a string: %s", tn_last_error());
    CHECK(tn_gguf_get_str(g, "llama.block_count", &s) == -1 && strstr(tn_last_error(), "u32"),
          "str of a u32: %s", tn_last_error());
    CHECK(tn_gguf_get_f32(g, "llama.block_count", &f) == -1, "f32 of a u32");
    CHECK(tn_gguf_get_bool(g, "llama.block_count", &b) == -1, "bool of a u32");

    int64_t kt = tn_gguf_find_key(g, "tokenizer.ggml.tokens");
    CHECK(kt >= 0 && strcmp(tn_gguf_kv_key(g, kt), "tokenizer.ggml.tokens") == 0, "tokens key");
    CHECK(tn_gguf_kv_type(g, kt) == TN_GGUF_ARRAY && tn_gguf_arr_type(g, kt) == TN_GGUF_STRING,
          "tokens type");
    CHECK(tn_gguf_arr_len(g, kt) == 1024, "tokens len %llu",
          (unsigned long long)tn_gguf_arr_len(g, kt));
    CHECK(arr_str_is(g, kt, 0, "<unk>") && arr_str_is(g, kt, 1, "<s>") &&
              arr_str_is(g, kt, 2, "</s>") && arr_str_is(g, kt, 3, "<0x00>") &&
              arr_str_is(g, kt, 258, "<0xFF>") && arr_str_is(g, kt, 259, "\xe2\x96\x81t") &&
              arr_str_is(g, kt, 300, "ot") && arr_str_is(g, kt, 500, "out") &&
              arr_str_is(g, kt, 1000, "H") && arr_str_is(g, kt, 1023, "$"),
          "token strings");
    CHECK(tn_gguf_arr_str(g, kt, 1024, NULL) == NULL, "token out of range");
    CHECK(tn_gguf_arr_data(g, kt) == NULL, "no raw data for string arrays");

    int64_t ks = tn_gguf_find_key(g, "tokenizer.ggml.scores");
    CHECK(tn_gguf_arr_type(g, ks) == TN_GGUF_F32 && tn_gguf_arr_len(g, ks) == 1024, "scores");
    const unsigned char *sd = tn_gguf_arr_data(g, ks);
    float sc[4] = {0};
    if (sd) {
        memcpy(&sc[0], sd + 4 * 300, 4);
        memcpy(&sc[1], sd + 4 * 500, 4);
        memcpy(&sc[2], sd + 4 * 1000, 4);
        memcpy(&sc[3], sd + 4 * 1023, 4);
    }
    CHECK(sc[0] == -41.0f && sc[1] == -241.0f && sc[2] == -741.0f && sc[3] == -764.0f,
          "scores %g %g %g %g", sc[0], sc[1], sc[2], sc[3]);
    int32_t *tt = NULL;
    uint64_t ntt = 0;
    CHECK(tn_gguf_get_arr_i32(g, "tokenizer.ggml.token_type", &tt, &ntt) == 0 && ntt == 1024,
          "token_type");
    if (tt) CHECK(tt[0] == 2 && tt[1] == 3 && tt[3] == 6 && tt[258] == 6 && tt[259] == 1, "types");
    free(tt);
    CHECK(tn_gguf_get_arr_i32(g, "tokenizer.ggml.scores", &tt, &ntt) == -1 &&
              strstr(tn_last_error(), "f32"),
          "arr_i32 of f32: %s", tn_last_error());

    const tn_gguf_tensor *t = tn_gguf_tensor_at(g, 0);
    CHECK(t && strcmp(t->name, "output.weight") == 0 && t->type == TN_TYPE_BF16 && t->n_dims == 2 &&
              t->ne[0] == 256 && t->ne[1] == 1024 && t->ne[2] == 1 && t->offset == 0 &&
              t->nbytes == 524288,
          "tensor 0");
    t = tn_gguf_find_tensor(g, "token_embd.weight");
    static const unsigned char embd0[8] = {0xe7, 0x3b, 0xf0, 0x3a, 0x5c, 0xbb, 0x20, 0xbc};
    CHECK(t && t->type == TN_TYPE_BF16 && t->ne[0] == 256 && t->ne[1] == 1024 &&
              t->offset == 524288 && t->nbytes == 524288 && memcmp(t->data, embd0, 8) == 0,
          "token_embd.weight");
    t = tn_gguf_find_tensor(g, "blk.0.ffn_down.weight");
    CHECK(t && t->type == TN_TYPE_BF16 && t->ne[0] == 512 && t->ne[1] == 256 &&
              t->offset == 1049600 && t->nbytes == 262144,
          "ffn_down");
    t = tn_gguf_find_tensor(g, "blk.5.attn_k.weight");
    CHECK(t && t->ne[0] == 256 && t->ne[1] == 128 && t->offset == 7745536, "blk.5.attn_k");
    t = tn_gguf_find_tensor(g, "output_norm.weight");
    float on = 0;
    if (t) memcpy(&on, t->data, 4);
    CHECK(t && t->type == TN_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 256 && t->ne[1] == 1 &&
              t->offset == 8138752 && t->nbytes == 1024 && on == 1.2578125f,
          "output_norm");
    CHECK(tn_gguf_find_tensor(g, "output_norm") == NULL && tn_gguf_tensor_at(g, 57) == NULL &&
              tn_gguf_tensor_at(g, -1) == NULL,
          "absent tensors");
    /* Every tensor's data pointer lands on the right bytes of the file. */
    int bad = 0;
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        t = tn_gguf_tensor_at(g, i);
        if (tn_gguf_find_tensor(g, t->name) != t ||
            BF16_DATA_START + t->offset + t->nbytes > fsize ||
            memcmp(t->data, file + BF16_DATA_START + t->offset, t->nbytes) != 0)
            bad++;
    }
    CHECK(bad == 0, "%d tensors with wrong data", bad);
    tn_gguf_close(g);
    free(file);

    g = tn_gguf_open(Q4KM_PATH);
    CHECK(g != NULL, "open q4_k_m: %s", tn_last_error());
    if (g) {
        t = tn_gguf_find_tensor(g, "token_embd.weight");
        CHECK(t && t->type == TN_TYPE_Q4_K && t->nbytes == 147456, "q4_K embd");
        t = tn_gguf_find_tensor(g, "output.weight");
        CHECK(t && t->type == TN_TYPE_Q6_K && t->nbytes == 215040, "q6_K output");
        CHECK(tn_gguf_get_u32(g, "general.file_type", &u) == 0 && u == 15, "ftype %u", u);
        tn_gguf_close(g);
    }
    g = tn_gguf_open("models/tiny-qwen3/tiny-qwen3-bf16.gguf");
    CHECK(g && tn_gguf_n_tensors(g) == 68 && tn_gguf_n_kv(g) == 25, "qwen3: %s", tn_last_error());
    CHECK(g && tn_gguf_get_str(g, "general.architecture", &s) == 0 && strcmp(s, "qwen3") == 0,
          "qwen3 arch");
    tn_gguf_close(g);
    /* Vocab-only file: no tensors, ends right after the header without padding. */
    g = tn_gguf_open("tests/data/vocab/ggml-vocab-llama-spm.gguf");
    CHECK(g && tn_gguf_n_tensors(g) == 0 && tn_gguf_n_kv(g) == 22, "vocab: %s", tn_last_error());
    tn_gguf_close(g);

    CHECK(tn_gguf_open("models/no-such-file.gguf") == NULL &&
              strstr(tn_last_error(), "no-such-file.gguf"),
          "missing file: %s", tn_last_error());
    CHECK(tn_gguf_open("models") == NULL && strstr(tn_last_error(), "regular file"),
          "directory: %s", tn_last_error());
}

/* ---- truncation ---- */

static int try_prefix(const unsigned char *file, size_t n, const char *need) {
    unsigned char *copy = malloc(n ? n : 1); /* exact size, so ASan sees any over-read */
    memcpy(copy, file, n);
    tn_clear_error();
    tn_gguf *g = tn_gguf_open_memory(copy, n, "trunc.gguf");
    int ok =
        !g && strstr(tn_last_error(), "trunc.gguf") && (!need || strstr(tn_last_error(), need));
    if (!ok) fprintf(stderr, "prefix %zu: %s\n", n, g ? "opened" : tn_last_error());
    tn_gguf_close(g);
    free(copy);
    return ok;
}

static void test_truncation(void) {
    size_t n = 0;
    unsigned char *file = (unsigned char *)tn_test_read_file(BF16_PATH, &n);
    CHECK(file != NULL, "read");
    if (!file) return;
    /* Every prefix of the header (so every field boundary and every byte inside a field). */
    int bad = 0;
    for (size_t p = 0; p <= BF16_DATA_START; p++)
        bad += !try_prefix(file, p, NULL);
    CHECK(bad == 0, "%d header prefixes not rejected", bad);
    CHECK(try_prefix(file, 6, "version"), "cut in version");
    CHECK(try_prefix(file, 12, "tensor_count"), "cut in tensor_count");
    CHECK(try_prefix(file, 20, "kv_count"), "cut in kv_count");
    CHECK(try_prefix(file, 24, "kv_count"), "no kvs");
    CHECK(try_prefix(file, 4000, "tokenizer.ggml.tokens"), "cut in the token array");
    /* Inside the data section: the last tensor always extends past the end. */
    size_t cuts[] = {BF16_DATA_START + 1, BF16_DATA_START + 524288, n / 2, n - 1024, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++)
        CHECK(try_prefix(file, cuts[i], "past the end"), "data cut at %zu", cuts[i]);
    CHECK(try_prefix(file, n - 1, "'output_norm.weight': data at offset 8138752 + 1024 bytes"),
          "last tensor cut");
    free(file);
}

/* ---- hand-built images ---- */

typedef struct {
    unsigned char *p;
    size_t n;
} img;

static void put(img *b, const void *d, size_t n) {
    b->p = realloc(b->p, b->n + n);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static size_t put_u32(img *b, uint32_t v) {
    put(b, &v, 4);
    return b->n - 4;
}
static size_t put_u64(img *b, uint64_t v) {
    put(b, &v, 8);
    return b->n - 8;
}
static size_t put_str(img *b, const char *s) {
    size_t at = put_u64(b, strlen(s));
    put(b, s, strlen(s));
    return at;
}

/* Offsets of the fields the corruption tests patch. */
typedef struct {
    size_t version, n_tensors, n_kv, key0_len, key0, kv1_key, kv0_type, str_len, arr_type, arr_len,
        bool_val, align_type, align_val, f64_type, t0_name, t1_name, t1_name_len, t1_ndims, t1_ne0,
        t1_ne1, t1_type, t1_offset, data;
} fields;

/* A valid image: 9 kvs, tensors "ta" f32 [8] at 0 and "tb" q8_0 [32,2] at 32 (68 bytes). */
static img build(fields *f) {
    img b = {0};
    put(&b, "GGUF", 4);
    f->version = put_u32(&b, 3);
    f->n_tensors = put_u64(&b, 2);
    f->n_kv = put_u64(&b, 9);
    f->key0_len = put_str(&b, "k.s1");
    f->key0 = f->key0_len + 8;
    f->kv0_type = put_u32(&b, TN_GGUF_STRING);
    f->str_len = put_str(&b, "hello");
    f->kv1_key = put_str(&b, "k.s2");
    put_u32(&b, TN_GGUF_ARRAY);
    f->arr_type = put_u32(&b, TN_GGUF_STRING);
    f->arr_len = put_u64(&b, 3);
    put_str(&b, "a");
    put_str(&b, "");
    put_str(&b, "xyz");
    put_str(&b, "k.i16s");
    put_u32(&b, TN_GGUF_ARRAY);
    put_u32(&b, TN_GGUF_I16);
    put_u64(&b, 3);
    int16_t i16[3] = {-3, 7, 32767};
    put(&b, i16, sizeof i16);
    put_str(&b, "k.flag");
    put_u32(&b, TN_GGUF_BOOL);
    f->bool_val = b.n;
    put(&b, "\1", 1);
    put_str(&b, "general.alignment");
    f->align_type = put_u32(&b, TN_GGUF_U32);
    f->align_val = put_u32(&b, 32);
    put_str(&b, "k.f64");
    f->f64_type = put_u32(&b, TN_GGUF_F64);
    double d = 0.25;
    put(&b, &d, 8);
    put_str(&b, "k.i64");
    put_u32(&b, TN_GGUF_I64);
    put_u64(&b, (uint64_t)-7);
    put_str(&b, "k.u64");
    put_u32(&b, TN_GGUF_U64);
    put_u64(&b, 1ull << 40);
    put_str(&b, "k.u8");
    put_u32(&b, TN_GGUF_U8);
    put(&b, "\xfe", 1);

    f->t0_name = put_str(&b, "ta") + 8;
    put_u32(&b, 1);
    put_u64(&b, 8);
    put_u32(&b, TN_TYPE_F32);
    put_u64(&b, 0);
    f->t1_name_len = put_str(&b, "tb");
    f->t1_name = f->t1_name_len + 8;
    f->t1_ndims = put_u32(&b, 2);
    f->t1_ne0 = put_u64(&b, 32);
    f->t1_ne1 = put_u64(&b, 2);
    f->t1_type = put_u32(&b, TN_TYPE_Q8_0);
    f->t1_offset = put_u64(&b, 32);
    static const unsigned char zeros[32];
    put(&b, zeros, (32 - b.n % 32) % 32);
    f->data = b.n;
    for (int i = 0; i < 100; i++)
        put(&b, (unsigned char[]){(unsigned char)i}, 1);
    return b;
}

static void patch(img *b, size_t at, uint64_t v, int n) {
    memcpy(b->p + at, &v, (size_t)n);
}

static void test_built_image(void) {
    fields f;
    img b = build(&f);
    tn_gguf *g = tn_gguf_open_memory(b.p, b.n, "good.gguf");
    CHECK(g != NULL, "valid image: %s", tn_last_error());
    if (!g) return;
    const char *s;
    CHECK(tn_gguf_get_str(g, "k.s1", &s) == 0 && strcmp(s, "hello") == 0, "k.s1");
    int64_t k = tn_gguf_find_key(g, "k.s2");
    CHECK(tn_gguf_arr_len(g, k) == 3 && arr_str_is(g, k, 0, "a") && arr_str_is(g, k, 1, "") &&
              arr_str_is(g, k, 2, "xyz"),
          "string array");
    int32_t *v = NULL;
    uint64_t n = 0;
    CHECK(tn_gguf_get_arr_i32(g, "k.i16s", &v, &n) == 0 && n == 3 && v[0] == -3 && v[1] == 7 &&
              v[2] == 32767,
          "i16 array");
    free(v);
    float fl = 0;
    int32_t i32 = 0;
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    bool bo = false;
    CHECK(tn_gguf_get_f32(g, "k.f64", &fl) == 0 && fl == 0.25f, "f64 as f32");
    CHECK(tn_gguf_get_i32(g, "k.i64", &i32) == 0 && i32 == -7, "i64 as i32");
    CHECK(tn_gguf_get_u32(g, "k.i64", &u32) == -1 && strstr(tn_last_error(), "-7") &&
              strstr(tn_last_error(), "k.i64"),
          "negative as u32: %s", tn_last_error());
    CHECK(tn_gguf_get_u64(g, "k.i64", &u64) == -1, "negative as u64");
    CHECK(tn_gguf_get_u64(g, "k.u64", &u64) == 0 && u64 == 1ull << 40, "u64");
    CHECK(tn_gguf_get_u32(g, "k.u64", &u32) == -1 && strstr(tn_last_error(), "u32"), "2^40 u32");
    CHECK(tn_gguf_get_i32(g, "k.u8", &i32) == 0 && i32 == 254, "u8 as i32");
    CHECK(tn_gguf_get_bool(g, "k.flag", &bo) == 0 && bo, "bool");
    CHECK(tn_gguf_get_i32(g, "k.flag", &i32) == -1, "bool is not an integer");
    const tn_gguf_tensor *t = tn_gguf_find_tensor(g, "tb");
    CHECK(t && t->nbytes == 68 && t->data == b.p + f.data + 32 && t->n_dims == 2, "tensor tb");
    tn_gguf_close(g);

    /* One corruption at a time: {field offset, value, width, substring the error must have}. */
    struct {
        size_t at;
        uint64_t v;
        int w;
        const char *want;
    } cases[] = {
        {0, 0x46554746, 4, "magic"},
        {f.version, 2, 4, "unsupported version 2"},
        {f.version, 1, 4, "unsupported version 1"},
        {f.version, 0x03000000, 4, "big-endian"},
        {f.n_tensors, 1ull << 60, 8, "tensor_count"},
        {f.n_tensors, 1000, 8, "tensor_count"},
        {f.n_kv, ~0ull, 8, "kv_count"},
        {f.n_kv, 10, 8, "tensor 0"}, /* kv 9 eats tensor 0's name */
        {f.key0_len, 0, 8, "empty key"},
        {f.key0_len, 1ull << 62, 8, "kv 0 key"},
        {f.key0, 0, 1, "NUL"},
        {f.kv1_key + 11, '1', 1, "duplicate key 'k.s1'"},
        {f.kv0_type, 13, 4, "value type"},
        {f.str_len, ~0ull, 8, "'k.s1'"},
        {f.arr_type, TN_GGUF_ARRAY, 4, "arrays of arrays"},
        {f.arr_type, 77, 4, "element type"},
        {f.arr_len, 1ull << 61, 8, "array length"},
        {f.arr_len, ~0ull, 8, "array length"},
        {f.bool_val, 2, 1, "bool"},
        {f.align_val, 48, 4, "general.alignment"},
        {f.align_val, 0, 4, "general.alignment"},
        {f.align_type, TN_GGUF_I32, 4, "general.alignment"},
        {f.align_val, 64, 4, "'tb': offset 32 is not a multiple of alignment 64"},
        {f.f64_type, TN_GGUF_STRING, 4, "k.f64"},
        {f.t1_name + 1, 'a', 1, "duplicate tensor name 'ta'"},
        {f.t1_name_len, 0, 8, "tensor 1: empty name"},
        {f.t1_name_len, 64, 8, "name"},
        {f.t1_name_len, 1ull << 40, 8, "tensor 1 name"},
        {f.t1_ndims, 0, 4, "n_dims"},
        {f.t1_ndims, 5, 4, "n_dims"},
        {f.t1_ne0, 16, 8, "block size"},
        {f.t1_ne0, 1ull << 63, 8, "ne[0]"},
        {f.t1_ne1, ~0ull, 8, "ne[1]"},
        {f.t1_ne1, 1ull << 62, 8,
         "'tb': shape [32, 4611686018427387904, 1, 1] of type q8_0: byte size overflows"},
        {f.t1_ne1, 1ull << 40, 8, "'tb': data at offset 32 + 37383395344384 bytes extends past"},
        {f.t1_type, 4, 4, "unknown type 4"},
        {f.t1_type, 0xffffffffu, 4, "unknown type"},
        {f.t1_type, TN_TYPE_COUNT, 4, "unknown type"},
        {f.t1_offset, 33, 8, "'tb': offset 33 is not a multiple of alignment 32"},
        {f.t1_offset, 0, 8, "overlaps"},
        {f.t1_offset, 64, 8, "past the end"},
        {f.t1_offset, 1ull << 20, 8, "'tb': data at offset 1048576 + 68 bytes extends past"},
        {f.t1_offset, ~0ull - 31, 8, "past the end"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        img c = {malloc(b.n), b.n};
        memcpy(c.p, b.p, b.n);
        patch(&c, cases[i].at, cases[i].v, cases[i].w);
        tn_clear_error();
        g = tn_gguf_open_memory(c.p, c.n, "corrupt.gguf");
        const char *e = tn_last_error();
        CHECK(!g && strstr(e, "corrupt.gguf") && strstr(e, cases[i].want),
              "case %zu (want '%s'): %s", i, cases[i].want, g ? "opened" : e);
        tn_gguf_close(g);
        free(c.p);
    }
    free(b.p);
}

/* ---- writer ---- */

static char *tmp_path(void) {
    char *p = strdup("/tmp/test_gguf_XXXXXX");
    int fd = mkstemp(p);
    if (fd >= 0) close(fd);
    return p;
}

typedef struct {
    int calls;
    uint64_t last, total;
    bool monotonic;
} progress_log;

static void on_progress(void *user, uint64_t done, uint64_t total) {
    progress_log *l = user;
    if (done < l->last || done > total) l->monotonic = false;
    l->calls++;
    l->last = done;
    l->total = total;
}

static void test_writer_round_trip(void) {
    tn_gguf_writer *w = tn_gguf_writer_new();
    CHECK(tn_gguf_writer_set_u32(w, "t.u32", 4000000000u) == 0, "u32");
    CHECK(tn_gguf_writer_set_i32(w, "t.i32", -123456) == 0, "i32");
    CHECK(tn_gguf_writer_set_u64(w, "t.u64", 0xfedcba9876543210ull) == 0, "u64");
    CHECK(tn_gguf_writer_set_f32(w, "t.f32", -2.5f) == 0, "f32");
    CHECK(tn_gguf_writer_set_bool(w, "t.bool", true) == 0, "bool");
    CHECK(tn_gguf_writer_set_str(w, "t.str", "héllo") == 0, "str");
    CHECK(tn_gguf_writer_set_str(w, "t.empty", "") == 0, "empty str");
    CHECK(tn_gguf_writer_set_u32(w, "t.replaced", 1) == 0, "to be replaced");
    CHECK(tn_gguf_writer_set_str(w, "t.replaced", "now a string") == 0, "replace");
    /* One array per numeric element type, 5 elements of 8 bytes of pattern each (only the first
     * elem_size bytes of each are used). */
    static const int sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    unsigned char pattern[64];
    for (int i = 0; i < 64; i++)
        pattern[i] = (unsigned char)(i * 37 + 11);
    char key[32];
    for (int t = 0; t <= TN_GGUF_F64; t++) {
        if (!sizes[t]) continue;
        snprintf(key, sizeof key, "t.arr%d", t);
        const void *src = t == TN_GGUF_BOOL ? "\1\0\1\1\0" : (const void *)pattern;
        CHECK(tn_gguf_writer_set_arr(w, key, (tn_gguf_type)t, src, 5) == 0, "arr %d", t);
    }
    CHECK(tn_gguf_writer_set_arr(w, "t.arr_empty", TN_GGUF_I32, NULL, 0) == 0, "empty arr");
    CHECK(tn_gguf_writer_set_arr(w, "t.bad", TN_GGUF_STRING, pattern, 1) == -1, "string arr");
    const char *strs[4] = {"one", "", "t\0o", "three"};
    const uint64_t lens[4] = {3, 0, 3, 5};
    CHECK(tn_gguf_writer_set_arr_str(w, "t.strs", strs, lens, 4) == 0, "str arr");
    CHECK(tn_gguf_writer_set_u32(w, "general.alignment", 48) == -1, "bad alignment rejected");
    CHECK(tn_gguf_writer_set_u32(w, "general.alignment", 64) == 0, "alignment 64");

    float a[12];
    for (int i = 0; i < 12; i++)
        a[i] = (float)i * 0.5f - 1.0f;
    unsigned char q8[136], q4k[288], bf[16];
    for (size_t i = 0; i < sizeof q8; i++)
        q8[i] = (unsigned char)(i * 7);
    for (size_t i = 0; i < sizeof q4k; i++)
        q4k[i] = (unsigned char)(i * 13 + 1);
    for (size_t i = 0; i < sizeof bf; i++)
        bf[i] = (unsigned char)(200 - i);
    CHECK(tn_gguf_writer_add_tensor(w, "w.f32", TN_TYPE_F32, 2, (int64_t[]){4, 3}, a, 48) == 0,
          "f32 tensor: %s", tn_last_error());
    CHECK(tn_gguf_writer_add_tensor(w, "w.q8", TN_TYPE_Q8_0, 2, (int64_t[]){64, 2}, q8, 136) == 0,
          "q8 tensor: %s", tn_last_error());
    CHECK(tn_gguf_writer_add_tensor(w, "w.q4k", TN_TYPE_Q4_K, 4, (int64_t[]){256, 1, 1, 2}, q4k,
                                    288) == 0,
          "q4k tensor: %s", tn_last_error());
    CHECK(tn_gguf_writer_add_tensor(w, "w.bf16", TN_TYPE_BF16, 1, (int64_t[]){8}, bf, 16) == 0,
          "bf16 tensor");
    CHECK(tn_gguf_writer_add_tensor(w, "w.bad", TN_TYPE_F32, 1, (int64_t[]){8}, a, 30) == -1 &&
              strstr(tn_last_error(), "w.bad"),
          "wrong nbytes: %s", tn_last_error());
    CHECK(tn_gguf_writer_add_tensor(w, "w.f32", TN_TYPE_F32, 1, (int64_t[]){1}, a, 4) == -1 &&
              strstr(tn_last_error(), "duplicate"),
          "duplicate");
    CHECK(tn_gguf_writer_add_tensor(w, "w.x", 4, 1, (int64_t[]){32}, a, 4) == -1, "bad type");
    CHECK(tn_gguf_writer_add_tensor(w, "w.y", TN_TYPE_Q8_0, 1, (int64_t[]){16}, q8, 17) == -1,
          "bad block multiple");

    char *path = tmp_path();
    progress_log log = {0, 0, 0, true};
    CHECK(tn_gguf_writer_write(w, path, on_progress, &log) == 0, "write: %s", tn_last_error());
    struct stat st;
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == log.total && log.last == log.total &&
              log.calls >= 1 && log.monotonic,
          "progress: %d calls, %llu of %llu", log.calls, (unsigned long long)log.last,
          (unsigned long long)log.total);
    tn_gguf *g = tn_gguf_open(path);
    CHECK(g != NULL, "reopen: %s", tn_last_error());
    if (g) {
        CHECK(tn_gguf_alignment(g) == 64 && tn_gguf_n_kv(g) == 22 && tn_gguf_n_tensors(g) == 4,
              "counts %lld %lld", (long long)tn_gguf_n_kv(g), (long long)tn_gguf_n_tensors(g));
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        float f;
        bool b;
        const char *s;
        CHECK(tn_gguf_get_u32(g, "t.u32", &u32) == 0 && u32 == 4000000000u, "u32 back");
        CHECK(tn_gguf_get_i32(g, "t.u32", &i32) == -1, "4e9 is not an i32");
        CHECK(tn_gguf_get_i32(g, "t.i32", &i32) == 0 && i32 == -123456, "i32 back");
        CHECK(tn_gguf_get_u64(g, "t.u64", &u64) == 0 && u64 == 0xfedcba9876543210ull, "u64 back");
        CHECK(tn_gguf_get_f32(g, "t.f32", &f) == 0 && f == -2.5f, "f32 back");
        CHECK(tn_gguf_get_bool(g, "t.bool", &b) == 0 && b, "bool back");
        CHECK(tn_gguf_get_str(g, "t.str", &s) == 0 && strcmp(s, "héllo") == 0, "str back");
        CHECK(tn_gguf_get_str(g, "t.empty", &s) == 0 && s[0] == 0, "empty str back");
        CHECK(tn_gguf_get_str(g, "t.replaced", &s) == 0 && strcmp(s, "now a string") == 0 &&
                  tn_gguf_find_key(g, "t.replaced") == 7,
              "replaced in place");
        for (int t = 0; t <= TN_GGUF_F64; t++) {
            if (!sizes[t]) continue;
            snprintf(key, sizeof key, "t.arr%d", t);
            int64_t k = tn_gguf_find_key(g, key);
            const void *want = t == TN_GGUF_BOOL ? "\1\0\1\1\0" : (const void *)pattern;
            CHECK(tn_gguf_kv_type(g, k) == TN_GGUF_ARRAY && (int)tn_gguf_arr_type(g, k) == t &&
                      tn_gguf_arr_len(g, k) == 5 &&
                      memcmp(tn_gguf_arr_data(g, k), want, 5 * (size_t)sizes[t]) == 0,
                  "array %d back", t);
        }
        int32_t *v = NULL;
        uint64_t n = 9;
        CHECK(tn_gguf_get_arr_i32(g, "t.arr_empty", &v, &n) == 0 && n == 0, "empty arr back");
        free(v);
        int64_t k = tn_gguf_find_key(g, "t.strs");
        uint64_t len = 0;
        const char *s2 = tn_gguf_arr_str(g, k, 2, &len);
        CHECK(tn_gguf_arr_len(g, k) == 4 && arr_str_is(g, k, 0, "one") && arr_str_is(g, k, 1, "") &&
                  s2 && len == 3 && memcmp(s2, "t\0o", 3) == 0 && arr_str_is(g, k, 3, "three"),
              "string array back");
        const void *datas[4] = {a, q8, q4k, bf};
        const char *names[4] = {"w.f32", "w.q8", "w.q4k", "w.bf16"};
        const int types[4] = {TN_TYPE_F32, TN_TYPE_Q8_0, TN_TYPE_Q4_K, TN_TYPE_BF16};
        const size_t nbytes[4] = {48, 136, 288, 16};
        const int ndims[4] = {2, 2, 4, 1};
        for (int i = 0; i < 4; i++) {
            const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
            CHECK(t && strcmp(t->name, names[i]) == 0 && t->type == types[i] &&
                      t->nbytes == nbytes[i] && t->n_dims == ndims[i] && t->offset % 64 == 0 &&
                      memcmp(t->data, datas[i], nbytes[i]) == 0,
                  "tensor %d back", i);
        }
        const tn_gguf_tensor *t = tn_gguf_find_tensor(g, "w.q4k");
        CHECK(t && t->ne[0] == 256 && t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 2, "q4k shape");
        tn_gguf_close(g);
    }

    /* A failing rename (the target is a non-empty directory) leaves no temporary file. */
    char dir[] = "/tmp/test_gguf_dir_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char inner[64], tmpfile[64];
    snprintf(inner, sizeof inner, "%s/x", dir);
    snprintf(tmpfile, sizeof tmpfile, "%s.tmp", dir);
    FILE *fp = fopen(inner, "w");
    if (fp) fclose(fp);
    CHECK(tn_gguf_writer_write(w, dir, NULL, NULL) == -1 && strstr(tn_last_error(), dir),
          "rename onto a directory: %s", tn_last_error());
    CHECK(access(tmpfile, F_OK) != 0, "temporary file left behind");
    CHECK(tn_gguf_writer_write(w, "/tmp/no-such-dir-tern/x.gguf", NULL, NULL) == -1,
          "missing directory");
    unlink(inner);
    rmdir(dir);
    unlink(path);
    free(path);
    tn_gguf_writer_free(w);
}

/* Re-writing a llama.cpp file kv by kv and tensor by tensor gives the same bytes. */
static void test_rewrite_q4km(void) {
    tn_gguf *src = tn_gguf_open(Q4KM_PATH);
    CHECK(src != NULL, "open: %s", tn_last_error());
    if (!src) return;
    tn_gguf_writer *w = tn_gguf_writer_new();
    CHECK(tn_gguf_writer_copy_kv(w, src) == 0, "copy_kv: %s", tn_last_error());
    for (int64_t i = 0; i < tn_gguf_n_tensors(src); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(src, i);
        CHECK(tn_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                        t->nbytes) == 0,
              "add %s: %s", t->name, tn_last_error());
    }
    char *path = tmp_path();
    CHECK(tn_gguf_writer_write(w, path, NULL, NULL) == 0, "write: %s", tn_last_error());
    tn_gguf_writer_free(w);
    tn_gguf *g = tn_gguf_open(path);
    CHECK(g != NULL, "reopen: %s", tn_last_error());
    if (g) {
        CHECK(tn_gguf_n_kv(g) == tn_gguf_n_kv(src) &&
                  tn_gguf_n_tensors(g) == tn_gguf_n_tensors(src),
              "counts");
        int bad = 0;
        for (int64_t i = 0; i < tn_gguf_n_kv(src) && i < tn_gguf_n_kv(g); i++) {
            size_t n1, n2;
            const void *r1 = tn_gguf_kv_raw(src, i, &n1), *r2 = tn_gguf_kv_raw(g, i, &n2);
            bad += strcmp(tn_gguf_kv_key(src, i), tn_gguf_kv_key(g, i)) != 0 ||
                   tn_gguf_kv_type(src, i) != tn_gguf_kv_type(g, i) || n1 != n2 ||
                   memcmp(r1, r2, n1) != 0;
        }
        CHECK(bad == 0, "%d kvs differ", bad);
        bad = 0;
        for (int64_t i = 0; i < tn_gguf_n_tensors(src) && i < tn_gguf_n_tensors(g); i++) {
            const tn_gguf_tensor *a = tn_gguf_tensor_at(src, i), *b = tn_gguf_tensor_at(g, i);
            bad += strcmp(a->name, b->name) != 0 || a->type != b->type || a->nbytes != b->nbytes ||
                   memcmp(a->ne, b->ne, sizeof a->ne) != 0 || a->offset != b->offset ||
                   memcmp(a->data, b->data, a->nbytes) != 0;
        }
        CHECK(bad == 0, "%d tensors differ", bad);
        tn_gguf_close(g);
    }
    size_t n1 = 0, n2 = 0;
    char *orig = tn_test_read_file(Q4KM_PATH, &n1), *copy = tn_test_read_file(path, &n2);
    CHECK(orig && copy && n1 == n2 && memcmp(orig, copy, n1) == 0, "byte-identical (%zu vs %zu)",
          n1, n2);
    free(orig);
    free(copy);
    unlink(path);
    free(path);
    tn_gguf_close(src);
}

/* Fuzzer seeds and crash reproducers (tests/data/gguf): none may crash; the failures must say why.
 */
static void test_regressions(void) {
    const char *dirs[2] = {"tests/data/gguf", "tests/data/gguf/corpus"};
    int files = 0;
    for (int d = 0; d < 2; d++) {
        DIR *dp = opendir(dirs[d]);
        if (!dp) continue;
        struct dirent *e;
        while ((e = readdir(dp))) {
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dirs[d], e->d_name);
            struct stat st;
            if (e->d_name[0] == '.' || stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            size_t n = 0;
            char *data = tn_test_read_file(p, &n);
            char *exact = malloc(n ? n : 1);
            if (data) memcpy(exact, data, n);
            tn_clear_error();
            tn_gguf *g = tn_gguf_open_memory(exact, n, p);
            /* Seeds are valid files (make_seeds.py) except the deliberately truncated prefix. */
            bool must_open = d == 1 && !strstr(e->d_name, "prefix");
            CHECK(must_open ? g != NULL : (g || strstr(tn_last_error(), p)), "%s: %s", p,
                  tn_last_error());
            tn_gguf_close(g);
            free(exact);
            free(data);
            files++;
        }
        closedir(dp);
    }
    CHECK(files >= 1, "no seed or regression files found");
}

int main(void) {
    test_real_file();
    test_truncation();
    test_built_image();
    test_writer_round_trip();
    test_rewrite_q4km();
    test_regressions();
    return tn_test_done("test_gguf");
}
