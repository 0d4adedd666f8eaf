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

static void check_enc(const tn_vocab *v, const char *s, bool special, const int32_t *want,
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

/* ---- pre-tokenizer splits, worked out by hand from the expressions ---- */

typedef struct {
    char buf[1024];
    size_t n;
} joined;

static int join_piece(void *user, const char *piece, size_t len) {
    joined *j = user;
    if (j->n + len + 2 > sizeof j->buf) return 1;
    if (j->n) j->buf[j->n++] = '|';
    memcpy(j->buf + j->n, piece, len);
    j->n += len;
    j->buf[j->n] = 0;
    return 0;
}

/* Splits text with pre-tokenizer `name` and compares the pieces, joined with '|', to want. */
static void check_split(const tn_pretok *p, const char *name, const char *text, const char *want) {
    joined j = {{0}, 0};
    int rc = tn_pretok_split(p, text, strlen(text), join_piece, &j);
    bool ok = rc == 0 && strcmp(j.buf, want) == 0;
    CHECK(ok, "%s split of '%s'", name, text);
    if (!ok) fprintf(stderr, "  got  '%s' (rc %d)\n  want '%s'\n", j.buf, rc, want);
}

static void test_pretokenizers(void) {
    /* Llama-3: contractions case-insensitive, letters with one leading non-letter/digit
     * (not \r \n), digits in groups of 1-3, punctuation runs with an optional leading space and
     * trailing newlines, newline runs with the spaces before them, spaces before a space kept
     * apart. CJK ideographs are letters (\p{Lo}); emoji are symbols. */
    tn_pretok *p = tn_pretok_new("llama-bpe");
    CHECK(p && strcmp(tn_pretok_family(p), "llama3") == 0 && tn_pretok_ignore_merges(p) &&
              tn_pretok_add_bos(p),
          "llama-bpe -> llama3, ignore_merges, add_bos");
    static const char *const llama3[][2] = {
        {"Hello world", "Hello| world"},
        {"I've been 'told he's there", "I|'ve| been| '|told| he|'s| there"},
        {"WE'VE WE'LL I'M HE'S 'D it'S", "WE|'VE| WE|'LL| I|'M| HE|'S| '|D| it|'S"},
        {"don't you'd they're", "don|'t| you|'d| they|'re"},
        {"1234567 12", "123|456|7| |12"},
        {"3.14159", "3|.|141|59"},
        {"a  b", "a| | b"},
        {"a   ", "a|   "},
        {"a\n\nb", "a|\n\n|b"},
        {"a \n b", "a| \n| b"},
        {"x\r\ny", "x|\r\n|y"},
        {"Hello, world!!!\n", "Hello|,| world|!!!\n"},
        {"(hello) ...world", "(hello|)| ...|world"},
        {"\tword", "\tword"},
        {"\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xe5\xb7\xa5\xe4\xbd\x9c" "1314151",
         "\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xe5\xb7\xa5\xe4\xbd\x9c|131|415|1"},
        {"\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c",
         "\xe4\xbd\xa0\xe5\xa5\xbd|\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c"}, /* 你好，世界 */
        {"\xf0\x9f\xa6\x99\xf0\x9f\xa6\x99 ok", "\xf0\x9f\xa6\x99\xf0\x9f\xa6\x99| ok"},
        {"hi \xf0\x9f\x98\x81!", "hi| \xf0\x9f\x98\x81!"},
        {"caf\xc3\xa9 na\xc3\xafve", "caf\xc3\xa9| na\xc3\xafve"},
    };
    for (size_t i = 0; p && i < sizeof llama3 / sizeof *llama3; i++)
        check_split(p, "llama3", llama3[i][0], llama3[i][1]);
    tn_pretok_free(p);

    /* Qwen2: the same expression with single digits. */
    p = tn_pretok_new("qwen2");
    CHECK(p && strcmp(tn_pretok_family(p), "qwen2") == 0 && !tn_pretok_ignore_merges(p),
          "qwen2 family");
    static const char *const qwen2[][2] = {
        {"1234567 12", "1|2|3|4|5|6|7| |1|2"},
        {"3.14", "3|.|1|4"},
        {"I've been 'told he's there", "I|'ve| been| '|told| he|'s| there"},
        {"WE'VE it'S", "WE|'VE| it|'S"},
        {"a  b\n\n c", "a| | b|\n\n| c"},
        {"\xe6\x88\x91\xe6\x83\xb3" "abc123", "\xe6\x88\x91\xe6\x83\xb3" "abc|1|2|3"},
        {"x = [1, 22];", "x| =| [|1|,| |2|2|];"},
    };
    for (size_t i = 0; p && i < sizeof qwen2 / sizeof *qwen2; i++)
        check_split(p, "qwen2", qwen2[i][0], qwen2[i][1]);
    tn_pretok_free(p);

    /* GPT-2: contractions only lower-case, one optional space before letters/digits/other. */
    p = tn_pretok_new("gpt-2");
    CHECK(p && !tn_pretok_add_bos(p), "gpt-2: no BOS by default");
    if (p) {
        check_split(p, "gpt2", "Hello world's 123 4567!!", "Hello| world|'s| 123| 4567|!!");
        check_split(p, "gpt2", "WE'VE", "WE|'|VE");
        check_split(p, "gpt2", "a  b\t\tc", "a| | b|\t|\t|c");
    }
    tn_pretok_free(p);
    /* DeepSeek-Coder: newline, letters (with a leading space), punctuation, CJK, single digits. */
    p = tn_pretok_new("deepseek-coder");
    if (p) check_split(p, "deepseek-coder", "a1 b23\n!?", "a|1| b|2|3|\n|!?");
    tn_pretok_free(p);
    /* Falcon / default: digits in threes after the GPT-2 split. */
    p = tn_pretok_new("falcon");
    if (p) check_split(p, "falcon", "x 1234567", "x| |123|456|7");
    tn_pretok_free(p);
    p = tn_pretok_new(NULL);
    CHECK(p && strcmp(tn_pretok_family(p), "default") == 0, "missing pre -> default");
    tn_pretok_free(p);
    p = tn_pretok_new("no-such-pre");
    CHECK(!p && strstr(tn_last_error(), "no-such-pre") && strstr(tn_last_error(), "llama-bpe"),
          "unknown pre-tokenizer: %s", tn_last_error());

    /* Invalid UTF-8 never matches: it stays in the pieces between matches, covering the text. */
    p = tn_pretok_new("llama-bpe");
    if (p) {
        check_split(p, "llama3", "ab\xff\xfe" "cd", "ab|\xff\xfe|cd");
        check_split(p, "llama3", "x\xe2\x82 y", "x|\xe2\x82| y");
    }
    tn_pretok_free(p);
}

/* ---- special tokens, metadata ---- */

static int32_t find(const tn_vocab *v, const char *s) {
    return tn_vocab_find(v, s, strlen(s));
}

/* Long texts (where the special-token search skips tokens whose byte pairs the text lacks):
 * DeepSeek-LLM's user-defined "ÿ" and its end-of-sentence control token inside 8 KB of text cut
 * the text into fragments that encode on their own, so the ids are those of the parts joined. */
static void test_long_specials(void) {
    tn_gguf *g;
    tn_vocab *v = open_vocab("deepseek-llm", &g);
    size_t vl = 0;
    char *val = tn_test_read_file("tests/data/text/tinyshakespeare-val.txt", &vl);
    CHECK(val && vl > 9000, "validation text");
    if (!v || !val || vl <= 9000) {
        free(val);
        if (v) close_vocab(v, g);
        return;
    }
    static const char eos[] = "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
    const char *a = val, *b = val + 4500;
    size_t al = 4500, bl = 4500;
    char *text = malloc(al + bl + 64);
    int32_t y = find(v, "\xc3\xbf"), e = find(v, eos);
    CHECK(y >= 0 && tn_vocab_token_type(v, y) == TN_TOKEN_USER_DEFINED && e >= 0,
          "deepseek-llm: 'ÿ' user-defined, end of sentence token");
    for (int special = 0; special < 2 && y >= 0 && e >= 0; special++) {
        const char *mid = special ? eos : "\xc3\xbf";
        size_t ml = strlen(mid);
        memcpy(text, a, al);
        memcpy(text + al, mid, ml);
        memcpy(text + al + ml, b, bl);
        int32_t *all, *pa, *pb;
        int32_t n = encode(v, text, al + ml + bl, false, special, &all);
        int32_t na = encode(v, a, al, false, special, &pa);
        int32_t nb = encode(v, b, bl, false, special, &pb);
        bool ok = n == na + 1 + nb && n > 0 && na > 0 && nb > 0 &&
                  !memcmp(all, pa, (size_t)na * sizeof *all) && all[na] == (special ? e : y) &&
                  !memcmp(all + na + 1, pb, (size_t)nb * sizeof *all);
        CHECK(ok, "deepseek-llm 9 KB text with %s in the middle: %d ids vs %d + 1 + %d",
              special ? "end of sentence (parse_special)" : "'ÿ'", n, na, nb);
        free(all);
        free(pa);
        free(pb);
    }
    free(text);
    free(val);
    close_vocab(v, g);
}

static void test_specials(void) {
    tn_gguf *g;
    tn_vocab *v = open_vocab("gpt-2", &g);
    if (v) {
        CHECK(strcmp(tn_vocab_model_name(v), "gpt2") == 0, "model name");
        CHECK(tn_vocab_bos(v) == 50256 && tn_vocab_eos(v) == 50256 && !tn_vocab_add_bos(v) &&
                  tn_vocab_eot(v) == 50256 && tn_vocab_is_eog(v, 50256) && tn_vocab_unk(v) == -1,
              "gpt-2 bos/eos/eot/add_bos");
        int32_t hello = find(v, "Hello");
        int32_t w1[] = {hello, 50256};
        check_enc(v, "Hello<|endoftext|>", true, w1, 2, "parse_special: <|endoftext|> -> 50256");
        int32_t *ids;
        int32_t n = encode(v, "Hello<|endoftext|>", 18, false, false, &ids);
        bool any = false;
        for (int32_t i = 0; i < n; i++)
            any |= ids[i] == 50256;
        CHECK(n > 2 && ids[0] == hello && !any, "without parse_special it is text (%d ids)", n);
        free(ids);
        /* add_bos when asked, even though the vocabulary does not add it by default */
        n = encode(v, "Hello", 5, true, false, &ids);
        CHECK(n == 2 && ids[0] == 50256 && ids[1] == hello, "explicit BOS");
        free(ids);
        /* token_to_piece: byte-level characters back to bytes; control hidden unless special */
        char buf[32];
        int32_t sp = find(v, "\xc4\xa0Hello"); /* "ĠHello" */
        CHECK(sp >= 0 && tn_vocab_token_to_piece(v, sp, false, buf, 32) == 6 &&
                  memcmp(buf, " Hello", 6) == 0,
              "ĠHello -> ' Hello'");
        CHECK(tn_vocab_token_to_piece(v, sp, false, buf, 3) == -6, "too small -> -6");
        CHECK(tn_vocab_token_to_piece(v, 50256, false, buf, 32) == 0 &&
                  tn_vocab_token_to_piece(v, 50256, true, buf, 32) == 13,
              "<|endoftext|> hidden / shown");
        int32_t nl = find(v, "\xc4\x8a"); /* "Ċ" = '\n' */
        CHECK(nl >= 0 && tn_vocab_token_to_piece(v, nl, false, buf, 32) == 1 && buf[0] == '\n',
              "Ċ -> newline");
        close_vocab(v, g);
    }

    v = open_vocab("deepseek-llm", &g);
    if (v) {
        CHECK(tn_vocab_bos(v) == 100000 && tn_vocab_eos(v) == 100001 && tn_vocab_add_bos(v) &&
                  tn_vocab_eot(v) == 100001 && tn_vocab_is_eog(v, 100001),
              "deepseek-llm metadata");
        int32_t *ids;
        int32_t n = encode(v, "Hello", 5, tn_vocab_add_bos(v), false, &ids);
        CHECK(n == 2 && ids[0] == 100000, "BOS from add_bos_token");
        free(ids);
        /* "<｜begin▁of▁sentence｜>" is control: parsed only with parse_special */
        const char *bos_text = tn_vocab_text(v, 100000);
        int32_t w[] = {100000};
        check_enc(v, bos_text, true, w, 1, "BOS text with parse_special");
        n = encode(v, bos_text, strlen(bos_text), false, false, &ids);
        CHECK(n > 1, "BOS text as plain text: %d ids", n);
        free(ids);
        close_vocab(v, g);
    }

    /* DeepSeek-Coder's user-defined tokens ("õ" = 32000, ...) are matched even without
     * parse_special, and decode to their raw text. */
    v = open_vocab("deepseek-coder", &g);
    if (v) {
        int32_t a = find(v, "a");
        int32_t w[] = {a, 32000, a};
        check_enc(v, "a\xc3\xb5" "a", false, w, 3, "user-defined õ without parse_special");
        char buf[8];
        CHECK(tn_vocab_token_to_piece(v, 32000, false, buf, 8) == 2 &&
                  memcmp(buf, "\xc3\xb5", 2) == 0,
              "user-defined decodes raw");
        close_vocab(v, g);
    }

    /* MPT (GPT-NeoX): runs of spaces are user-defined tokens ("    " = 50274). */
    v = open_vocab("mpt", &g);
    if (v) {
        int32_t w[] = {find(v, "a"), 50274, find(v, "b")};
        check_enc(v, "a    b", false, w, 3, "mpt: 4 spaces are one added token");
        close_vocab(v, g);
    }

    /* WordPiece: [CLS] text [SEP]; [MASK] only with parse_special; decode is normalized. */
    v = open_vocab("bert-bge", &g);
    if (v) {
        CHECK(tn_vocab_bos(v) == 101 && tn_vocab_sep(v) == 102 && tn_vocab_unk(v) == 100 &&
                  tn_vocab_add_bos(v) && tn_vocab_eos(v) == -1,
              "bert ids");
        int32_t *ids;
        int32_t n = encode(v, "Hello, World!", 13, true, false, &ids);
        int32_t want[] = {101, 7592, 1010, 2088, 999, 102};
        CHECK(ids_equal(ids, n, want, 6), "[CLS] hello , world ! [SEP]");
        int32_t dl;
        char *back = decode(v, ids + 1, n - 2, false, &dl);
        CHECK(back && strcmp(back, " hello , world !") == 0, "decode: '%s'", back ? back : "");
        free(back);
        free(ids);
        int32_t wm[] = {7592, 103};
        check_enc(v, "hello [MASK]", true, wm, 2, "[MASK] with parse_special");
        n = encode(v, "hello [MASK]", 12, false, false, &ids);
        CHECK(n == 4 && ids[1] == find(v, "\xe2\x96\x81["), "[MASK] as text: [ mask ]");
        free(ids);
        /* accents stripped, case folded, invalid bytes and control characters removed */
        int32_t *a, *b;
        int32_t na = encode(v, "Caf\xc3\xa9 NA\xc3\x8fVE", 12, false, false, &a);
        int32_t nb = encode(v, "cafe naive", 10, false, false, &b);
        CHECK(na > 0 && ids_equal(a, na, b, nb), "Café NAÏVE == cafe naive");
        free(a);
        const char *dirty = "ca\xff" "fe\x01 na\xe2\x80\x8bive";
        na = encode(v, dirty, strlen(dirty), false, false, &a);
        CHECK(na > 0 && ids_equal(a, na, b, nb), "invalid byte, \\x01, ZWSP removed");
        free(a);
        free(b);
        /* a word of more than 100 characters is [UNK] */
        char longw[202];
        memset(longw, 'a', 101);
        longw[101] = 0;
        int32_t wu[] = {100};
        check_enc(v, longw, false, wu, 1, "101-character word -> [UNK]");
        longw[100] = 0;
        n = encode(v, longw, 100, false, false, &ids);
        CHECK(n > 1 && ids[0] != 100, "100-character word is matched (%d ids)", n);
        free(ids);
        close_vocab(v, g);
    }
}

/* ---- merges on a hand-made vocabulary ---- */

/* Writes a gpt2 vocabulary with the given tokens and merges to g_dir/name and loads it. */
static tn_vocab *small_vocab(const char *name, const char *pre, const char *const *tokens, int nt,
                             const char *const *merges, int nm, tn_gguf **g) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.gguf", g_dir, name);
    tn_gguf_writer *w = tn_gguf_writer_new();
    int32_t types[64];
    for (int i = 0; i < nt; i++)
        types[i] = TN_TOKEN_NORMAL;
    tn_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre) tn_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    tn_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, (uint64_t)nt);
    tn_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TN_GGUF_I32, types, (uint64_t)nt);
    if (merges) tn_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, (uint64_t)nm);
    int rc = tn_gguf_writer_write(w, path, NULL, NULL);
    tn_gguf_writer_free(w);
    CHECK(rc == 0, "write %s: %s", path, tn_last_error());
    *g = tn_gguf_open(path);
    return *g ? tn_vocab_load(*g) : NULL;
}

