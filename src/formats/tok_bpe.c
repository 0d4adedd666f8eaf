/* Byte-level BPE (tokenizer.ggml.model == "gpt2"): GPT-2's scheme as Hugging Face tokenizers and
 * llama.cpp run it, so that ids match their test vectors.
 *
 *  1. The pre-tokenizer named by tokenizer.ggml.pre cuts the text into pieces (pretokenize.c).
 *  2. Each byte of a piece stands for one character of GPT-2's byte-to-unicode map (printable
 *     Latin-1 bytes for themselves, the other 68 bytes for U+0100..U+0143 in order); token and
 *     merge texts are written in those characters. A piece starts as one symbol per byte.
 *  3. Repeatedly the adjacent pair with the lowest merge rank (its index in
 *     tokenizer.ggml.merges; ties: leftmost) is merged, until no adjacent pair is a merge. A heap
 *     holds candidate pairs; entries made stale by an earlier merge are recognised and skipped.
 *  4. Each symbol is a token. With ignore_merges (Llama-3, Tekken) a piece that is a token as a
 *     whole becomes that token without merging.
 *
 * Symbols are handled as token ids: a merge "a b" is stored as (id(a), id(b)) -> (rank, id(ab)).
 * Merges whose halves or result are not tokens can never apply to token symbols and are dropped
 * at load (Hugging Face refuses such files).
 *
 * Invalid UTF-8 needs no special case: the pre-tokenizer leaves such bytes in pieces of their own
 * and they are encoded through their byte-level characters, so decode(encode(x)) == x whenever
 * every byte of x has a normal byte-level token (all 256 do in GPT-2's vocabulary). Many
 * vocabularies lack tokens for bytes that never occur in UTF-8 (0xC0, 0xC1, 0xF5-0xFF; Falcon's
 * also some control bytes): such a byte becomes the unknown token, or nothing if there is none,
 * as in llama.cpp. DeepSeek's vocabularies have them as user-defined tokens ("À", "ÿ", ...), which
 * the byte maps to, as in llama.cpp, and which decode as those characters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/pretokenize.h"
#include "formats/tok_internal.h"
#include "formats/unicode.h"

struct tn_bpe_index {
    tn_pretok *pre;
    bool ignore_merges;
    uint16_t byte_cp[256];   /* GPT-2 map: byte -> code point */
    int16_t cp_byte[0x144];  /* inverse, -1 where no byte maps */
    int32_t byte_tok[256];   /* token of each byte's character, -1 if none */
    /* merges: open addressing on (left id, right id), kept at most half full */
    uint64_t *keys; /* (left << 32 | right) + 1; 0 = empty */
    uint32_t *rank;
    int32_t *result;
    uint64_t mask;
    int32_t n_merges;
};

static void build_byte_map(struct tn_bpe_index *b) {
    int next = 256;
    for (int i = 0; i < 0x144; i++)
        b->cp_byte[i] = -1;
    for (int c = 0; c < 256; c++) {
        bool printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174);
        b->byte_cp[c] = (uint16_t)(printable ? c : next++);
        b->cp_byte[b->byte_cp[c]] = (int16_t)c;
    }
}

static inline uint64_t pair_key(int32_t l, int32_t r) {
    return ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
}

static inline uint64_t key_slot(uint64_t k, uint64_t mask) {
    return (k * 0x9E3779B97F4A7C15ull >> 24) & mask;
}

/* Rank of merging (l, r), or UINT32_MAX; *res gets the merged token. */
static inline uint32_t find_merge(const struct tn_bpe_index *b, int32_t l, int32_t r, int32_t *res) {
    uint64_t k = pair_key(l, r);
    for (uint64_t h = key_slot(k, b->mask);; h = (h + 1) & b->mask) {
        if (b->keys[h] == k) {
            *res = b->result[h];
            return b->rank[h];
        }
        if (b->keys[h] == 0) return UINT32_MAX;
    }
}

