/* SentencePiece BPE encoding of one plain-text fragment (tokenizer.ggml.model == "llama"), with
 * the exact behaviour of llama.cpp's SPM tokenizer, so that ids match its test vectors:
 *
 *  1. Spaces become U+2581 "▁"; a "▁" is prepended when the caller asks (dummy prefix).
 *  2. The text is cut into initial symbols of one UTF-8 character each. The character length
 *     comes from the lead byte alone (0xxx/10xx -> 1, 110x -> 2, 1110 -> 3, 1111 -> 4), clipped
 *     at the end of the text; continuation bytes are not checked. So invalid UTF-8 never fails:
 *     a stray byte is a symbol of its own, a truncated sequence is a shorter symbol, and a lead
 *     byte swallows the following bytes whatever they are.
 *  3. Repeatedly, of all adjacent symbol pairs whose concatenation is a vocabulary token, the
 *     one with the highest token score is merged (ties: leftmost pair). A binary heap holds the
 *     candidate pairs; entries made stale by an earlier merge are recognised and skipped, so the
 *     whole loop is O(n log n).
 *  4. Each final symbol is its token; a symbol that is not in the vocabulary (only possible for
 *     an unmerged initial symbol) is emitted byte by byte as <0xXX> byte-fallback tokens, e.g.
 *     "\xC3" "A" read as one 2-byte symbol gives <0xC3> <0x41>, as in llama.cpp.
 *
 * Speed: a merged symbol is always a vocabulary token, so no merge can span two adjacent initial
 * symbols (characters) a, b unless the character pair ab occurs inside some token. At load, the
 * set of adjacent character pairs inside tokens is collected; the text is cut wherever a pair is
 * absent (for SentencePiece vocabularies: before every "▁" that follows a non-space, i.e. into
 * words) and each piece is merged on its own with a small heap. Within a piece the merges happen
 * in the order the whole-text loop would apply them, so the result is identical; it is only
 * faster (small heaps stay in cache). */
#include "formats/tok_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    int32_t start; /* byte offset in the escaped text */
    int32_t n;     /* byte length; 0 once merged into the symbol on its left */
    int32_t prev, next;
} spm_symbol;

typedef struct {
    float score;
    int32_t left, right;
    int32_t size; /* byte length of the merged text when the pair was queued */
} spm_pair;

typedef struct {
    spm_pair *a;
    int32_t n;
} spm_heap;

/* True if p should be merged before q: higher score, then leftmost. */
static inline bool pair_before(const spm_pair *p, const spm_pair *q) {
    return p->score > q->score || (p->score == q->score && p->left < q->left);
}

