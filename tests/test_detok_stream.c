/* Streaming detokenizer tests (tn_detok_stream):
 *  - the whole tinyshakespeare validation text, encoded with the tiny-llama vocabulary and fed
 *    back one token at a time, comes out byte for byte (the dummy-prefix space removed);
 *  - multilingual text (CJK, emoji, accents) whose characters are split across byte tokens, with
 *    a byte-level BPE vocabulary (GPT-2) and with SentencePiece byte fallback: every chunk the
 *    stream returns is valid UTF-8 on its own (checked by an independent validator here), at
 *    least some tokens are not, and the chunks concatenate to the input;
 *  - bytes that can never become valid pass through at once, an unfinished character at the end
 *    comes out on flush, bad ids fail cleanly, control tokens are hidden unless asked for;
 *  - the same through the public API on a loaded model (tn_detok_stream_new). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/tokenizer.h"
#include "tern.h"
#include "vocab_data.h"

#define LLAMA_GGUF "models/tiny-llama/tiny-llama-Q8_0.gguf"
#define VAL_TEXT "tests/data/text/tinyshakespeare-val.txt"

/* Independent UTF-8 check (RFC 3629 well-formed byte sequences table). */
static bool valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c <= 0x7F) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return false;
        }
        if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

typedef struct {
    char *p;
    size_t n, cap;
    int n_chunks, n_invalid_chunks;
} collected;

static void collect(collected *c, const char *bytes, size_t n) {
    if (!bytes) return;
    if (n && !valid_utf8((const unsigned char *)bytes, n)) c->n_invalid_chunks++;
    if (c->n + n + 1 > c->cap) {
        c->cap = 2 * (c->n + n) + 64;
        c->p = realloc(c->p, c->cap);
    }
    memcpy(c->p + c->n, bytes, n);
    c->n += n;
    c->n_chunks += n > 0;
}

static int32_t encode(const tn_vocab *v, const char *s, size_t len, int32_t **ids) {
    int32_t n = tn_vocab_encode(v, s, len, false, false, NULL, 0);
    int32_t need = n < 0 ? -n : n;
    *ids = malloc((size_t)(need ? need : 1) * sizeof **ids);
    return tn_vocab_encode(v, s, len, false, false, *ids, need);
}

/* Streams ids one at a time; returns the collected output (plus the flush). */
static collected stream_all(tn_detok_stream *st, const int32_t *ids, int32_t n) {
    collected c = {0};
    size_t len;
    int failed = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *out = tn_detok_stream_push(st, ids[i], &len);
        failed += out == NULL;
        collect(&c, out, len);
    }
    CHECK(failed == 0, "%d pushes failed: %s", failed, tn_last_error());
    const char *out = tn_detok_stream_flush(st, &len);
    collect(&c, out, len);
    return c;
}

/* Counts the tokens whose piece alone is not valid UTF-8 (so the test really splits
 * characters). */
static int split_tokens(const tn_vocab *v, const int32_t *ids, int32_t n) {
    int k = 0;
    for (int32_t i = 0; i < n; i++) {
        char buf[256];
        int32_t m = tn_vocab_token_to_piece(v, ids[i], false, buf, sizeof buf);
        k += m > 0 && !valid_utf8((const unsigned char *)buf, (size_t)m);
    }
    return k;
}

static const char multi[] =
    "Gr\xc3\xbc\xc3\x9f" "e! \xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82 "
    "\xf0\x9f\xa6\x99\xf0\x9f\x9a\x80 \xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8\x8f "
    "caf\xc3\xa9 \xd0\xbd\xd0\xb5\xd1\x89\xd0\xbe \xe1\x9e\x80\xe1\x9e\xb6\xe1\x9e\x93 "
    "\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xe5\xb7\xa5\xe4\xbd\x9c" "1314151\xe5\xa4\xa9\xef\xbd\x9e\n";

static void test_val_text(void) {
    tn_gguf *g = tn_gguf_open(LLAMA_GGUF);
    tn_vocab *v = g ? tn_vocab_load(g) : NULL;
    CHECK(v != NULL, "load %s: %s", LLAMA_GGUF, tn_last_error());
    size_t len = 0;
    char *text = tn_test_read_file(VAL_TEXT, &len);
    CHECK(text && len > 100000, "read %s", VAL_TEXT);
    if (v && text) {
        int32_t *ids;
        int32_t n = encode(v, text, len, &ids);
        tn_detok_stream *st = tn_detok_stream_new_vocab(v, false, true);
        collected c = stream_all(st, ids, n);
        CHECK(c.n == len && memcmp(c.p, text, len) == 0,
              "validation text streamed token by token: %zu of %zu bytes, exact", c.n, len);
        CHECK(c.n_invalid_chunks == 0 && c.n_chunks > 20000, "%d chunks, %d invalid", c.n_chunks,
              c.n_invalid_chunks);
        free(c.p);
        tn_detok_stream_free(st);
        free(ids);

        /* SentencePiece byte fallback: CJK and emoji come out of <0xXX> tokens */
        n = encode(v, multi, strlen(multi), &ids);
        int nsplit = split_tokens(v, ids, n);
        st = tn_detok_stream_new_vocab(v, false, true);
        c = stream_all(st, ids, n);
        CHECK(nsplit > 20, "tiny-llama: %d byte tokens that are not characters", nsplit);
        CHECK(c.n == strlen(multi) && memcmp(c.p, multi, c.n) == 0, "tiny-llama multilingual exact");
        CHECK(c.n_invalid_chunks == 0, "tiny-llama: %d chunks not valid UTF-8", c.n_invalid_chunks);
        free(c.p);
        tn_detok_stream_free(st);
        free(ids);
    }
    free(text);
    tn_vocab_free(v);
    tn_gguf_close(g);
}