static int load_merges(tn_vocab *v, struct tn_bpe_index *b, const tn_gguf *g, const char *path) {
    int64_t ki = tn_gguf_find_key(g, "tokenizer.ggml.merges");
    if (ki < 0) return tn_set_error("%s: missing tokenizer.ggml.merges (needed by a gpt2 vocabulary)", path);
    if (tn_gguf_kv_type(g, ki) != TN_GGUF_ARRAY || tn_gguf_arr_type(g, ki) != TN_GGUF_STRING)
        return tn_set_error("%s: tokenizer.ggml.merges: expected an array of strings", path);
    uint64_t n = tn_gguf_arr_len(g, ki);
    if (n > (uint64_t)INT32_MAX / 4)
        return tn_set_error("%s: tokenizer.ggml.merges: %llu merges is too many", path,
                            (unsigned long long)n);
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    b->keys = calloc(cap, sizeof *b->keys);
    b->rank = malloc(cap * sizeof *b->rank);
    b->result = malloc(cap * sizeof *b->result);
    if (!b->keys || !b->rank || !b->result) return tn_set_error("%s: out of memory for merges", path);
    b->mask = cap - 1;
    char small[256], *buf = small;
    size_t buf_cap = sizeof small;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        uint64_t len = 0;
        const char *s = tn_gguf_arr_str(g, ki, i, &len);
        if (!s) {
            rc = tn_set_error("%s: tokenizer.ggml.merges[%llu] unreadable", path,
                              (unsigned long long)i);
            break;
        }
        /* "left right": the first space after the first byte separates them (a space is never
         * part of a byte-level token's text, but a malformed one might start with it). */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp) continue;
        size_t ll = (size_t)(sp - s), rl = len - ll - 1;
        int32_t l = tn_vocab_find(v, s, ll), r = tn_vocab_find(v, sp + 1, rl);
        if (l < 0 || r < 0) continue;
        if (ll + rl > buf_cap) {
            char *nb = malloc(ll + rl);
            if (!nb) {
                rc = tn_set_error("%s: out of memory", path);
                break;
            }
            if (buf != small) free(buf);
            buf = nb, buf_cap = ll + rl;
        }
        memcpy(buf, s, ll);
        memcpy(buf + ll, sp + 1, rl);
        int32_t m = tn_vocab_find(v, buf, ll + rl);
        if (m < 0) continue;
        uint64_t k = pair_key(l, r), h = key_slot(k, b->mask);
        while (b->keys[h] && b->keys[h] != k)
            h = (h + 1) & b->mask;
        if (b->keys[h]) continue; /* a repeated merge keeps its first (lowest) rank */
        b->keys[h] = k;
        b->rank[h] = (uint32_t)i;
        b->result[h] = m;
        b->n_merges++;
    }
    if (buf != small) free(buf);
    return rc;
}

int tn_bpe_init(tn_vocab *v, const tn_gguf *g, const char *path) {
    struct tn_bpe_index *b = calloc(1, sizeof *b);
    if (!b) return tn_set_error("%s: out of memory", path);
    v->bpe = b;
    build_byte_map(b);
    for (int c = 0; c < 256; c++) {
        char u[4];
        int n = tn_utf8_encode(b->byte_cp[c], u);
        b->byte_tok[c] = tn_vocab_find(v, u, (size_t)n);
    }
    const char *pre = NULL;
    if (tn_gguf_get_str(g, "tokenizer.ggml.pre", &pre) < 0) return -1;
    b->pre = tn_pretok_new(pre);
    if (!b->pre) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", tn_last_error()); /* the format may not alias it */
        return tn_set_error("%s: %s", path, msg);
    }
    b->ignore_merges = tn_pretok_ignore_merges(b->pre);
    return load_merges(v, b, g, path);
}

void tn_bpe_free(tn_vocab *v) {
    struct tn_bpe_index *b = v->bpe;
    if (!b) return;
    tn_pretok_free(b->pre);
    free(b->keys);
    free(b->rank);
    free(b->result);
    free(b);
    v->bpe = NULL;
}

bool tn_bpe_default_add_bos(const tn_vocab *v) {
    return v->bpe && tn_pretok_add_bos(v->bpe->pre);
}

/* ---- encoding ---- */

typedef struct {
    int32_t id; /* token of the symbol's text; -1 for a byte without a token */
    int32_t prev, next;
    bool alive;
} bpe_sym;

typedef struct {
    uint32_t rank;
    int32_t left, right;
    int32_t lid, rid; /* the two symbols' tokens when queued: if either changed, stale */
    int32_t result;
} bpe_pair;

/* Per-call scratch, grown to the longest piece. */
typedef struct {
    const tn_vocab *v;
    tn_tok_sink *sink;
    bpe_sym *sym;
    bpe_pair *heap;
    char *mapped;
    size_t cap; /* symbols (bytes) the arrays hold */
    int32_t n_heap;
} bpe_session;

static inline bool pair_before(const bpe_pair *p, const bpe_pair *q) {
    return p->rank < q->rank || (p->rank == q->rank && p->left < q->left);
}

static void heap_push(bpe_session *s, bpe_pair p) {
    int32_t i = s->n_heap++;
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!pair_before(&p, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = p;
}

static bpe_pair heap_pop(bpe_session *s) {
    bpe_pair top = s->heap[0], last = s->heap[--s->n_heap];
    int32_t i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= s->n_heap) break;
        if (c + 1 < s->n_heap && pair_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!pair_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->n_heap > 0) s->heap[i] = last;
    return top;
}

