/* Tokenizer tests (SentencePiece / "llama" vocabularies), all exact:
 *  - the validation text encodes to SentencePiece's own ids (tests/data/val-ids.json);
 *  - decode(encode(x)) == x on it;
 *  - llama.cpp's tokenizer test vectors (tests/data/vocab/X.gguf.inp/.out), which llama.cpp's
 *    test-tokenizer-0 produces with add_special = false and parse_special = false;
 *  - special tokens (control / user-defined, Phi-3's whitespace stripping), merge order and tie
 *    breaking, byte fallback, on small vocabularies built in memory;
 *  - invalid UTF-8, empty input, embedded NULs, a long input, too-small buffers, metadata. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/tokenizer.h"

#define LLAMA_GGUF "models/tiny-llama/tiny-llama-Q8_0.gguf"
#define VAL_TEXT "tests/data/text/tinyshakespeare-val.txt"
#define VAL_IDS "tests/data/val-ids.json"

/* ---- helpers ---- */

/* Parses the integer array that follows "key": in a JSON text. Returns the count, -1 on error. */
static int64_t json_int_array(const char *json, const char *key, int32_t **out) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p) return -1;
    p = strchr(p + strlen(pat), '[');
    if (!p) return -1;
    p++;
    int64_t n = 0, cap = 1024;
    int32_t *a = malloc((size_t)cap * sizeof *a);
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ',')
            p++;
        if (*p == ']') break;
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p) {
            free(a);
            return -1;
        }
        if (n == cap) a = realloc(a, (size_t)(cap *= 2) * sizeof *a);
        a[n++] = (int32_t)x;
        p = end;
    }
    *out = a;
    return n;
}

/* Returns the JSON string value of "key" unescaped (\n \t \" \\ \/ and \uXXXX in the BMP), or
 * NULL. Caller frees. */
static char *json_string(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p || !(p = strchr(p + strlen(pat), '"'))) return NULL;
    p++;
    char *out = malloc(strlen(p) * 3 + 1), *o = out;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        if (*p == 'n')
            *o++ = '\n';
        else if (*p == 't')
            *o++ = '\t';
        else if (*p == 'u') {
            unsigned c = (unsigned)strtoul((char[5]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            p += 4;
            if (c < 0x80)
                *o++ = (char)c;
            else if (c < 0x800)
                *o++ = (char)(0xC0 | c >> 6), *o++ = (char)(0x80 | (c & 63));
            else
                *o++ = (char)(0xE0 | c >> 12), *o++ = (char)(0x80 | ((c >> 6) & 63)),
                *o++ = (char)(0x80 | (c & 63));
        } else
            *o++ = *p; /* \" \\ \/ */
    }
    *o = 0;
    return out;
}

/* Encodes into a malloc'd array (two calls: size query, then fill). Returns the count or the
 * encoder's error value. */
static int32_t encode(const tn_vocab *v, const char *s, size_t len, bool bos, bool special,
                      int32_t **ids) {
    int32_t n = tn_vocab_encode(v, s, len, bos, special, NULL, 0);
    *ids = NULL;
    if (n == INT32_MIN) return n;
    int32_t need = n < 0 ? -n : n;
    *ids = malloc((size_t)(need ? need : 1) * sizeof **ids);
    return tn_vocab_encode(v, s, len, bos, special, *ids, need);
}

static char *decode(const tn_vocab *v, const int32_t *ids, int32_t n, bool special, bool rm_space,
                    int32_t *len) {
    int32_t need = tn_vocab_detokenize(v, ids, n, special, rm_space, NULL, 0);
    if (need == INT32_MIN) return NULL;
    if (need < 0) need = -need;
    char *buf = malloc((size_t)need + 1);
    *len = tn_vocab_detokenize(v, ids, n, special, rm_space, buf, need);
    buf[need > 0 ? need : 0] = 0;
    return buf;
}