static void test_merges(void) {
    static const char *const toks[] = {"a", "b", "c", "ab", "bc", "abc", "aa", "\xc4\xa0"};
    tn_gguf *g;
    /* "b c" has the lower rank: a + bc, then "a bc" -> abc */
    static const char *const m1[] = {"b c", "a b", "a bc"};
    tn_vocab *v = small_vocab("m1", "gpt-2", toks, 8, m1, 3, &g);
    CHECK(v != NULL, "m1: %s", tn_last_error());
    if (v) {
        int32_t w[] = {5};
        check_enc(v, "abc", false, w, 1, "b c (rank 0), then a bc -> abc");
        int32_t w2[] = {3, 0};
        check_enc(v, "aba", false, w2, 2, "a b merges, a stays");
        /* no "a a" merge and 'x' has no token (no unk): dropped */
        int32_t w3[] = {0, 0};
        check_enc(v, "axa", false, w3, 2, "byte without token is dropped");
    }
    close_vocab(v, g);
    /* "a b" first: ab + c, and "ab c" is not a merge: two tokens */
    static const char *const m2[] = {"a b", "b c", "a a"};
    v = small_vocab("m2", "gpt-2", toks, 8, m2, 3, &g);
    if (v) {
        int32_t w[] = {3, 2};
        check_enc(v, "abc", false, w, 2, "a b (rank 0) -> ab c");
        int32_t w2[] = {6, 0};
        check_enc(v, "aaa", false, w2, 2, "ties go left: aa a");
        int32_t w3[] = {7, 0};
        check_enc(v, " a", false, w3, 2, "space is Ġ; no merge with a");
    }
    close_vocab(v, g);
    /* Llama-3 looks the whole piece up first (ignore_merges): "abc" is a token */
    v = small_vocab("m3", "llama-bpe", toks, 8, m2, 3, &g);
    if (v) {
        int32_t w[] = {5};
        check_enc(v, "abc", false, w, 1, "ignore_merges: abc whole");
        CHECK(tn_vocab_add_bos(v) && tn_vocab_bos(v) == -1, "llama3 wants BOS; 11 >= n_tokens");
    }
    close_vocab(v, g);
    /* load errors */
    v = small_vocab("m4", "gpt-2", toks, 8, NULL, 0, &g);
    CHECK(!v && strstr(tn_last_error(), "tokenizer.ggml.merges"), "no merges: %s",
          tn_last_error());
    close_vocab(v, g);
    v = small_vocab("m5", "klingon", toks, 8, m1, 3, &g);
    CHECK(!v && strstr(tn_last_error(), "klingon"), "unknown pre: %s", tn_last_error());
    close_vocab(v, g);
}