static void heap_push(spm_heap *h, spm_pair p) {
    int32_t i = h->n++;
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!pair_before(&p, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = p;
}

static spm_pair heap_pop(spm_heap *h) {
    spm_pair top = h->a[0];
    spm_pair last = h->a[--h->n];
    int32_t i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && pair_before(&h->a[c + 1], &h->a[c])) c++;
        if (!pair_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

static inline int32_t utf8_len_from_lead(unsigned char c) {
    static const int8_t len_by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len_by_high_nibble[c >> 4];
}

/* ---- set of character pairs that occur inside tokens ---- */

/* A pair of characters (each 1-4 bytes) is keyed by its bytes, zero-padded to 8. Two different
 * pairs share a key only when a character was clipped at the end of a text; a false "maybe in a
 * token" only costs a missed cut, never a wrong result. */
struct tn_spm_index {
    uint64_t *keys;
    uint8_t *used;
    uint64_t mask, count; /* open addressing, kept at most half full */
};

static inline uint64_t pair_key(const char *s, int32_t n) {
    uint64_t k = 0;
    memcpy(&k, s, (size_t)(n < 8 ? n : 8));
    return k;
}

static inline uint64_t key_slot(uint64_t k, uint64_t mask) {
    return ((k ^ (k >> 29)) * 0x9E3779B97F4A7C15ull >> 20) & mask;
}

static inline bool pair_maybe_in_token(const struct tn_spm_index *ix, uint64_t k) {
    for (uint64_t h = key_slot(k, ix->mask);; h = (h + 1) & ix->mask) {
        if (!ix->used[h]) return false;
        if (ix->keys[h] == k) return true;
    }
}

static void index_put(struct tn_spm_index *ix, uint64_t k) {
    uint64_t h = key_slot(k, ix->mask);
    while (ix->used[h] && ix->keys[h] != k)
        h = (h + 1) & ix->mask;
    ix->count += !ix->used[h];
    ix->keys[h] = k;
    ix->used[h] = 1;
}

/* (Re)allocates the table with `cap` slots and reinserts the old keys. */
static int index_resize(struct tn_spm_index *ix, uint64_t cap) {
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint8_t *used = calloc(cap, 1);
    if (!keys || !used) {
        free(keys);
        free(used);
        return tn_set_error("tokenizer: out of memory for the character-pair index");
    }
    struct tn_spm_index old = *ix;
    ix->keys = keys, ix->used = used, ix->mask = cap - 1, ix->count = 0;
    for (uint64_t h = 0; old.used && h <= old.mask; h++)
        if (old.used[h]) index_put(ix, old.keys[h]);
    free(old.keys);
    free(old.used);
    return 0;
}

int tn_spm_init(tn_vocab *v) {
    struct tn_spm_index *ix = calloc(1, sizeof *ix);
    if (!ix || index_resize(ix, 1024)) {
        free(ix);
        return tn_set_error("tokenizer: out of memory for the character-pair index");
    }
    v->spm = ix;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        const char *t = v->blob + v->off[id];
        uint32_t len = v->len[id], prev = 0;
        for (uint32_t off = 0; off < len;) {
            uint32_t n = (uint32_t)utf8_len_from_lead((unsigned char)t[off]);
            if (n > len - off) n = len - off;
            if (off > 0) {
                if (2 * (ix->count + 1) > ix->mask + 1 && index_resize(ix, 2 * (ix->mask + 1)))
                    return -1; /* the caller frees v, and with it v->spm */
                index_put(ix, pair_key(t + prev, (int32_t)(off + n - prev)));
            }
            prev = off;
            off += n;
        }
    }
    return 0;
}

void tn_spm_free(tn_vocab *v) {
    if (!v->spm) return;
    free(v->spm->keys);
    free(v->spm->used);
    free(v->spm);
    v->spm = NULL;
}

/* ---- merging one piece ---- */

typedef struct {
    const tn_vocab *v;
    const char *text;
    spm_symbol *sym;
    spm_heap heap;
} spm_session;

static void try_add_pair(spm_session *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const spm_symbol *l = &s->sym[left];
    int32_t size = l->n + s->sym[right].n;
    int32_t id = tn_vocab_find(s->v, s->text + l->start, (size_t)size);
    if (id < 0) return;
    spm_pair p = {s->v->score[id], left, right, size};
    heap_push(&s->heap, p);
}

/* Emits the token(s) for one final symbol. */
static int emit_symbol(const tn_vocab *v, const char *text, const spm_symbol *sym,
                       tn_tok_sink *sink) {
    int32_t id = tn_vocab_find(v, text + sym->start, (size_t)sym->n);
    if (id >= 0) {
        tn_tok_push(sink, id);
        return 0;
    }
    for (int32_t j = 0; j < sym->n; j++) {
        unsigned char b = (unsigned char)text[sym->start + j];
        int32_t bid = v->byte_id[b] >= 0 ? v->byte_id[b] : v->unk;
        if (bid < 0)
            return tn_set_error("tokenizer: no token for byte 0x%02X (no <0x%02X> byte token, "
                                "no single-byte token and no unknown token)",
                                b, b);
        tn_tok_push(sink, bid);
    }
    return 0;
}

/* Merges the n_sym linked symbols s->sym[0..n_sym) and emits the result. */
static int merge_and_emit(spm_session *s, int32_t n_sym, tn_tok_sink *sink) {
    spm_symbol *sym = s->sym;
    s->heap.n = 0;
    for (int32_t i = 1; i < n_sym; i++)
        try_add_pair(s, i - 1, i);
    while (s->heap.n > 0) {
        spm_pair p = heap_pop(&s->heap);
        spm_symbol *l = &sym[p.left], *r = &sym[p.right];
        /* Sizes only grow and a right symbol is only ever absorbed by its left neighbour, so a
         * queued pair is still current iff both sides are alive and its size still adds up. */
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        try_add_pair(s, l->prev, p.left);
        try_add_pair(s, p.left, l->next);
    }
    int rc = 0;
    for (int32_t i = 0; i != -1 && rc == 0; i = sym[i].next)
        rc = emit_symbol(s->v, s->text, &sym[i], sink);
    return rc;
}

int tn_spm_encode(const tn_vocab *v, const char *text, size_t len, bool add_prefix,
                  tn_tok_sink *sink) {
    static const char ws[3] = {'\xe2', '\x96', '\x81'}; /* U+2581 */
    size_t n_spaces = 0;
    for (size_t i = 0; i < len; i++)
        n_spaces += text[i] == ' ';
    /* Symbol indices and offsets are int32; the heap holds up to 3 pairs per byte. */
    const size_t max_len = (size_t)INT32_MAX / 4;
    if (len > max_len || n_spaces > max_len)
        return tn_set_error("tokenizer: text fragment of %zu bytes is too long (max %zu)", len,
                            max_len);
    size_t elen = (add_prefix ? 3 : 0) + len + 2 * n_spaces;
    if (elen > max_len)
        return tn_set_error("tokenizer: text fragment of %zu bytes is too long (max %zu)", len,
                            max_len);
    if (elen == 0) return 0;

    /* Symbol and pair arrays grow with the longest piece (usually a word), not the text. */
    int32_t cap = elen < 256 ? (int32_t)elen : 256;
    char *buf = malloc(elen);
    spm_symbol *sym = malloc((size_t)cap * sizeof *sym);
    spm_pair *pairs = malloc(3 * (size_t)cap * sizeof *pairs);
    if (!buf || !sym || !pairs) {
        free(buf);
        free(sym);
        free(pairs);
        return tn_set_error("tokenizer: out of memory for a %zu-byte fragment", len);
    }
    size_t o = 0;
    if (add_prefix) {
        memcpy(buf, ws, 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + o, ws, 3);
            o += 3;
        } else {
            buf[o++] = text[i];
        }
    }

    spm_session s = {v, NULL, sym, {pairs, 0}};
    int rc = 0;
    for (int32_t off = 0; off < (int32_t)elen && rc == 0;) {
        /* One piece: characters up to the first adjacent pair that no token contains. Its
         * symbols are numbered from 0 (s.text points at the piece). */
        const char *piece = buf + off;
        int32_t p_off = 0, p_len = (int32_t)elen - off, n_sym = 0;
        for (;;) {
            int32_t n = utf8_len_from_lead((unsigned char)piece[p_off]);
            if (n > p_len - p_off) n = p_len - p_off;
            if (n_sym > 0) {
                int32_t ps = sym[n_sym - 1].start;
                if (!pair_maybe_in_token(v->spm, pair_key(piece + ps, p_off + n - ps))) break;
            }
            if (n_sym == cap) {
                /* pieces never exceed elen <= INT32_MAX / 4 symbols: no overflow */
                int32_t c2 = cap * 2 < (int32_t)elen ? cap * 2 : (int32_t)elen;
                spm_symbol *s2 = realloc(sym, (size_t)c2 * sizeof *s2);
                if (s2) sym = s2;
                spm_pair *p2 = s2 ? realloc(pairs, 3 * (size_t)c2 * sizeof *p2) : NULL;
                if (p2) pairs = p2;
                if (!s2 || !p2) {
                    rc = tn_set_error("tokenizer: out of memory for a %zu-byte fragment", len);
                    break;
                }
                cap = c2;
            }
            sym[n_sym] = (spm_symbol){p_off, n, n_sym - 1, n_sym + 1};
            n_sym++;
            p_off += n;
            if (p_off == p_len) break;
        }
        if (rc) break;
        sym[n_sym - 1].next = -1;
        s.text = piece;
        s.sym = sym;
        s.heap.a = pairs;
        rc = merge_and_emit(&s, n_sym, sink);
        off += p_off;
    }
    free(buf);
    free(sym);
    free(pairs);
    return rc;
}
