/* Shared by the tokenizer fuzzer (tests/fuzz/fuzz_tokenizer.c) and its regression test
 * (tests/test_tok_fuzz.c): the set of vocabularies an input can pick, and the properties every
 * input must satisfy. Header-only (static functions).
 *
 * Input layout: byte 0 picks the vocabulary (modulo the count), byte 1 the flags (bit 0 add_bos,
 * bit 1 parse_special), the rest is the text, passed to the encoder as it is (any bytes: invalid
 * UTF-8, NULs, special-token texts).
 *
 * Vocabularies: the two SentencePiece files (llama-spm, phi-3), the seven byte-level BPE ones and
 * bert-bge from llama.cpp's test vocabularies, and GPT-2's vocabulary re-written with each
 * pre-tokenizer that has no vocabulary file of its own (llama-bpe, qwen2, default, deepseek-v3,
 * tekken, bloom, viking, chatglm-bpe), so every pre-tokenizer expression sees the input.
 *
 * Properties (tokenizer.h documents them):
 *  - encode never fails on text (no error return for any bytes), and its size query agrees with
 *    the real call: the count, -count with one slot too few;
 *  - every id is in range;
 *  - the streaming detokenizer's output (all pushes + flush) equals tn_vocab_detokenize() byte
 *    for byte, and no push ends its output inside a well-formed UTF-8 character of that text
 *    (no character printed in halves);
 *  - byte-level BPE on GPT-2's vocabulary (all 256 bytes are tokens), any pre-tokenizer:
 *    decode(encode(x)) == x exactly (BOS skipped, special tokens shown);
 *  - SentencePiece llama-spm, parse_special off: the tokens spell the escaped text exactly
 *    (tf_check_spm), and decode(encode(x)) == x for valid UTF-8 without a literal U+2581. */
#ifndef TN_TESTS_TOK_FUZZ_CHECK_H
#define TN_TESTS_TOK_FUZZ_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/tokenizer.h"

enum { TF_PLAIN, TF_TRIP_BPE, TF_TRIP_SPM };

typedef struct {
    char name[64];
    tn_gguf *g;
    tn_vocab *v;
    int kind;
} tf_vocab;

#define TF_MAX 24
typedef struct {
    tf_vocab voc[TF_MAX];
    int n;
} tf_set;

static int tf_add(tf_set *s, const char *name, const char *path, int kind) {
    tf_vocab *t = &s->voc[s->n];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->g = tn_gguf_open(path);
    t->v = t->g ? tn_vocab_load(t->g) : NULL;
    if (!t->v) {
        fprintf(stderr, "tok fuzz: cannot load %s: %s\n", path, tn_last_error());
        tn_gguf_close(t->g);
        return -1;
    }
    t->kind = kind;
    s->n++;
    return 0;
}

/* Loads every vocabulary; bpe_dir holds the unpacked vocabs-bpe-wpm archive, and the GPT-2
 * variants are written there. Returns 0 or -1 (message on stderr). */
static int tf_load(tf_set *s, const char *bpe_dir) {
    char path[4300];
    memset(s, 0, sizeof *s);
    if (tf_add(s, "llama-spm", "tests/data/vocab/ggml-vocab-llama-spm.gguf", TF_TRIP_SPM) ||
        tf_add(s, "phi-3", "tests/data/vocab/ggml-vocab-phi-3.gguf", TF_PLAIN))
        return -1;
    static const char *const files[] = {"gpt-2",     "deepseek-llm", "deepseek-coder", "falcon",
                                        "starcoder", "refact",       "mpt",            "bert-bge"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", bpe_dir, files[i]);
        if (tf_add(s, files[i], path, i == 0 ? TF_TRIP_BPE : TF_PLAIN)) return -1;
    }
    static const char *const pres[] = {"llama-bpe", "qwen2",  "default", "deepseek-v3",
                                       "tekken",    "bloom",  "viking",  "chatglm-bpe"};
    const tn_gguf *gpt2 = s->voc[2].g;
    for (size_t i = 0; i < sizeof pres / sizeof *pres; i++) {
        snprintf(path, sizeof path, "%s/gpt2-pre-%s.gguf", bpe_dir, pres[i]);
        tn_gguf_writer *w = tn_gguf_writer_new();
        int rc = !w || tn_gguf_writer_copy_kv(w, gpt2) ||
                 tn_gguf_writer_set_str(w, "tokenizer.ggml.pre", pres[i]) ||
                 tn_gguf_writer_write(w, path, NULL, NULL);
        tn_gguf_writer_free(w);
        char name[64];
        snprintf(name, sizeof name, "gpt-2/%s", pres[i]);
        if (rc) {
            fprintf(stderr, "tok fuzz: writing %s: %s\n", path, tn_last_error());
            return -1;
        }
        if (tf_add(s, name, path, TF_TRIP_BPE)) return -1;
    }
    return 0;
}