static void test_bpe(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/ggml-vocab-gpt-2.gguf", dir);
    tn_gguf *g = tn_gguf_open(path);
    tn_vocab *v = g ? tn_vocab_load(g) : NULL;
    CHECK(v != NULL, "load gpt-2: %s", tn_last_error());
    if (!v) {
        tn_gguf_close(g);
        return;
    }
    int32_t *ids;
    int32_t n = encode(v, multi, strlen(multi), &ids);
    int nsplit = split_tokens(v, ids, n);
    tn_detok_stream *st = tn_detok_stream_new_vocab(v, false, false);
    collected c = stream_all(st, ids, n);
    CHECK(nsplit > 10, "gpt-2: %d tokens that are parts of characters", nsplit);
    CHECK(c.n == strlen(multi) && memcmp(c.p, multi, c.n) == 0, "gpt-2 multilingual exact");
    CHECK(c.n_invalid_chunks == 0, "gpt-2: %d chunks not valid UTF-8", c.n_invalid_chunks);
    free(c.p);
    free(ids);

    /* invalid bytes are not held back; an unfinished character waits for flush */
    const char *bad = "a\xff" "b\x80 x\xe2\x82";
    n = encode(v, bad, strlen(bad), &ids);
    size_t got = 0, len;
    bool ff_at_once = false;
    for (int32_t i = 0; i < n; i++) {
        const char *out = tn_detok_stream_push(st, ids[i], &len);
        if (out && memchr(out, 0xFF, len)) ff_at_once = true;
        got += len;
    }
    CHECK(ff_at_once, "0xFF passed through without waiting");
    CHECK(got == strlen(bad) - 2, "'\\xe2\\x82' held back (%zu of %zu bytes out)", got,
          strlen(bad));
    const char *out = tn_detok_stream_flush(st, &len);
    CHECK(out && len == 2 && memcmp(out, "\xe2\x82", 2) == 0, "flush returns the held bytes");
    free(ids);

    /* a held lead byte followed by a byte that cannot continue it: both go out together */
    int32_t e2 = tn_vocab_find(v, "\xc3\xa2", 2); /* 'â' is byte 0xE2 */
    int32_t A = tn_vocab_find(v, "A", 1);
    CHECK(tn_detok_stream_push(st, e2, &len) && len == 0, "0xE2 alone is held");
    out = tn_detok_stream_push(st, A, &len);
    CHECK(out && len == 2 && memcmp(out, "\xe2" "A", 2) == 0, "0xE2 'A' released together");
    tn_detok_stream_flush(st, &len);
    CHECK(len == 0, "nothing held");

    /* control tokens: hidden unless special */
    CHECK(tn_detok_stream_push(st, 50256, &len) && len == 0, "<|endoftext|> hidden");
    tn_detok_stream *sp = tn_detok_stream_new_vocab(v, true, false);
    out = tn_detok_stream_push(sp, 50256, &len);
    CHECK(out && len == 13 && memcmp(out, "<|endoftext|>", 13) == 0, "shown with special");
    tn_detok_stream_free(sp);
    /* bad ids */
    CHECK(!tn_detok_stream_push(st, -1, &len) && len == 0, "id -1");
    CHECK(!tn_detok_stream_push(st, tn_vocab_n_tokens(v), &len), "id n_tokens");
    tn_detok_stream_free(st);
    tn_detok_stream_free(NULL);
    tn_vocab_free(v);
    tn_gguf_close(g);
}

/* The public API on a loaded model. */
static void test_model_api(void) {
    tn_model *m = tn_model_load(LLAMA_GGUF, NULL);
    CHECK(m != NULL, "load model: %s", tn_last_error());
    if (!m) return;
    int32_t ids[256];
    int32_t n = tn_tokenize(m, multi, strlen(multi), ids, 256, true, false);
    CHECK(n > 1 && ids[0] == tn_token_bos(m), "tokenize with BOS: %d", n);
    tn_detok_stream *st = tn_detok_stream_new(m, false, true);
    collected c = stream_all(st, ids, n);
    CHECK(c.n == strlen(multi) && memcmp(c.p, multi, c.n) == 0 && c.n_invalid_chunks == 0,
          "model stream: exact, every chunk valid");
    free(c.p);
    tn_detok_stream_free(st);
    CHECK(tn_token_eot(m) == -1, "tiny-llama has no EOT");
    CHECK(tn_model_chat_template(m) == NULL, "tiny-llama has no chat template");
    const char *arch = tn_model_meta_str(m, "general.architecture");
    CHECK(arch && strcmp(arch, "llama") == 0, "meta general.architecture");
    CHECK(tn_model_meta_str(m, "no.such.key") == NULL, "absent key");
    tn_model_free(m);
}

int main(void) {
    test_val_text();
    char *dir = tv_extract();
    CHECK(dir != NULL, "unpack vocabularies");
    if (dir) test_bpe(dir);
    tv_cleanup(dir);
    test_model_api();
    return tn_test_done("test_detok_stream");
}
