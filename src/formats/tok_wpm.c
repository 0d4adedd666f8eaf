/* WordPiece (tokenizer.ggml.model == "bert"), as Hugging Face's BertNormalizer +
 * BertPreTokenizer + WordPiece run it for uncased BERT models (lowercase, strip accents,
 * Chinese-character splitting), which is what the bert-bge test vectors were made with.
 *
 * Normalization, per character:
 *  - U+0000, U+FFFD and control characters (category C*, except \t \n \r) are removed; so \v, \f
 *    and U+0085 are removed rather than treated as spaces, as in BertNormalizer;
 *  - other White_Space characters end a word;
 *  - the Chinese-character blocks become single-character words;
 *  - accents are stripped (NFD, then Mn marks dropped) and the result lower-cased (full mapping);
 *  - punctuation (P*, and every ASCII symbol) becomes a single-character word.
 * Bytes that are not valid UTF-8 are removed (BERT removes U+FFFD, which is what a decoder would
 * have turned them into).
 *
 * Each word longer than 100 characters is [UNK] (WordPiece's max_input_chars_per_word); otherwise
 * it is matched greedily, longest token first, from the left. GGUF stores word-initial pieces
 * with a "▁" prefix and continuation pieces ("##x" in BERT's vocab.txt) bare, so the search runs
 * over "▁" + word. If some position has no match the whole word becomes [UNK]. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/tok_internal.h"
#include "formats/unicode.h"

#define WPM_MAX_WORD_CHARS 100

typedef struct {
    const tn_vocab *v;
    tn_tok_sink *sink;
    char *buf;      /* "▁" + the word being collected */
    size_t n, cap;  /* bytes in buf */
    size_t n_chars; /* characters in the word (counted past the limit; bytes are not kept) */
} wpm_state;

static void push_unk(wpm_state *s) {
    if (s->v->unk >= 0) tn_tok_push(s->sink, s->v->unk);
}

/* Greedy longest-match of buf[0..n) ("▁" + word) into tokens. */
static void match_word(wpm_state *s) {
    const tn_vocab *v = s->v;
    const char *w = s->buf;
    size_t n = s->n;
    int64_t start_n = s->sink->n;
    for (size_t i = 0; i < n;) {
        size_t j = n - i > (size_t)v->max_token_len ? i + (size_t)v->max_token_len : n;
        int32_t id = -1;
        for (; j > i; j--) {
            if (j < n && (w[j] & 0xC0) == 0x80) continue; /* only whole characters */
            if ((id = tn_vocab_find(v, w + i, j - i)) >= 0) break;
        }
        if (id < 0) {
            s->sink->n = start_n; /* drop the partial match */
            push_unk(s);
            return;
        }
        tn_tok_push(s->sink, id);
        i = j;
    }
}

static void end_word(wpm_state *s) {
    if (s->n_chars == 0) return;
    if (s->n_chars > WPM_MAX_WORD_CHARS)
        push_unk(s);
    else
        match_word(s);
    s->n = 3; /* keep the "▁" */
    s->n_chars = 0;
}

static int add_char(wpm_state *s, uint32_t cp) {
    s->n_chars++;
    if (s->n_chars > WPM_MAX_WORD_CHARS) return 0; /* [UNK] anyway: stop storing */
    if (s->n + 4 > s->cap) {
        size_t cap = s->cap * 2;
        char *b = realloc(s->buf, cap);
        if (!b) return tn_set_error("tokenizer: out of memory");
        s->buf = b, s->cap = cap;
    }
    s->n += (size_t)tn_utf8_encode(cp, s->buf + s->n);
    return 0;
}

/* Adds one normalized character: punctuation stands alone, white space separates. */
static int add_normalized(wpm_state *s, uint32_t cp) {
    uint8_t f = tn_ucd_flags(cp);
    if (f & TN_UCD_WS) {
        end_word(s);
        return 0;
    }
    if (f & TN_UCD_PUNCT) {
        end_word(s);
        if (add_char(s, cp)) return -1;
        end_word(s);
        return 0;
    }
    return add_char(s, cp);
}

int tn_wpm_encode(const tn_vocab *v, const char *text, size_t len, tn_tok_sink *sink) {
    wpm_state s = {v, sink, malloc(64), 3, 64, 0};
    if (!s.buf) return tn_set_error("tokenizer: out of memory");
    memcpy(s.buf, "\xe2\x96\x81", 3);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        uint32_t cp;
        int k = tn_utf8_decode(text + i, len - i, &cp);
        if (k == 0) { /* invalid byte: removed */
            i++;
            continue;
        }
        i += (size_t)k;
        uint8_t f = tn_ucd_flags(cp);
        bool keep_ctl = cp == '\t' || cp == '\n' || cp == '\r';
        if (cp == 0 || cp == 0xFFFD || ((f & TN_UCD_CTRL) && !keep_ctl)) continue;
        if (f & TN_UCD_WS) {
            end_word(&s);
            continue;
        }
        bool cjk = f & TN_UCD_CJK;
        if (cjk) end_word(&s);
        uint32_t base[3], low[3];
        int nb = tn_ucd_strip_accents(cp, base);
        for (int a = 0; a < nb && rc == 0; a++) {
            int nl = tn_ucd_tolower(base[a], low);
            for (int c = 0; c < nl && rc == 0; c++)
                rc = add_normalized(&s, low[c]);
        }
        if (cjk) end_word(&s);
    }
    if (rc == 0) end_word(&s);
    free(s.buf);
    return rc;
}