static void tf_free(tf_set *s) {
    for (int i = 0; i < s->n; i++) {
        tn_vocab_free(s->voc[i].v);
        tn_gguf_close(s->voc[i].g);
    }
    s->n = 0;
}

/* Length of the well-formed UTF-8 character at p[0..n) (Unicode table 3-7), or 0. */
static size_t tf_char_len(const unsigned char *p, size_t n) {
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) need = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) need = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if (n < need) return 0;
    for (size_t i = 1; i < need; i++)
        if (i == 1 ? (p[i] < lo || p[i] > hi) : (p[i] < 0x80 || p[i] > 0xBF)) return 0;
    return need;
}

/* Whether a well-formed character of s[0..n) straddles position cut (so a stream that stopped
 * there printed it in halves). */
static bool tf_splits_char(const char *s, size_t n, size_t cut) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t back = 1; back <= 3 && back <= cut; back++) {
        size_t q = cut - back, k = tf_char_len(u + q, n - q);
        if (k > back) return true;
    }
    return false;
}

/* Whether s[0..n) is well-formed UTF-8. */
static bool tf_valid_utf8(const char *s, size_t n) {
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = tf_char_len((const unsigned char *)s + i, n - i))) return false;
    return true;
}

/* SentencePiece (llama-spm, parse_special off): the tokens are a segmentation of the escaped
 * text ("▁" + text with every space as "▁"): normal tokens' texts and byte tokens' bytes joined
 * give it back exactly. Decoding (dummy prefix removed) gives the text itself when it is valid
 * UTF-8 without a literal "▁". Not for invalid UTF-8: a lead byte swallows the next bytes
 * whatever they are (tok_spm.c, as llama.cpp), so a space right after one is byte-encoded as
 * E2 96 81 and decodes as "▁". */
static const char *tf_check_spm(const tf_vocab *t, const char *text, size_t len, const int32_t *ids,
                                int32_t n, char *buf, int32_t cap, char *why, size_t why_size) {
    const tn_vocab *v = t->v;
    size_t elen = 0, pos = 0;
    bool prefix = len > 0 && tn_vocab_add_space_prefix(v);
    char *esc = malloc(3 * len + 4);
    if (!esc) return "out of memory";
    if (prefix) memcpy(esc, "\xe2\x96\x81", 3), elen = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(esc + elen, "\xe2\x96\x81", 3), elen += 3;
        else esc[elen++] = text[i];
    }
    const char *res = NULL;
    for (int32_t i = 0; i < n && !res; i++) {
        const char *tt = tn_vocab_text(v, ids[i]);
        size_t tl = strlen(tt);
        char byte;
        if (tn_vocab_token_type(v, ids[i]) == TN_TOKEN_BYTE) {
            byte = (char)strtol(tt + 3, NULL, 16); /* "<0xXX>" */
            tt = &byte, tl = 1;
        }
        if (pos + tl > elen || memcmp(esc + pos, tt, tl) != 0) {
            snprintf(why, why_size, "%s: token %d (id %d) is not the escaped text at byte %zu",
                     t->name, i, ids[i], pos);
            res = why;
        }
        pos += tl;
    }
    if (!res && pos != elen) {
        snprintf(why, why_size, "%s: tokens cover %zu of %zu escaped bytes", t->name, pos, elen);
        res = why;
    }
    free(esc);
    if (res || !tf_valid_utf8(text, len) || memmem(text, len, "\xe2\x96\x81", 3)) return res;
    int32_t bn = tn_vocab_detokenize(v, ids, n, true, true, buf, cap);
    if (bn != (int32_t)len || memcmp(buf, text, len) != 0) {
        snprintf(why, why_size, "%s: decode(encode(x)) != x (%d bytes back for %zu)", t->name, bn,
                 len);
        res = why;
    }
    return res;
}

/* Runs one input through the checks. Returns NULL if every property holds, else a description
 * of the first one that failed (static buffer). */
