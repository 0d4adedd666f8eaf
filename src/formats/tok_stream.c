/* Streaming detokenizer (tn_detok_stream, declared in tokenizer.h and tern.h): token pieces in,
 * bytes out, holding back only the unfinished UTF-8 character at the end, so a character whose
 * bytes arrive in several byte-fallback or byte-level tokens is never printed in halves. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/tok_internal.h"
#include "formats/unicode.h"

struct tn_detok_stream {
    const tn_vocab *v;
    bool special, remove_space;
    bool started; /* some byte has been produced (remove_space applies before that) */
    char held[4];
    int n_held;
    char *buf; /* output of the last call */
    size_t cap;
};

tn_detok_stream *tn_detok_stream_new_vocab(const tn_vocab *v, bool special, bool remove_space) {
    if (!v) {
        tn_set_error("tn_detok_stream_new: no vocabulary");
        return NULL;
    }
    tn_detok_stream *s = calloc(1, sizeof *s);
    if (!s) {
        tn_set_error("tn_detok_stream_new: out of memory");
        return NULL;
    }
    s->v = v, s->special = special, s->remove_space = remove_space;
    return s;
}

void tn_detok_stream_free(tn_detok_stream *s) {
    if (!s) return;
    free(s->buf);
    free(s);
}

static int reserve(tn_detok_stream *s, size_t n) {
    if (n <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n)
        cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b) return tn_set_error("tn_detok_stream: out of memory");
    s->buf = b, s->cap = cap;
    return 0;
}

const char *tn_detok_stream_push(tn_detok_stream *s, int32_t id, size_t *len) {
    *len = 0;
    if (!s || id < 0 || id >= s->v->n_tokens) {
        tn_set_error("tn_detok_stream_push: invalid token id %d", (int)id);
        return NULL;
    }
    /* A piece is at most its text's length (byte-level and "▁" decoding only shrink it). */
    size_t room = (size_t)s->n_held + s->v->len[id];
    if (reserve(s, room + 1)) return NULL;
    memcpy(s->buf, s->held, (size_t)s->n_held);
    int32_t k = tn_vocab_token_to_piece(s->v, id, s->special, s->buf + s->n_held,
                                        (int32_t)(room - (size_t)s->n_held));
    if (k < 0) { /* cannot happen given the bound above; kept as a guard */
        if (k != INT32_MIN) tn_set_error("tn_detok_stream_push: piece larger than its text");
        return NULL;
    }
    size_t n = (size_t)s->n_held + (size_t)k;
    char *out = s->buf;
    if (!s->started && n > 0) {
        s->started = true;
        if (s->remove_space && out[0] == ' ') out++, n--;
    }
    int tail = tn_utf8_incomplete_tail(out, n);
    memcpy(s->held, out + n - (size_t)tail, (size_t)tail);
    s->n_held = tail;
    *len = n - (size_t)tail;
    return out;
}

const char *tn_detok_stream_flush(tn_detok_stream *s, size_t *len) {
    *len = 0;
    if (!s) return NULL;
    if (reserve(s, 4)) return NULL;
    memcpy(s->buf, s->held, (size_t)s->n_held);
    *len = (size_t)s->n_held;
    s->n_held = 0;
    s->started = false;
    return s->buf;
}