/* ---- invalid UTF-8 and random input ---- */

/* The token of byte b's character in GPT-2's byte-to-unicode map (printable Latin-1 bytes stand
 * for themselves, the other 68 for U+0100.. in order), if it is a normal token; else -1. */
static int32_t byte_token(const tn_vocab *v, int b) {
    int cp = b, k = 0;
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    if (!printable) {
        for (int c = 0; c < b; c++)
            k += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174);
        cp = 256 + k;
    }
    char u[3];
    size_t n = 0;
    if (cp < 0x80) {
        u[n++] = (char)cp;
    } else {
        u[n++] = (char)(0xC0 | cp >> 6);
        u[n++] = (char)(0x80 | (cp & 0x3F));
    }
    int32_t id = tn_vocab_find(v, u, n);
    return id >= 0 && tn_vocab_token_type(v, id) == TN_TOKEN_NORMAL ? id : -1;
}

static void test_invalid_and_random(void) {
    static const char *const all[] = {"gpt-2",     "deepseek-llm", "deepseek-coder", "falcon",
                                      "starcoder", "refact",       "mpt",            "bert-bge"};
    static const char *const parts[] = {"<|endoftext|>", "<fim_prefix>", "[CLS]", "\xc3\xb5",
                                        "    ", "'s", "\xe2\x96\x81", "\xe6\x88\x91", "\n",
                                        "\xf0\x9f\xa6\x99", "123", " Hello", "\xed\xa0\x80"};
    for (size_t vi = 0; vi < sizeof all / sizeof *all; vi++) {
        tn_gguf *g;
        tn_vocab *v = open_vocab(all[vi], &g);
        if (!v) continue;
        bool wpm = strcmp(all[vi], "bert-bge") == 0;
        /* Bytes that have a normal byte-level token; the others (bytes that never occur in UTF-8,
         * such as 0xC0 0xC1 0xF5-0xFF, and in Falcon's vocabulary some control bytes) cannot
         * round-trip. */
        bool ok_byte[256];
        int n_missing = 0;
        for (int b = 0; b < 256; b++) {
            ok_byte[b] = wpm || byte_token(v, b) >= 0;
            n_missing += !ok_byte[b];
        }
        /* lone and truncated sequences (byte-level BPE: exact round trip) */
        static const char *const bad[] = {"\x80", "\xc3" "A", "\n\xf0", "\xed\xa0\x80 surrogate",
                                          "over\xc0\xaflong", "mix\xe2\x82x\xfe" "abcd end\xe2"};
        int bad_trip = 0, n_bad = 0;
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            bool representable = true;
            for (const char *c = bad[i]; *c; c++)
                representable &= ok_byte[(unsigned char)*c];
            int32_t *ids, dl;
            int32_t n = encode(v, bad[i], strlen(bad[i]), false, false, &ids);
            char *back = n >= 0 ? decode(v, ids, n, false, &dl) : NULL;
            if (!wpm && representable) {
                n_bad++;
                bad_trip += !back || (size_t)dl != strlen(bad[i]) || memcmp(back, bad[i], (size_t)dl);
            }
            bad_trip += n < 0;
            free(back);
            free(ids);
        }
        CHECK(bad_trip == 0, "%s: invalid UTF-8 (%d of %d failed)", all[vi], bad_trip, n_bad);
        uint32_t seed = 777 + (uint32_t)vi;
        int bad_count = 0, bad_ids = 0, trips = 0;
        for (int it = 0; it < 1500; it++) {
            char s[300];
            size_t len = 0;
            seed = seed * 1664525u + 1013904223u;
            int n_parts = (int)(seed >> 24) % 30;
            for (int k = 0; k < n_parts; k++) {
                seed = seed * 1664525u + 1013904223u;
                uint32_t r = seed >> 8;
                if (r % 3 == 0) {
                    const char *p = parts[(r / 3) % (sizeof parts / sizeof *parts)];
                    size_t pl = strlen(p);
                    if (len + pl >= sizeof s) break;
                    memcpy(s + len, p, pl);
                    len += pl;
                } else if (len + 1 < sizeof s) {
                    unsigned char b = (unsigned char)(r >> 8);
                    s[len++] = (char)(ok_byte[b] ? b : 'a' + b % 26);
                }
            }
            bool special = it & 1;
            int32_t *ids;
            int32_t n = encode(v, s, len, it % 3 == 0, special, &ids);
            int32_t n2 = tn_vocab_encode(v, s, len, it % 3 == 0, special, NULL, 0);
            bad_count += n < 0 || n2 != (n > 0 ? -n : 0);
            for (int32_t i = 0; i < n; i++)
                bad_ids += ids[i] < 0 || ids[i] >= tn_vocab_n_tokens(v);
            /* byte-level BPE: decoding with special shown gives the input back exactly (the BOS
             * added for it % 3 == 0 is skipped) */
            if (!wpm && n >= 0) {
                int32_t skip = it % 3 == 0 && n > 0 ? 1 : 0, dl;
                char *back = decode(v, ids + skip, n - skip, true, &dl);
                trips += !back || (size_t)dl != len || memcmp(back, s, len) != 0;
                free(back);
            }
            free(ids);
        }
        CHECK(bad_count == 0, "%s: %d size-query mismatches", all[vi], bad_count);
        CHECK(bad_ids == 0, "%s: %d ids out of range", all[vi], bad_ids);
        CHECK(trips == 0, "%s: %d random round-trip failures", all[vi], trips);

        /* Documented behaviour for a byte without a normal token: */
        int32_t *ids;
        int32_t n = encode(v, "\xff", 1, false, false, &ids);
        if (!strcmp(all[vi], "gpt-2")) {
            CHECK(n_missing == 0 && n == 1 && ids[0] == byte_token(v, 0xFF), "gpt-2: all bytes");
        } else if (!strncmp(all[vi], "deepseek", 8)) {
            /* DeepSeek added "ÿ" etc. as user-defined tokens: the byte maps to it (as in
             * llama.cpp) and decodes as the character U+00FF */
            int32_t dl;
            char *back = n == 1 ? decode(v, ids, 1, false, &dl) : NULL;
            CHECK(n == 1 && tn_vocab_token_type(v, ids[0]) == TN_TOKEN_USER_DEFINED && back &&
                      strcmp(back, "\xc3\xbf") == 0,
                  "%s: 0xFF -> user-defined 'ÿ'", all[vi]);
            free(back);
        } else if (!strcmp(all[vi], "falcon")) {
            CHECK(n == 0 && tn_vocab_unk(v) < 0 && n_missing == 28, "falcon: dropped (no unk)");
        } else if (!wpm) {
            CHECK(n == 1 && ids[0] == tn_vocab_unk(v) && tn_vocab_unk(v) >= 0,
                  "%s: 0xFF -> unk", all[vi]);
        } else {
            CHECK(n == 0, "bert: invalid byte removed");
        }
        free(ids);
        close_vocab(v, g);
    }
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
    test_pretokenizers();
    test_specials();
    test_long_specials();
    test_merges();
    test_invalid_and_random();
    tv_cleanup(g_dir);
    return tn_test_done("test_tokenizer_bpe");
}