static bool ids_equal(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

static void print_ids(const char *what, const int32_t *a, int32_t n) {
    fprintf(stderr, "  %s (%d):", what, n);
    for (int32_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", a[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* Checks that s encodes to exactly the expected ids. */
static void check_enc(const tn_vocab *v, const char *s, size_t len, bool special,
                      const int32_t *want, int32_t n_want, const char *what) {
    int32_t *ids;
    int32_t n = encode(v, s, len, false, special, &ids);
    bool ok = ids_equal(ids, n, want, n_want);
    CHECK(ok, "%s", what);
    if (!ok) {
        print_ids("got", ids, n);
        print_ids("want", want, n_want);
    }
    free(ids);
}

static tn_vocab *load_vocab(const char *path, tn_gguf **g) {
    *g = tn_gguf_open(path);
    CHECK(*g != NULL, "open %s: %s", path, tn_last_error());
    if (!*g) return NULL;
    tn_vocab *v = tn_vocab_load(*g);
    CHECK(v != NULL, "vocab %s: %s", path, tn_last_error());
    return v;
}

/* ---- in-memory GGUF images for small hand-made vocabularies ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    uint64_t n_kv;
} img;

static void put(img *m, const void *d, size_t n) {
    if (m->n + n > m->cap) {
        m->cap = 2 * (m->n + n) + 256;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, d, n);
    m->n += n;
}
static void put32(img *m, uint32_t x) {
    unsigned char b[4] = {(unsigned char)x, (unsigned char)(x >> 8), (unsigned char)(x >> 16),
                          (unsigned char)(x >> 24)};
    put(m, b, 4);
}
static void put64(img *m, uint64_t x) {
    put32(m, (uint32_t)x);
    put32(m, (uint32_t)(x >> 32));
}
static void put_str(img *m, const char *s, size_t n) {
    put64(m, n);
    put(m, s, n);
}
static void kv_head(img *m, const char *key, uint32_t type) {
    put_str(m, key, strlen(key));
    put32(m, type);
    m->n_kv++;
}
static void kv_str(img *m, const char *key, const char *val) {
    kv_head(m, key, TN_GGUF_STRING);
    put_str(m, val, strlen(val));
}
static void kv_u32(img *m, const char *key, uint32_t val) {
    kv_head(m, key, TN_GGUF_U32);
    put32(m, val);
}
static void kv_bool(img *m, const char *key, bool val) {
    kv_head(m, key, TN_GGUF_BOOL);
    unsigned char b = val;
    put(m, &b, 1);
}

typedef struct {
    const char *text;
    float score;
    int type;
} tok_def;

/* Builds a "llama" vocabulary: the given tokens, then (if bytes) the 256 <0xXX> byte tokens. */
static void kv_vocab(img *m, const tok_def *t, int n, bool bytes) {
    int total = n + (bytes ? 256 : 0);
    kv_str(m, "tokenizer.ggml.model", "llama");
    kv_head(m, "tokenizer.ggml.tokens", TN_GGUF_ARRAY);
    put32(m, TN_GGUF_STRING);
    put64(m, (uint64_t)total);
    for (int i = 0; i < n; i++)
        put_str(m, t[i].text, strlen(t[i].text));
    for (int b = 0; bytes && b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        put_str(m, name, 6);
    }
    kv_head(m, "tokenizer.ggml.scores", TN_GGUF_ARRAY);
    put32(m, TN_GGUF_F32);
    put64(m, (uint64_t)total);
    for (int i = 0; i < total; i++) {
        float f = i < n ? t[i].score : 0.0f;
        uint32_t u;
        memcpy(&u, &f, 4);
        put32(m, u);
    }
    kv_head(m, "tokenizer.ggml.token_type", TN_GGUF_ARRAY);
    put32(m, TN_GGUF_I32);
    put64(m, (uint64_t)total);
    for (int i = 0; i < total; i++)
        put32(m, (uint32_t)(i < n ? t[i].type : TN_TOKEN_BYTE));
}

/* Finishes the image (header in front, padding at the end) and loads its vocabulary. */
static tn_vocab *img_vocab(img *kvs, tn_gguf **g, img *file) {
    img f = {0};
    put(&f, "GGUF", 4);
    put32(&f, 3);
    put64(&f, 0);
    put64(&f, kvs->n_kv);
    put(&f, kvs->p, kvs->n);
    while (f.n % 32)
        put(&f, "", 1);
    *file = f;
    free(kvs->p);
    *g = tn_gguf_open_memory(f.p, f.n, "test-vocab");
    if (!*g) return NULL;
    return tn_vocab_load(*g);
}

static void free_img(tn_vocab *v, tn_gguf *g, img *file) {
    tn_vocab_free(v);
    tn_gguf_close(g);
    free(file->p);
}

/* ---- tests ---- */

static void test_val_text(const tn_vocab *v) {
    size_t text_len = 0, json_len = 0;
    char *text = tn_test_read_file(VAL_TEXT, &text_len);
    char *json = tn_test_read_file(VAL_IDS, &json_len);
    CHECK(text && json, "read %s / %s", VAL_TEXT, VAL_IDS);
    if (!text || !json) return;
    int32_t *want = NULL;
    int64_t n_want = json_int_array(json, "ids", &want);
    CHECK(n_want > 20000, "val-ids.json parsed: %lld ids", (long long)n_want);

    /* SentencePiece was run on the whole text at once: every newline is in the ids (as the
     * <0x0A> byte token, 13), which a line-by-line run would have dropped. */
    int64_t n_nl = 0, n_13 = 0;
    for (size_t i = 0; i < text_len; i++)
        n_nl += text[i] == '\n';
    for (int64_t i = 0; i < n_want; i++)
        n_13 += want[i] == 13;
    CHECK(n_nl == n_13, "newlines %lld vs <0x0A> tokens %lld", (long long)n_nl, (long long)n_13);

    int32_t *ids;
    int32_t n = encode(v, text, text_len, false, false, &ids);
    bool same = ids_equal(ids, n, want, (int32_t)n_want);
    CHECK(same, "whole validation text encodes to SentencePiece's ids (%d vs %lld tokens)", n,
          (long long)n_want);
    if (!same && n > 0) {
        int32_t i = 0;
        while (i < n && i < n_want && ids[i] == want[i])
            i++;
        fprintf(stderr, "  first difference at token %d\n", i);
        int32_t from = i > 5 ? i - 5 : 0;
        print_ids("got from there-5", ids + from, n - from < 15 ? n - from : 15);
        print_ids("want from there-5", want + from,
                  (int32_t)n_want - from < 15 ? (int32_t)n_want - from : 15);
    }

    /* Round trip: the only change is the dummy-prefix space, removed by remove_space. */
    int32_t dlen = 0;
    char *back = decode(v, ids, n, false, true, &dlen);
    CHECK(back && (size_t)dlen == text_len && memcmp(back, text, text_len) == 0,
          "decode(encode(val)) == val (%d vs %zu bytes)", dlen, text_len);
    free(back);
    /* Without remove_space the output is exactly " " + text. */
    back = decode(v, ids, n, false, false, &dlen);
    CHECK(back && (size_t)dlen == text_len + 1 && back[0] == ' ' &&
              memcmp(back + 1, text, text_len) == 0,
          "decode without remove_space = ' ' + text");
    free(back);

    /* A long input: 40 copies of the text (4.4 MB). No token contains '\n', so merges never
     * cross lines and each copy after the first encodes like the first except that its first
     * character "?" has no dummy prefix (the text's first two ids are "▁" and "?", and "▁?" is
     * not a token), so it lacks the first id. */
    bool nl_free = true;
    for (int32_t id = 0; id < tn_vocab_n_tokens(v); id++)
        if (tn_vocab_token_type(v, id) != TN_TOKEN_BYTE && strchr(tn_vocab_text(v, id), '\n'))
            nl_free = false;
    CHECK(nl_free, "no token contains a newline");
    CHECK(text[0] == '?' && text[text_len - 1] == '\n', "validation text starts '?', ends '\\n'");
    CHECK(n_want > 1 && want[0] == tn_vocab_find(v, "\xe2\x96\x81", 3) &&
              want[1] == tn_vocab_find(v, "?", 1) && tn_vocab_find(v, "\xe2\x96\x81?", 4) < 0,
          "first ids are '▁' '?'");
    enum { COPIES = 40 };
    char *big = malloc(COPIES * text_len);
    for (int c = 0; c < COPIES; c++)
        memcpy(big + c * text_len, text, text_len);
    int32_t *exp = malloc((size_t)COPIES * (size_t)n_want * sizeof *exp);
    int64_t n_exp = 0;
    for (int c = 0; c < COPIES; c++) {
        memcpy(exp + n_exp, want + (c > 0), (size_t)(n_want - (c > 0)) * sizeof *exp);
        n_exp += n_want - (c > 0);
    }
    int32_t *big_ids;
    int32_t nb = encode(v, big, COPIES * text_len, false, false, &big_ids);
    CHECK(ids_equal(big_ids, nb, exp, (int32_t)n_exp), "long input (%zu bytes): %d ids",
          COPIES * text_len, nb);
    back = decode(v, big_ids, nb, false, true, &dlen);
    CHECK(back && (size_t)dlen == COPIES * text_len && memcmp(back, big, (size_t)dlen) == 0,
          "long input round trip");
    free(back);
    free(big_ids);
    free(exp);
    free(big);
    free(ids);
    free(want);
    free(json);
    free(text);
}

/* llama.cpp's vocab test vectors: inputs separated by "\n__ggml_vocab_test__\n", ids one line
 * per input. The ids carry no BOS (e.g. "Hello world" -> 15043 3186, "" -> nothing). */
static void test_vocab_vectors(const char *gguf_path) {
    tn_gguf *g;
    tn_vocab *v = load_vocab(gguf_path, &g);
    if (!v) return;
    char path[512];
    size_t inp_len = 0, out_len = 0;
    snprintf(path, sizeof path, "%s.inp", gguf_path);
    char *inp = tn_test_read_file(path, &inp_len);
    snprintf(path, sizeof path, "%s.out", gguf_path);
    char *out = tn_test_read_file(path, &out_len);
    CHECK(inp && out, "read %s.inp/.out", gguf_path);
    const char *sep = "\n__ggml_vocab_test__\n";
    const size_t sep_len = strlen(sep);
    int n_tests = 0, n_pass = 0;
    char *ip = inp, *op = out;
    while (inp && out && ip < inp + inp_len && op < out + out_len) {
        char *ie = strstr(ip, sep);
        size_t ilen = ie ? (size_t)(ie - ip) : (size_t)(inp + inp_len - ip);
        char *oe = strchr(op, '\n');
        if (!oe) oe = out + out_len;
        int32_t want[512];
        int32_t n_want = 0;
        for (char *p = op; p < oe && n_want < 512;) {
            char *end;
            long x = strtol(p, &end, 10);
            if (end == p) break;
            want[n_want++] = (int32_t)x;
            p = end;
        }
        char what[160];
        snprintf(what, sizeof what, "%s test %d: '%.40s'", gguf_path, n_tests, ip);
        int32_t *ids;
        int32_t n = encode(v, ip, ilen, false, false, &ids);
        bool ok = ids_equal(ids, n, want, n_want);
        CHECK(ok, "%s", what);
        if (!ok) {
            print_ids("got", ids, n);
            print_ids("want", want, n_want);
        }
        /* and back: every input round-trips once the dummy-prefix space is removed */
        int32_t dlen = 0;
        char *back = decode(v, ids, n, false, true, &dlen);
        CHECK(back && (size_t)dlen == ilen && memcmp(back, ip, ilen) == 0, "%s round trip", what);
        free(back);
        free(ids);
        n_tests++;
        n_pass += ok;
        if (!ie) break;
        ip = ie + sep_len;
        op = oe + 1;
    }
    printf("%s: %d/%d vectors pass\n", gguf_path, n_pass, n_tests);
    CHECK(n_tests == 46, "%s: %d test vectors (expected 46)", gguf_path, n_tests);
    free(inp);
    free(out);
    tn_vocab_free(v);
    tn_gguf_close(g);
}

/* transformers' own ids and text for the tiny model's greedy run (models/tiny-llama/ref.json):
 * BOS + "ROMEO:" encodes to greedy_prompt_ids, and greedy_ids decode to greedy_text. */
static void test_reference_run(const tn_vocab *v) {
    char *json = tn_test_read_file("models/tiny-llama/ref.json", NULL);
    CHECK(json != NULL, "read ref.json");
    if (!json) return;
    int32_t *prompt = NULL, *greedy = NULL, *ids;
    int64_t np = json_int_array(json, "greedy_prompt_ids", &prompt);
    int64_t ng = json_int_array(json, "greedy_ids", &greedy);
    char *text = json_string(json, "greedy_text");
    CHECK(np == 3 && ng > 20 && text, "ref.json fields");
    int32_t n = encode(v, "ROMEO:", 6, tn_vocab_add_bos(v), false, &ids);
    CHECK(np > 0 && ids_equal(ids, n, prompt, (int32_t)np), "BOS + 'ROMEO:' = greedy_prompt_ids");
    int32_t dlen = 0;
    char *back = ng > 0 ? decode(v, greedy, (int32_t)ng, false, true, &dlen) : NULL;
    CHECK(back && text && strcmp(back, text) == 0, "greedy_ids decode to greedy_text: '%s'",
          back ? back : "(null)");
    /* and back: the generated ids happen to be the canonical encoding of their text */
    free(ids);
    n = text ? encode(v, text, strlen(text), true, false, &ids) : 0;
    CHECK(text && ids_equal(ids, n, greedy, (int32_t)ng), "greedy_text encodes to greedy_ids");
    free(ids);
    free(back);
    free(text);
    free(prompt);
    free(greedy);
    free(json);
}

static void test_metadata_and_edges(const tn_vocab *v) {
    CHECK(tn_vocab_n_tokens(v) == 1024, "n_tokens %d", tn_vocab_n_tokens(v));
    CHECK(tn_vocab_bos(v) == 1 && tn_vocab_eos(v) == 2 && tn_vocab_unk(v) == 0, "bos/eos/unk");
    CHECK(tn_vocab_eot(v) == -1, "no EOT: %d", tn_vocab_eot(v));
    CHECK(tn_vocab_add_bos(v) && !tn_vocab_add_eos(v) && tn_vocab_add_space_prefix(v), "flags");
    CHECK(tn_vocab_is_eog(v, 2) && !tn_vocab_is_eog(v, 1) && !tn_vocab_is_eog(v, 13), "eog");
    CHECK(strcmp(tn_vocab_text(v, 1), "<s>") == 0 && tn_vocab_token_type(v, 1) == TN_TOKEN_CONTROL,
          "token 1 is control <s>");
    CHECK(tn_vocab_token_type(v, 0) == TN_TOKEN_UNKNOWN &&
              tn_vocab_token_type(v, 13) == TN_TOKEN_BYTE,
          "types of 0 and 13");
    CHECK(tn_vocab_text(v, 1024) == NULL && tn_vocab_token_type(v, -1) == -1, "bad ids");

    int32_t ids[8];
    /* empty input: nothing, or just BOS */
    CHECK(tn_vocab_encode(v, "", 0, false, false, ids, 8) == 0, "empty -> 0 tokens");
    CHECK(tn_vocab_encode(v, NULL, 0, false, false, NULL, 0) == 0, "NULL empty -> 0 tokens");
    CHECK(tn_vocab_encode(v, "", 0, true, false, ids, 8) == 1 && ids[0] == 1, "empty+BOS -> [1]");

    /* BOS is prepended only when asked */
    int32_t *a, *b;
    int32_t na = encode(v, "ROMEO:", 6, true, false, &a),
            nb = encode(v, "ROMEO:", 6, false, false, &b);
    CHECK(na == nb + 1 && a[0] == 1 && ids_equal(a + 1, na - 1, b, nb), "add_bos prepends 1");
    /* special tokens in text: parsed only with parse_special (control tokens) */
    int32_t *c;
    int32_t nc = encode(v, "<s>ROMEO:</s>", 13, false, true, &c);
    CHECK(nc == nb + 2 && c[0] == 1 && c[nc - 1] == 2 && ids_equal(c + 1, nc - 2, b, nb),
          "parse_special: <s> ROMEO: </s> -> 1, ids(ROMEO:), 2");
    free(c);
    nc = encode(v, "<s>", 3, false, false, &c);
    bool has_special = false;
    for (int32_t i = 0; i < nc; i++)
        has_special |= c[i] == 1;
    CHECK(nc > 0 && !has_special, "parse_special=false: '<s>' is plain text");
    free(c);

    /* too-small output buffer: the negative of the count needed */
    CHECK(tn_vocab_encode(v, "ROMEO:", 6, false, false, ids, nb - 1) == -nb, "too small -> -%d",
          nb);
    CHECK(tn_vocab_encode(v, "ROMEO:", 6, true, false, NULL, 0) == -(nb + 1), "size query");
    CHECK(tn_vocab_encode(v, "ROMEO:", 6, false, false, ids, nb) == nb, "exact size fits");
    CHECK(tn_vocab_encode(v, "x", 1, false, false, NULL, 4) == INT32_MIN, "NULL out with max 4");
    CHECK(tn_vocab_encode(v, NULL, 3, false, false, ids, 8) == INT32_MIN, "NULL text with len 3");
    free(a);
    free(b);

    /* embedded NUL: a byte-fallback token, <0x00> = 3 */
    const int32_t sp_a = tn_vocab_find(v,
                                       "\xe2\x96\x81"
                                       "a",
                                       4),
                  t_b = tn_vocab_find(v, "b", 1);
    CHECK(sp_a >= 0 && t_b >= 0 &&
              tn_vocab_find(v,
                            "\0"
                            "b",
                            2) < 0,
          "'▁a' and 'b' exist");
    int32_t want_nul[] = {sp_a, 3, t_b};
    check_enc(v, "a\0b", 3, false, want_nul, 3, "a NUL b -> ▁a <0x00> b");

    /* Invalid UTF-8 (llama.cpp's rule: a symbol's length comes from its lead byte, clipped at the
     * end; symbols not in the vocabulary become byte tokens <0xXX> = 3 + byte here). */
    const int32_t sp = tn_vocab_find(v, "\xe2\x96\x81", 3);
    CHECK(sp >= 0 && strcmp(tn_vocab_text(v, 3 + 0xC3), "<0xC3>") == 0, "'▁' and byte ids");
    int32_t w1[] = {sp, 3 + 0xFF};
    check_enc(v, "\xff", 1, false, w1, 2, "lone 0xFF");
    int32_t w2[] = {sp, 3 + 0x80};
    check_enc(v, "\x80", 1, false, w2, 2, "lone continuation byte");
    int32_t w3[] = {sp, 3 + 0xC3, 3 + 0x41}; /* "\xC3" swallows 'A': the pair goes out as bytes */
    check_enc(v,
              "\xc3"
              "A",
              2, false, w3, 3, "0xC3 'A'");
    int32_t w4[] = {sp, 3 + 0x0A, 3 + 0xF0}; /* truncated 4-byte sequence at the end */
    check_enc(v, "\n\xf0", 2, false, w4, 3, "newline 0xF0(truncated)");
    const char *bad[] = {"\xed\xa0\x80 surrogate", "over\xc0\xaflong", "\xf8\x88\x80\x80\x80",
                         "mix\xe2\x82x\xff\xfe"
                         "abcd end\xe2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int32_t *ib, dlen;
        int32_t ni = encode(v, bad[i], strlen(bad[i]), false, false, &ib);
        char *back = decode(v, ib, ni, false, true, &dlen);
        CHECK(ni > 0 && back && (size_t)dlen == strlen(bad[i]) &&
                  memcmp(back, bad[i], (size_t)dlen) == 0,
              "invalid UTF-8 #%zu round-trips byte-exactly", i);
        free(back);
        free(ib);
    }

    /* The one case where bytes do not round-trip (same in llama.cpp): spaces are turned into "▁"
     * before the text is cut into characters, so a truncated lead byte right before a space
     * swallows part of the "▁" and the byte fallback emits U+2581's bytes instead of ' '. */
    const int32_t t_x = tn_vocab_find(v, "x", 1);
    int32_t w5[] = {sp, 3 + 0xE2, 3 + 0x82, 3 + 0xE2, 3 + 0x96, 3 + 0x81, t_x};
    check_enc(v, "\xe2\x82 x", 4, false, w5, 7, "truncated sequence before a space");
    int32_t dl5;
    char *d5 = decode(v, w5, 7, false, true, &dl5);
    CHECK(d5 && dl5 == 6 && memcmp(d5, "\xe2\x82\xe2\x96\x81x", 6) == 0, "decodes with U+2581");
    free(d5);

    /* token_to_piece */
    char buf[16];
    CHECK(tn_vocab_token_to_piece(v, sp_a, false, buf, 16) == 2 && memcmp(buf, " a", 2) == 0,
          "▁a -> ' a'");
    CHECK(tn_vocab_token_to_piece(v, sp_a, false, buf, 1) == -2, "too small -> -2");
    CHECK(tn_vocab_token_to_piece(v, 3 + 0x0A, false, buf, 16) == 1 && buf[0] == '\n', "<0x0A>");
    CHECK(tn_vocab_token_to_piece(v, 1, false, buf, 16) == 0, "<s> hidden");
    CHECK(tn_vocab_token_to_piece(v, 1, true, buf, 16) == 3 && memcmp(buf, "<s>", 3) == 0,
          "<s> shown with special");
    CHECK(tn_vocab_token_to_piece(v, 0, false, buf, 16) == 0, "<unk> hidden");
    CHECK(tn_vocab_token_to_piece(v, 1024, false, buf, 16) == INT32_MIN, "bad id");
}

static void test_phi3_specials(void) {
    tn_gguf *g;
    tn_vocab *v = load_vocab("tests/data/vocab/ggml-vocab-phi-3.gguf", &g);
    if (!v) return;
    CHECK(tn_vocab_bos(v) == 1 && tn_vocab_eos(v) == 32000, "phi-3 bos/eos");
    CHECK(tn_vocab_eot(v) == 32007, "phi-3 EOT detected as <|end|>: %d", tn_vocab_eot(v));
    CHECK(tn_vocab_is_eog(v, 32000) && tn_vocab_is_eog(v, 32007) && tn_vocab_is_eog(v, 2) &&
              !tn_vocab_is_eog(v, 32010),
          "phi-3 EOG set");
    /* <|user|> swallows the following newline (RSTRIP); the text after a special token gets the
     * dummy prefix; "▁Hello" = 15043 (from the test vectors). */
    int32_t want[] = {32010, 15043, 32007, 32001};
    const char *chat = "<|user|>\nHello<|end|>\n<|assistant|>";
    check_enc(v, chat, strlen(chat), true, want, 4, "phi-3 chat markup with parse_special");
    /* <|endoftext|> keeps the whitespace after it */
    int32_t want2[] = {32000, 29871, 15043};
    check_enc(v, "<|endoftext|> Hello", 19, true, want2, 3, "<|endoftext|> ' Hello'");
    /* without parse_special the markup is plain text and round-trips */
    int32_t *ids, dlen;
    int32_t n = encode(v, chat, strlen(chat), false, false, &ids);
    bool any = false;
    for (int32_t i = 0; i < n; i++)
        any |= ids[i] >= 32000;
    char *back = decode(v, ids, n, false, true, &dlen);
    CHECK(n > 4 && !any && back && strcmp(back, chat) == 0, "markup as text round-trips");
    free(back);
    free(ids);
    /* "</s>" (user-defined in the file) ends generation, so like llama.cpp it counts as control:
     * plain text without parse_special, token 2 with it. */
    int32_t want3[] = {15043, 2};
    check_enc(v, "Hello</s>", 9, true, want3, 2, "Hello</s> parse_special");
    n = encode(v, "Hello</s>", 9, false, false, &ids);
    CHECK(n > 2 && ids[n - 1] != 2, "</s> as text without parse_special");
    free(ids);
    tn_vocab_free(v);
    tn_gguf_close(g);
}

static void test_small_vocab(void) {
    const char *S = "\xe2\x96\x81"; /* ▁ */
    char sa[8];
    snprintf(sa, sizeof sa, "%sa", S);
    /* ids: 0 <unk>, 1 <s>, 2 </s>, 3 ▁, 4 a, 5 b, 6 ▁a, 7 ab, 8 ba, 9 <tag>, 10 <ctl>, 11..266
     * bytes */
    tok_def t[] = {{"<unk>", 0, TN_TOKEN_UNKNOWN}, {"<s>", 0, TN_TOKEN_CONTROL},
                   {"</s>", 0, TN_TOKEN_CONTROL},  {S, -10, TN_TOKEN_NORMAL},
                   {"a", -11, TN_TOKEN_NORMAL},    {"b", -12, TN_TOKEN_NORMAL},
                   {sa, -5, TN_TOKEN_NORMAL},      {"ab", -1, TN_TOKEN_NORMAL},
                   {"ba", -1, TN_TOKEN_NORMAL},    {"<tag>", 0, TN_TOKEN_USER_DEFINED},
                   {"<ctl>", 0, TN_TOKEN_CONTROL}};
    img m = {0}, file;
    tn_gguf *g;
    kv_vocab(&m, t, 11, true);
    tn_vocab *v = img_vocab(&m, &g, &file);
    CHECK(v != NULL, "small vocab: %s", tn_last_error());
    if (v) {
        /* equal scores: the leftmost pair merges first ("ab" before "ba") */
        int32_t w1[] = {3, 7, 4};
        check_enc(v, "aba", 3, false, w1, 3, "tie -> leftmost");
        /* user-defined tokens are matched even without parse_special; control ones are not */
        int32_t w2[] = {6, 9, 3, 5};
        check_enc(v, "a<tag>b", 7, false, w2, 4, "user-defined without parse_special");
        int32_t w3[] = {6, 10, 3, 5};
        check_enc(v, "a<ctl>b", 7, true, w3, 4, "control with parse_special");
        int32_t *ids;
        int32_t n = encode(v, "a<ctl>b", 7, false, false, &ids);
        CHECK(n > 4 && ids[1] != 10, "control ignored without parse_special");
        free(ids);
        /* a character outside the vocabulary -> its UTF-8 bytes as byte tokens (11 + byte) */
        int32_t w4[] = {6, 11 + 0xC3, 11 + 0xA9};
        check_enc(v, "a\xc3\xa9", 3, false, w4, 3, "é -> <0xC3> <0xA9>");
        /* spaces: each becomes ▁ */
        int32_t w5[] = {6, 3, 6};
        check_enc(v, "a  a", 4, false, w5, 3, "double space");
        CHECK(tn_vocab_add_space_prefix(v) && tn_vocab_eot(v) == -1, "defaults");
        /* one 10000-character piece (no cut possible): ▁ then 5000 x "ab" (ties go left) */
        enum { REP = 5000 };
        char *abs = malloc(2 * REP);
        int32_t *wab = malloc((REP + 1) * sizeof *wab);
        wab[0] = 3;
        for (int i = 0; i < REP; i++)
            abs[2 * i] = 'a', abs[2 * i + 1] = 'b', wab[i + 1] = 7;
        check_enc(v, abs, 2 * REP, false, wab, REP + 1, "long piece: ▁ (ab)x5000");
        free(abs);
        free(wab);
    }
    free_img(v, g, &file);

    /* a higher score beats position: "ba" (0) merges before "ab" (-1) */
    t[8].score = 0;
    m = (img){0};
    kv_vocab(&m, t, 11, true);
    v = img_vocab(&m, &g, &file);
    int32_t w6[] = {6, 8};
    if (v) check_enc(v, "aba", 3, false, w6, 2, "higher score first");
    free_img(v, g, &file);

    /* no dummy prefix, no byte tokens (unknown byte -> <unk>), ids from metadata */
    m = (img){0};
    kv_vocab(&m, t, 11, false);
    kv_bool(&m, "tokenizer.ggml.add_space_prefix", false);
    kv_bool(&m, "tokenizer.ggml.add_bos_token", false);
    kv_u32(&m, "tokenizer.ggml.eos_token_id", 10);
    kv_u32(&m, "tokenizer.ggml.bos_token_id", 5000); /* out of range: ignored, default 1 kept */
    v = img_vocab(&m, &g, &file);
    CHECK(v != NULL, "no-byte vocab: %s", tn_last_error());
    if (v) {
        int32_t w7[] = {8, 0, 0};
        check_enc(v, "ba\xc3\xa9", 4, false, w7, 3, "no prefix; é -> <unk> <unk>");
        CHECK(!tn_vocab_add_bos(v) && tn_vocab_bos(v) == 1 && tn_vocab_eos(v) == 10, "ids");
        CHECK(tn_vocab_is_eog(v, 10) && tn_vocab_is_eog(v, 2), "eog: eos and </s>");
    }
    free_img(v, g, &file);

    /* Merges across a "▁" when the vocabulary has such tokens (the encoder cuts the text only
     * between characters that never occur next to each other inside a token). */
    char x_[8], x_y[8];
    snprintf(x_, sizeof x_, "x%s", S);
    snprintf(x_y, sizeof x_y, "x%sy", S);
    tok_def tx[] = {{"<unk>", 0, TN_TOKEN_UNKNOWN}, {"<s>", 0, TN_TOKEN_CONTROL},
                    {"</s>", 0, TN_TOKEN_CONTROL},  {S, -1, TN_TOKEN_NORMAL},
                    {"x", -1, TN_TOKEN_NORMAL},     {"y", -1, TN_TOKEN_NORMAL},
                    {x_, -2, TN_TOKEN_NORMAL},      {x_y, -3, TN_TOKEN_NORMAL}};
    m = (img){0};
    kv_vocab(&m, tx, 8, false);
    v = img_vocab(&m, &g, &file);
    int32_t w8[] = {3, 7, 3, 6, 3, 5};
    if (v) check_enc(v, "x y x  y", 8, false, w8, 6, "merges across ▁: x▁y");
    free_img(v, g, &file);

    /* load errors: duplicate token, unsupported model, missing model */
    tok_def dup[] = {{"a", 0, 1}, {"a", 0, 1}};
    m = (img){0};
    kv_vocab(&m, dup, 2, false);
    v = img_vocab(&m, &g, &file);
    CHECK(v == NULL && strstr(tn_last_error(), "duplicate"), "duplicate token: %s",
          tn_last_error());
    free_img(v, g, &file);
    m = (img){0};
    kv_str(&m, "tokenizer.ggml.model", "gpt2");
    v = img_vocab(&m, &g, &file);
    CHECK(v == NULL && strstr(tn_last_error(), "gpt2"), "gpt2 not yet: %s", tn_last_error());
    free_img(v, g, &file);
    m = (img){0};
    kv_u32(&m, "general.alignment", 32);
    v = img_vocab(&m, &g, &file);
    CHECK(v == NULL && strstr(tn_last_error(), "tokenizer.ggml.model"), "missing model: %s",
          tn_last_error());
    free_img(v, g, &file);
}

/* Random byte strings mixed with special-token texts, spaces and pieces of "▁": no crash (run
 * under SAN=1), the size query agrees with the fill, ids are in range, and with
 * parse_special=false text without ' ' or "▁" round-trips byte-exactly. */
static void test_random(void) {
    tn_gguf *g;
    tn_vocab *v = load_vocab("tests/data/vocab/ggml-vocab-phi-3.gguf", &g);
    if (!v) return;
    static const char *const parts[] = {"<|end|>",  "</s>", "<s>", "<|user|>", "\xe2\x96\x81",
                                        "\xe2\x96", "\n",   "  ",  "Hello",    "\xf0\x9f\xa6\x99"};
    uint32_t seed = 12345;
    int bad_count = 0, bad_ids = 0, bad_trip = 0;
    for (int it = 0; it < 3000; it++) {
        char s[256];
        size_t len = 0;
        seed = seed * 1664525u + 1013904223u;
        int n_parts = (int)(seed >> 24) % 24;
        bool has_space = false;
        for (int k = 0; k < n_parts; k++) {
            seed = seed * 1664525u + 1013904223u;
            uint32_t r = seed >> 8;
            if (r % 3 == 0) {
                const char *p = parts[(r / 3) % 10];
                size_t pl = strlen(p);
                if (len + pl >= sizeof s) break;
                memcpy(s + len, p, pl);
                len += pl;
            } else if (len + 1 < sizeof s) {
                s[len++] = (char)(r >> 8);
            }
        }
        /* a space or a literal U+2581 both decode to ' ' */
        for (size_t i = 0; i < len; i++)
            has_space |= s[i] == ' ';
        has_space |= memmem(s, len, "\xe2\x96\x81", 3) != NULL;
        bool special = it & 1;
        int32_t *ids;
        int32_t n = encode(v, s, len, it % 3 == 0, special, &ids);
        int32_t n2 = tn_vocab_encode(v, s, len, it % 3 == 0, special, NULL, 0);
        bad_count += n < 0 || n2 != (n > 0 ? -n : 0);
        for (int32_t i = 0; i < n; i++)
            bad_ids += ids[i] < 0 || ids[i] >= tn_vocab_n_tokens(v);
        if (!special && !has_space && it % 3 != 0) {
            int32_t dlen;
            char *back = decode(v, ids, n, false, true, &dlen);
            bad_trip += !back || (size_t)dlen != len || memcmp(back, s, len) != 0;
            free(back);
        }
        free(ids);
    }
    CHECK(bad_count == 0, "%d size-query mismatches", bad_count);
    CHECK(bad_ids == 0, "%d ids out of range", bad_ids);
    CHECK(bad_trip == 0, "%d round-trip failures", bad_trip);
    tn_vocab_free(v);
    tn_gguf_close(g);
}

int main(void) {
    tn_gguf *g;
    tn_vocab *v = load_vocab(LLAMA_GGUF, &g);
    if (v) {
        test_val_text(v);
        test_metadata_and_edges(v);
        test_reference_run(v);
    }
    tn_vocab_free(v);
    tn_gguf_close(g);
    test_vocab_vectors("tests/data/vocab/ggml-vocab-llama-spm.gguf");
    test_vocab_vectors("tests/data/vocab/ggml-vocab-phi-3.gguf");
    test_phi3_specials();
    test_small_vocab();
    test_random();
    return tn_test_done("test_tokenizer");
}