static const char *tf_check(const tf_set *s, const uint8_t *data, size_t size) {
    static char why[512];
    if (size < 2 || s->n == 0) return NULL;
    const tf_vocab *t = &s->voc[data[0] % s->n];
    const tn_vocab *v = t->v;
    bool add_bos = data[1] & 1, special = data[1] & 2;
    const char *text = (const char *)data + 2;
    size_t len = size - 2;
#define TF_FAIL(...) (snprintf(why, sizeof why, __VA_ARGS__), why)

    int32_t q = tn_vocab_encode(v, text, len, add_bos, special, NULL, 0);
    if (q == INT32_MIN) return TF_FAIL("%s: encode failed: %s", t->name, tn_last_error());
    int32_t n = q < 0 ? -q : q;
    if (q > 0) return TF_FAIL("%s: size query returned %d > 0 with no room", t->name, q);
    int32_t *ids = malloc((size_t)(n + 1) * sizeof *ids);
    if (!ids) return TF_FAIL("out of memory");
    const char *res = NULL;
    char *full = NULL, *streamed = NULL;
    int32_t got = tn_vocab_encode(v, text, len, add_bos, special, ids, n);
    if (got != n) {
        res = TF_FAIL("%s: encode gave %d tokens, the size query %d", t->name, got, n);
        goto out;
    }
    if (n > 0) {
        int32_t *tmp = malloc((size_t)n * sizeof *tmp);
        int32_t short_q = tmp ? tn_vocab_encode(v, text, len, add_bos, special, tmp, n - 1) : -n;
        bool same = tmp && (n == 1 || memcmp(tmp, ids, (size_t)(n - 1) * sizeof *tmp) == 0);
        free(tmp);
        if (short_q != -n || !same) {
            res = TF_FAIL("%s: with %d slots for %d tokens: %d%s", t->name, n - 1, n, short_q,
                          same ? "" : ", different ids");
            goto out;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tn_vocab_n_tokens(v)) {
            res = TF_FAIL("%s: id %d out of range at %d", t->name, ids[i], i);
            goto out;
        }
    }

    /* streaming == whole detokenization, with the same remove_space */
    bool remove_space = t->kind == TF_TRIP_SPM;
    int32_t dn = tn_vocab_detokenize(v, ids, n, true, remove_space, NULL, 0);
    if (dn == INT32_MIN) {
        res = TF_FAIL("%s: detokenize failed: %s", t->name, tn_last_error());
        goto out;
    }
    dn = dn < 0 ? -dn : dn;
    full = malloc((size_t)dn + 1);
    streamed = malloc((size_t)dn + 1);
    if (!full || !streamed ||
        tn_vocab_detokenize(v, ids, n, true, remove_space, full, dn) != dn) {
        res = TF_FAIL("%s: detokenize into %d bytes failed", t->name, dn);
        goto out;
    }
    tn_detok_stream *st = tn_detok_stream_new_vocab(v, true, remove_space);
    size_t sn = 0, *cuts = malloc((size_t)(n + 1) * sizeof *cuts); /* output end after push i */
    if (!cuts) res = TF_FAIL("out of memory");
    for (int32_t i = 0; st && i <= n && !res; i++) {
        size_t k = 0;
        const char *p = i < n ? tn_detok_stream_push(st, ids[i], &k) : tn_detok_stream_flush(st, &k);
        if (!p) res = TF_FAIL("%s: stream push failed: %s", t->name, tn_last_error());
        else if (sn + k > (size_t)dn) res = TF_FAIL("%s: stream longer than detokenize", t->name);
        else if (k) memcpy(streamed + sn, p, k), sn += k;
        cuts[i] = sn;
    }
    tn_detok_stream_free(st);
    if (!res && (sn != (size_t)dn || memcmp(streamed, full, sn) != 0))
        res = TF_FAIL("%s: stream gave %zu bytes, detokenize %d, not equal", t->name, sn, dn);
    for (int32_t i = 0; !res && i < n; i++)
        if (tf_splits_char(full, sn, cuts[i]))
            res = TF_FAIL("%s: push %d ends inside a character (at byte %zu)", t->name, i, cuts[i]);
    free(cuts);
    if (res) goto out;

    /* round trips */
    int32_t skip = add_bos && n > 0 && ids[0] == tn_vocab_bos(v) ? 1 : 0;
    if (t->kind == TF_TRIP_BPE) {
        int32_t bn = tn_vocab_detokenize(v, ids + skip, n - skip, true, false, full, dn);
        if (bn != (int32_t)len || memcmp(full, text, len) != 0)
            res = TF_FAIL("%s: decode(encode(x)) != x (%d bytes back for %zu)", t->name, bn, len);
    } else if (t->kind == TF_TRIP_SPM && !special) {
        res = tf_check_spm(t, text, len, ids + skip, n - skip, full, dn, why, sizeof why);
    }
out:
    free(ids);
    free(full);
    free(streamed);
    return res;
#undef TF_FAIL
}

#endif