static void try_pair(bpe_session *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    int32_t lid = s->sym[l].id, rid = s->sym[r].id, res;
    if (lid < 0 || rid < 0) return;
    uint32_t rank = find_merge(s->v->bpe, lid, rid, &res);
    if (rank != UINT32_MAX) heap_push(s, (bpe_pair){rank, l, r, lid, rid, res});
}

static int grow(bpe_session *s, size_t n) {
    if (n <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n)
        cap *= 2;
    /* each merge queues at most two pairs, plus the n - 1 initial ones */
    bpe_sym *sym = realloc(s->sym, cap * sizeof *sym);
    if (sym) s->sym = sym;
    bpe_pair *heap = sym ? realloc(s->heap, 3 * cap * sizeof *heap) : NULL;
    if (heap) s->heap = heap;
    char *mapped = heap ? realloc(s->mapped, 2 * cap) : NULL;
    if (mapped) s->mapped = mapped;
    if (!mapped) return tn_set_error("tokenizer: out of memory for a %zu-byte piece", n);
    s->cap = cap;
    return 0;
}

static void emit_id(bpe_session *s, int32_t id) {
    if (id >= 0)
        tn_tok_push(s->sink, id);
    else if (s->v->unk >= 0)
        tn_tok_push(s->sink, s->v->unk);
}

static int encode_piece(void *user, const char *piece, size_t len) {
    bpe_session *s = user;
    const struct tn_bpe_index *b = s->v->bpe;
    if (len == 1) {
        emit_id(s, b->byte_tok[(unsigned char)piece[0]]);
        return 0;
    }
    if (len > (size_t)INT32_MAX / 4)
        return tn_set_error("tokenizer: a %zu-byte piece is too long", len);
    if (grow(s, len)) return -1;
    if (b->ignore_merges) {
        size_t m = 0;
        for (size_t i = 0; i < len; i++) {
            char u[4];
            int k = tn_utf8_encode(b->byte_cp[(unsigned char)piece[i]], u);
            memcpy(s->mapped + m, u, (size_t)k);
            m += (size_t)k;
        }
        int32_t id = tn_vocab_find(s->v, s->mapped, m);
        if (id >= 0) {
            tn_tok_push(s->sink, id);
            return 0;
        }
    }
    int32_t n = (int32_t)len;
    bpe_sym *sym = s->sym;
    for (int32_t i = 0; i < n; i++)
        sym[i] = (bpe_sym){b->byte_tok[(unsigned char)piece[i]], i - 1, i + 1 < n ? i + 1 : -1, true};
    s->n_heap = 0;
    for (int32_t i = 1; i < n; i++)
        try_pair(s, i - 1, i);
    while (s->n_heap > 0) {
        bpe_pair p = heap_pop(s);
        bpe_sym *l = &sym[p.left], *r = &sym[p.right];
        if (!l->alive || !r->alive || l->next != p.right || l->id != p.lid || r->id != p.rid)
            continue;
        l->id = p.result;
        r->alive = false;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        try_pair(s, l->prev, p.left);
        try_pair(s, p.left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        emit_id(s, sym[i].id);
    return 0;
}

int tn_bpe_encode(const tn_vocab *v, const char *text, size_t len, tn_tok_sink *sink) {
    bpe_session s = {v, sink, NULL, NULL, NULL, 0, 0};
    int rc = tn_pretok_split(v->bpe->pre, text, len, encode_piece, &s);
    free(s.sym);
    free(s.heap);
    free(s.mapped);
    return rc ? -1 : 0;
}

/* ---- decoding ---- */

int32_t tn_bpe_token_bytes(const tn_vocab *v, int32_t id, char *buf, int32_t size) {
    const struct tn_bpe_index *b = v->bpe;
    const char *t = v->blob + v->off[id];
    uint32_t tl = v->len[id];
    int32_t o = 0;
    for (uint32_t i = 0; i < tl;) {
        uint32_t cp;
        int k = tn_utf8_decode(t + i, tl - i, &cp);
        if (k > 0 && cp < 0x144 && b->cp_byte[cp] >= 0) {
            if (o < size) buf[o] = (char)b->cp_byte[cp];
            o++;
        } else {
            if (k == 0) k = 1; /* invalid UTF-8 in the token text: copied byte by byte */
            for (int j = 0; j < k; j++, o++)
                if (o < size) buf[o] = t[i + (uint32_t)j];
        }
        i += (uint32_t)k;
    }
    return o <= size ? o : -o;
}
