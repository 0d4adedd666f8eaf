/* Vocabulary loading from GGUF metadata (tokenizer.ggml.*), special-token handling, dispatch of
 * plain text to the encoder of the vocabulary's model, and token -> bytes. Behaviour follows
 * llama.cpp (llama-vocab.cpp) so that token ids match it:
 *
 *  - Models: "llama" (SentencePiece BPE, tok_spm.c), "gpt2" (byte-level BPE with the
 *    pre-tokenizer named by tokenizer.ggml.pre, tok_bpe.c), "bert" (WordPiece, tok_wpm.c).
 *    Defaults before metadata, as llama.cpp: llama: unk 0, bos 1, eos 2, add BOS, dummy prefix;
 *    gpt2: bos = eos = 11, no unk, BOS only for pre-tokenizers that want it (Llama-3, Tekken);
 *    bert: [CLS] 101 as BOS (tokenizer.ggml.cls_token_id if given), [SEP] 102 after the text
 *    (tokenizer.ggml.seperator_token_id, llama.cpp's spelling), [UNK] 100, add BOS.
 *  - Special tokens: every control, user-defined and unknown token is searched for in the raw
 *    text before the encoder runs, longest text first; each occurrence becomes that token and
 *    splits the text. With parse_special == false, control and unknown tokens are not searched
 *    but user-defined ones still are (as Hugging Face tokenizers do with added tokens).
 *  - SentencePiece ("llama"): each plain-text fragment gets the dummy "▁" prefix when
 *    add_space_prefix is on and it is the first thing in the input or follows a special token.
 *    Byte-level BPE and WordPiece have no dummy prefix.
 *  - Tokens whose text marks end of generation ("</s>", "<|end|>", "<|endoftext|>", ...) are
 *    given the control attribute, as llama.cpp does; so e.g. Phi-3's user-defined "</s>" is not
 *    matched when parse_special is false.
 *  - Phi-3 (general.name contains "phi3"/"phi-3"): special tokens other than <unk>, <s> and
 *    <|endoftext|> swallow the whitespace that follows them (llama.cpp's RSTRIP attribute). */
#include "formats/tokenizer.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/tok_internal.h"

/* ---- text -> id hash map ---- */

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

int32_t tn_vocab_find(const tn_vocab *v, const char *text, size_t len) {
    if (!v || (!text && len)) return -1;
    for (uint32_t h = hash_bytes(text, len) & v->slot_mask;; h = (h + 1) & v->slot_mask) {
        uint32_t slot = v->slots[h];
        if (slot == 0) return -1;
        int32_t id = (int32_t)(slot - 1);
        if (v->len[id] == len && memcmp(v->blob + v->off[id], text, len) == 0) return id;
    }
}

static int build_hash(tn_vocab *v, const char *path) {
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)v->n_tokens)
        cap *= 2;
    v->slots = calloc(cap, sizeof *v->slots);
    if (!v->slots) return tn_set_error("%s: out of memory for the token map", path);
    v->slot_mask = cap - 1;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        const char *t = v->blob + v->off[id];
        int32_t dup = tn_vocab_find(v, t, v->len[id]);
        if (dup >= 0)
            return tn_set_error("%s: tokenizer.ggml.tokens: duplicate token '%s' (ids %d and %d)",
                                path, t, dup, id);
        uint32_t h = hash_bytes(t, v->len[id]) & v->slot_mask;
        while (v->slots[h])
            h = (h + 1) & v->slot_mask;
        v->slots[h] = (uint32_t)id + 1;
    }
    return 0;
}

/* ---- loading ---- */

static int load_texts(tn_vocab *v, const tn_gguf *g, const char *path, const char *model) {
    int64_t ki = tn_gguf_find_key(g, "tokenizer.ggml.tokens");
    if (ki < 0)
        return tn_set_error("%s: missing tokenizer.ggml.tokens (tokenizer.ggml.model = %s)", path,
                            model);
    if (tn_gguf_kv_type(g, ki) != TN_GGUF_ARRAY || tn_gguf_arr_type(g, ki) != TN_GGUF_STRING)
        return tn_set_error("%s: tokenizer.ggml.tokens: expected an array of strings", path);
    uint64_t n = tn_gguf_arr_len(g, ki);
    if (n == 0 || n > (uint64_t)INT32_MAX / 2)
        return tn_set_error("%s: tokenizer.ggml.tokens: bad token count %llu", path,
                            (unsigned long long)n);
    v->n_tokens = (int32_t)n;
    v->off = malloc(n * sizeof *v->off);
    v->len = malloc(n * sizeof *v->len);
    if (!v->off || !v->len)
        return tn_set_error("%s: out of memory for %llu tokens", path, (unsigned long long)n);
    /* An empty token is renamed "[EMPTY_<id>]" as llama.cpp does, so every text is unique and
     * non-empty. */
    uint64_t total = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t len = 0;
        if (!tn_gguf_arr_str(g, ki, j, &len))
            return tn_set_error("%s: tokenizer.ggml.tokens[%llu] unreadable", path,
                                (unsigned long long)j);
        total += (len ? len : 32) + 1;
    }
    if (total > UINT32_MAX) return tn_set_error("%s: tokenizer.ggml.tokens: texts too large", path);
    v->blob = malloc(total);
    if (!v->blob) return tn_set_error("%s: out of memory for token texts", path);
    uint32_t o = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t len = 0;
        const char *s = tn_gguf_arr_str(g, ki, j, &len);
        v->off[j] = o;
        if (len == 0)
            len = (uint64_t)snprintf(v->blob + o, 32, "[EMPTY_%llu]", (unsigned long long)j);
        else
            memcpy(v->blob + o, s, len);
        v->len[j] = (uint32_t)len;
        if (len > (uint64_t)v->max_token_len) v->max_token_len = (int32_t)len;
        v->blob[o + len] = 0;
        o += (uint32_t)len + 1;
    }
    return 0;
}

static int load_scores_and_types(tn_vocab *v, const tn_gguf *g, const char *path) {
    size_t n = (size_t)v->n_tokens;
    v->score = calloc(n, sizeof *v->score);
    v->type = malloc(n);
    v->attr = malloc(n * sizeof *v->attr);
    if (!v->score || !v->type || !v->attr) return tn_set_error("%s: out of memory", path);

    int64_t ki = tn_gguf_find_key(g, "tokenizer.ggml.scores");
    if (ki >= 0) {
        tn_gguf_type at = tn_gguf_arr_type(g, ki);
        if (tn_gguf_kv_type(g, ki) != TN_GGUF_ARRAY || (at != TN_GGUF_F32 && at != TN_GGUF_I32))
            return tn_set_error("%s: tokenizer.ggml.scores: expected an f32 or i32 array", path);
        if (tn_gguf_arr_len(g, ki) < n)
            return tn_set_error("%s: tokenizer.ggml.scores: %llu scores for %zu tokens", path,
                                (unsigned long long)tn_gguf_arr_len(g, ki), n);
        const char *d = tn_gguf_arr_data(g, ki);
        for (size_t i = 0; i < n; i++) {
            float f;
            if (at == TN_GGUF_F32) {
                memcpy(&f, d + 4 * i, 4);
            } else {
                int32_t x;
                memcpy(&x, d + 4 * i, 4);
                f = (float)x;
            }
            v->score[i] = isnan(f) ? -INFINITY : f; /* keeps the merge heap's order total */
        }
    }

    int32_t *types = NULL;
    uint64_t n_types = 0;
    int rc = tn_gguf_get_arr_i32(g, "tokenizer.ggml.token_type", &types, &n_types);
    if (rc < 0) return -1;
    if (rc == 0 && n_types < n) {
        free(types);
        return tn_set_error("%s: tokenizer.ggml.token_type: %llu types for %zu tokens", path,
                            (unsigned long long)n_types, n);
    }
    static const uint16_t attr_of_type[7] = {0,
                                             TN_ATTR_NORMAL,
                                             TN_ATTR_UNKNOWN,
                                             TN_ATTR_CONTROL,
                                             TN_ATTR_USER_DEFINED,
                                             TN_ATTR_UNUSED,
                                             TN_ATTR_BYTE};
    for (size_t i = 0; i < n; i++) {
        int32_t t = types ? types[i] : TN_TOKEN_NORMAL;
        if (t < 0 || t > TN_TOKEN_BYTE) t = TN_TOKEN_UNDEFINED;
        v->type[i] = (uint8_t)t;
        v->attr[i] = attr_of_type[t];
    }
    free(types);
    return 0;
}

/* Reads an optional token id. Present but >= n_tokens: ignored (keeps the default), as
 * llama.cpp does; present with a non-integer type: error. */
static int load_id(const tn_gguf *g, const char *key, int32_t n_tokens, int32_t *id) {
    if (*id >= n_tokens) *id = -1;
    uint32_t x;
    int rc = tn_gguf_get_u32(g, key, &x);
    if (rc < 0) return -1;
    if (rc == 0 && x < (uint32_t)n_tokens) *id = (int32_t)x;
    return 0;
}

static int load_flag(const tn_gguf *g, const char *key, bool *flag) {
    return tn_gguf_get_bool(g, key, flag) < 0 ? -1 : 0;
}

static void find_byte_tokens(tn_vocab *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        char one = (char)b;
        int32_t id = tn_vocab_find(v, name, 6);
        v->byte_id[b] = id >= 0 ? id : tn_vocab_find(v, &one, 1);
    }
}

static int32_t find_str(const tn_vocab *v, const char *s) {
    return tn_vocab_find(v, s, strlen(s));
}

static int add_eog(tn_vocab *v, int32_t id) {
    if (id < 0) return 0;
    for (int32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return 0;
    int32_t *e = realloc(v->eog, (size_t)(v->n_eog + 1) * sizeof *e);
    if (!e) return tn_set_error("tokenizer: out of memory");
    v->eog = e;
    v->eog[v->n_eog++] = id;
    return 0;
}

static void remove_eog(tn_vocab *v, int32_t id) {
    for (int32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) v->eog[i] = v->eog[--v->n_eog];
}

/* End-of-turn / end-of-generation detection by token text (llama.cpp's lists). */
static int detect_eog(tn_vocab *v) {
    static const char *const eot_texts[] = {"<|eot_id|>",
                                            "<|im_end|>",
                                            "<|end|>",
                                            "<end_of_turn>",
                                            "<|endoftext|>",
                                            "<|end_of_text|>",
                                            "<EOT>",
                                            "_<EOT>",
                                            "[EOT]",
                                            "<\xef\xbd\x9c"
                                            "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                            "<end_of_utterance>"};
    static const char *const eog_texts[] = {"<|eot_id|>",
                                            "<|im_end|>",
                                            "<|end|>",
                                            "<|return|>",
                                            "<|call|>",
                                            "<|flush|>",
                                            "<|calls|>",
                                            "<end_of_turn>",
                                            "<|endoftext|>",
                                            "</s>",
                                            "<|eom_id|>",
                                            "<EOT>",
                                            "_<EOT>",
                                            "[EOT]",
                                            "[EOS]",
                                            "<|end_of_text|>",
                                            "<end_of_utterance>",
                                            "<eos>",
                                            "<turn|>",
                                            "<|tool_response>",
                                            "<\xef\xbd\x9c"
                                            "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                            "[e~["};
    for (size_t i = 0; v->eot < 0 && i < sizeof eot_texts / sizeof *eot_texts; i++) {
        v->eot = find_str(v, eot_texts[i]);
        if (v->eot >= 0) v->attr[v->eot] |= TN_ATTR_CONTROL;
    }
    for (size_t i = 0; i < sizeof eog_texts / sizeof *eog_texts; i++) {
        int32_t id = find_str(v, eog_texts[i]);
        if (id < 0) continue;
        v->attr[id] |= TN_ATTR_CONTROL;
        if (add_eog(v, id)) return -1;
    }
    if (add_eog(v, v->eos) || add_eog(v, v->eot)) return -1;
    /* Harmony-style vocabularies use <|end|> between messages, not at the end; Gemma-4 style
     * ones use </s> as text. */
    int32_t end = find_str(v, "<|end|>"), ret = find_str(v, "<|return|>");
    int32_t call =
        find_str(v, "<|call|>") >= 0 ? find_str(v, "<|call|>") : find_str(v, "<|calls|>");
    if (end >= 0 && call >= 0 && (ret >= 0 || find_str(v, "<|flush|>") >= 0)) {
        remove_eog(v, end);
        v->attr[end] = TN_ATTR_USER_DEFINED;
    }
    int32_t s_end = find_str(v, "</s>");
    if (s_end >= 0 && find_str(v, "<|tool_response>") >= 0) {
        remove_eog(v, s_end);
        v->attr[s_end] = TN_ATTR_NORMAL;
    }
    return 0;
}

typedef struct {
    uint32_t len;
    int32_t id;
} len_id;

static int cmp_longest_first(const void *a, const void *b) {
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int build_special_list(tn_vocab *v) {
    const uint16_t mask = TN_ATTR_CONTROL | TN_ATTR_USER_DEFINED | TN_ATTR_UNKNOWN;
    int32_t n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        n += (v->attr[id] & mask) != 0;
    len_id *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
    v->special = malloc((size_t)(n ? n : 1) * sizeof *v->special);
    if (!tmp || !v->special) {
        free(tmp);
        return tn_set_error("tokenizer: out of memory");
    }
    n = 0;
    for (int32_t id = 0; id < v->n_tokens; id++)
        if (v->attr[id] & mask) tmp[n++] = (len_id){v->len[id], id};
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_longest_first);
    for (int32_t i = 0; i < n; i++)
        v->special[i] = tmp[i].id;
    v->n_special = n;
    free(tmp);
    return 0;
}

static void apply_model_quirks(tn_vocab *v, const tn_gguf *g) {
    const char *name = NULL;
    if (tn_gguf_get_str(g, "general.name", &name) != 0 || !name) return;
    char low[256];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = 0;
    if (!strstr(low, "phi-3") && !strstr(low, "phi3")) return;
    for (int32_t k = 0; k < v->n_special; k++)
        v->attr[v->special[k]] |= TN_ATTR_RSTRIP;
    int32_t id = find_str(v, "</s>");
    if (id >= 0) v->attr[id] |= TN_ATTR_RSTRIP;
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (size_t k = 0; k < 3; k++)
        if ((id = find_str(v, keep[k])) >= 0) v->attr[id] &= (uint16_t)~TN_ATTR_RSTRIP;
}

tn_vocab *tn_vocab_load(const tn_gguf *g) {
    if (!g) {
        tn_set_error("tn_vocab_load: no GGUF");
        return NULL;
    }
    const char *path = tn_gguf_path(g) ? tn_gguf_path(g) : "(gguf)";
    const char *model = NULL;
    int rc = tn_gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (rc != 0) {
        if (rc > 0) tn_set_error("%s: missing tokenizer.ggml.model", path);
        return NULL;
    }
    /* New models: an enum value in tok_internal.h, their defaults here, an init and an encoder
     * in a sibling tok_*.c file, and a case in encode_text() / tn_vocab_free(). */
    int kind = !strcmp(model, "llama") ? TN_TOK_SPM
               : !strcmp(model, "gpt2") ? TN_TOK_BPE
               : !strcmp(model, "bert") ? TN_TOK_WPM
                                        : 0;
    if (!kind) {
        tn_set_error("%s: tokenizer.ggml.model '%s' is not supported (llama, gpt2, bert)", path,
                     model);
        return NULL;
    }
    tn_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        tn_set_error("%s: out of memory", path);
        return NULL;
    }
    v->model = kind;
    v->eot = -1, v->pad = -1, v->sep = -1;
    v->add_eos = false;
    if (kind == TN_TOK_SPM) {
        /* SentencePiece defaults (llama.cpp): <unk>=0 <s>=1 </s>=2, BOS added, dummy prefix. */
        v->unk = 0, v->bos = 1, v->eos = 2;
        v->add_bos = true, v->add_space_prefix = true;
    } else if (kind == TN_TOK_BPE) {
        v->unk = -1, v->bos = 11, v->eos = 11;
        v->add_bos = false, v->add_space_prefix = false;
    } else {
        v->unk = 100, v->bos = 101, v->eos = -1, v->sep = 102, v->pad = 0;
        v->add_bos = true, v->add_space_prefix = false;
    }

    if (load_texts(v, g, path, model) || load_scores_and_types(v, g, path) || build_hash(v, path))
        goto fail;
    if (kind == TN_TOK_BPE) {
        if (tn_bpe_init(v, g, path)) goto fail;
        v->add_bos = tn_bpe_default_add_bos(v);
    }
    if (kind == TN_TOK_WPM && load_id(g, "tokenizer.ggml.cls_token_id", v->n_tokens, &v->bos))
        goto fail;
    if (load_id(g, "tokenizer.ggml.bos_token_id", v->n_tokens, &v->bos) ||
        load_id(g, "tokenizer.ggml.eos_token_id", v->n_tokens, &v->eos) ||
        load_id(g, "tokenizer.ggml.eot_token_id", v->n_tokens, &v->eot) ||
        load_id(g, "tokenizer.ggml.unknown_token_id", v->n_tokens, &v->unk) ||
        load_id(g, "tokenizer.ggml.padding_token_id", v->n_tokens, &v->pad) ||
        load_id(g, "tokenizer.ggml.seperator_token_id", v->n_tokens, &v->sep) ||
        load_flag(g, "tokenizer.ggml.add_bos_token", &v->add_bos) ||
        load_flag(g, "tokenizer.ggml.add_eos_token", &v->add_eos) ||
        load_flag(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix))
        goto fail;
    if (v->model != TN_TOK_WPM) v->sep = -1; /* only WordPiece appends it */
    if (v->add_bos && v->bos < 0) {
        tn_set_error("%s: tokenizer.ggml.add_bos_token is true but there is no BOS token", path);
        goto fail;
    }
    if (v->add_eos && v->eos < 0) {
        tn_set_error("%s: tokenizer.ggml.add_eos_token is true but there is no EOS token", path);
        goto fail;
    }
    find_byte_tokens(v);
    if (detect_eog(v) || build_special_list(v)) goto fail;
    if (v->model == TN_TOK_SPM && tn_spm_init(v)) goto fail;
    apply_model_quirks(v, g);
    return v;
fail:
    tn_vocab_free(v);
    return NULL;
}

void tn_vocab_free(tn_vocab *v) {
    if (!v) return;
    tn_spm_free(v);
    tn_bpe_free(v);
    free(v->blob);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->attr);
    free(v->slots);
    free(v->special);
    free(v->eog);
    free(v);
}

/* ---- accessors ---- */

int32_t tn_vocab_n_tokens(const tn_vocab *v) {
    return v->n_tokens;
}
int32_t tn_vocab_bos(const tn_vocab *v) {
    return v->bos;
}
int32_t tn_vocab_eos(const tn_vocab *v) {
    return v->eos;
}
int32_t tn_vocab_eot(const tn_vocab *v) {
    return v->eot;
}
int32_t tn_vocab_unk(const tn_vocab *v) {
    return v->unk;
}
bool tn_vocab_add_bos(const tn_vocab *v) {
    return v->add_bos;
}
bool tn_vocab_add_eos(const tn_vocab *v) {
    return v->add_eos;
}
bool tn_vocab_add_space_prefix(const tn_vocab *v) {
    return v->add_space_prefix;
}

int32_t tn_vocab_sep(const tn_vocab *v) {
    return v->sep;
}
const char *tn_vocab_model_name(const tn_vocab *v) {
    return v->model == TN_TOK_SPM ? "llama" : v->model == TN_TOK_BPE ? "gpt2" : "bert";
}

bool tn_vocab_is_eog(const tn_vocab *v, int32_t id) {
    for (int32_t i = 0; id >= 0 && i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

const char *tn_vocab_text(const tn_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens ? v->blob + v->off[id] : NULL;
}

int tn_vocab_token_type(const tn_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens ? v->type[id] : -1;
}

/* ---- encoding ---- */

typedef struct {
    size_t off, len;
    int32_t tok; /* -1: plain text text[off..off+len) */
} frag;

typedef struct {
    frag *a;
    size_t n, cap;
} frag_list;

static int frag_add(frag_list *l, size_t off, size_t len, int32_t tok) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        frag *a = realloc(l->a, cap * sizeof *a);
        if (!a) return tn_set_error("tokenizer: out of memory");
        l->a = a, l->cap = cap;
    }
    l->a[l->n++] = (frag){off, len, tok};
    return 0;
}

static inline bool is_space(char c) { /* isspace() in the C locale */
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Replaces every non-overlapping occurrence (leftmost first) of special token s, text t[0..tl),
 * in the plain fragments of *cur by the token; result in *cur. */
static int split_one(const char *text, int32_t s, const char *t, size_t tl, uint16_t attr,
                     frag_list *cur, frag_list *next) {
    next->n = 0;
    for (size_t i = 0; i < cur->n; i++) {
        frag f = cur->a[i];
        if (f.tok >= 0 || f.len < tl) {
            if (frag_add(next, f.off, f.len, f.tok)) return -1;
            continue;
        }
        size_t pos = f.off, end = f.off + f.len;
        const char *m;
        while ((m = memmem(text + pos, end - pos, t, tl)) != NULL) {
            size_t mo = (size_t)(m - text), left = mo - pos;
            if (attr & TN_ATTR_LSTRIP)
                while (left > 0 && is_space(text[pos + left - 1]))
                    left--;
            if (left && frag_add(next, pos, left, -1)) return -1;
            if (frag_add(next, 0, 0, s)) return -1;
            pos = mo + tl;
            if (attr & TN_ATTR_RSTRIP)
                while (pos < end && is_space(text[pos]))
                    pos++;
        }
        if (pos < end && frag_add(next, pos, end - pos, -1)) return -1;
    }
    frag_list t2 = *cur;
    *cur = *next;
    *next = t2;
    return 0;
}

/* Byte pairs present in a text, as a 65536-bit set: a special token with a byte pair the text
 * lacks cannot occur in it. Vocabularies with hundreds of user-defined tokens (DeepSeek's) would
 * otherwise cost one search of the whole text per token (58 % of DeepSeek-LLM's encoding time). */
typedef struct {
    uint64_t bits[1024];
} pair_set;

static void pair_set_build(pair_set *ps, const char *text, size_t len) {
    memset(ps, 0, sizeof *ps);
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned p = (unsigned char)text[i] << 8 | (unsigned char)text[i + 1];
        ps->bits[p >> 6] |= 1ull << (p & 63);
    }
}

static bool pair_set_may_contain(const pair_set *ps, const char *t, size_t tl) {
    for (size_t i = 0; i + 1 < tl; i++) {
        unsigned p = (unsigned char)t[i] << 8 | (unsigned char)t[i + 1];
        if (!(ps->bits[p >> 6] >> (p & 63) & 1)) return false;
    }
    return true;
}

/* Splits text into plain fragments and special tokens, one special token at a time (longest
 * first), every non-overlapping occurrence left to right. Result in *cur. */
static int split_special(const tn_vocab *v, const char *text, size_t len, bool parse_special,
                         frag_list *cur, frag_list *next) {
    if (len && frag_add(cur, 0, len, -1)) return -1;
    /* the filter pays off only when there are many tokens to look for in a long text */
    pair_set *ps = NULL;
    if (len >= 4096 && v->n_special >= 32 && (ps = malloc(sizeof *ps)))
        pair_set_build(ps, text, len);
    int rc = 0;
    for (int32_t k = 0; k < v->n_special && cur->n && rc == 0; k++) {
        int32_t s = v->special[k];
        uint16_t attr = v->attr[s];
        if (!parse_special && (attr & (TN_ATTR_CONTROL | TN_ATTR_UNKNOWN))) continue;
        const char *t = v->blob + v->off[s];
        size_t tl = v->len[s];
        if (ps && !pair_set_may_contain(ps, t, tl)) continue;
        rc = split_one(text, s, t, tl, attr, cur, next);
    }
    free(ps);
    return rc;
}

/* Encodes one plain-text fragment with the vocabulary's algorithm. after_special: the fragment
 * starts the input or follows a special token. */
static int encode_text(const tn_vocab *v, const char *s, size_t n, bool after_special,
                       tn_tok_sink *sink) {
    switch (v->model) {
    case TN_TOK_SPM:
        return tn_spm_encode(v, s, n, v->add_space_prefix && after_special, sink);
    case TN_TOK_BPE:
        return tn_bpe_encode(v, s, n, sink);
    case TN_TOK_WPM:
        return tn_wpm_encode(v, s, n, sink);
    }
    return tn_set_error("tokenizer: no encoder for model %d", v->model);
}

int32_t tn_vocab_encode(const tn_vocab *v, const char *text, size_t len, bool add_bos,
                        bool parse_special, int32_t *out, int32_t max_out) {
    if (!v || (!text && len) || max_out < 0 || (!out && max_out > 0)) {
        tn_set_error("tn_vocab_encode: invalid arguments");
        return INT32_MIN;
    }
    if (add_bos && v->bos < 0) {
        tn_set_error("tn_vocab_encode: BOS requested but the vocabulary has none");
        return INT32_MIN;
    }
    tn_tok_sink sink = {out, max_out, 0};
    frag_list cur = {0}, next = {0};
    int rc = split_special(v, text, len, parse_special, &cur, &next);
    if (add_bos) tn_tok_push(&sink, v->bos);
    bool prev_special = true; /* the first fragment gets the dummy prefix */
    for (size_t i = 0; rc == 0 && i < cur.n; i++) {
        const frag *f = &cur.a[i];
        if (f->tok >= 0) {
            tn_tok_push(&sink, f->tok);
            prev_special = true;
        } else {
            rc = encode_text(v, text + f->off, f->len, prev_special, &sink);
            prev_special = false;
        }
    }
    if (add_bos && v->sep >= 0) tn_tok_push(&sink, v->sep); /* [CLS] text [SEP] */
    free(cur.a);
    free(next.a);
    if (rc) return INT32_MIN;
    if (sink.n > INT32_MAX) {
        tn_set_error("tn_vocab_encode: %lld tokens do not fit in int32", (long long)sink.n);
        return INT32_MIN;
    }
    return sink.n > max_out ? -(int32_t)sink.n : (int32_t)sink.n;
}

/* ---- decoding ---- */

static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int32_t tn_vocab_token_to_piece(const tn_vocab *v, int32_t id, bool special, char *buf,
                                int32_t size) {
    if (!v || id < 0 || id >= v->n_tokens || size < 0 || (!buf && size > 0)) {
        tn_set_error("tn_vocab_token_to_piece: invalid token id %d or buffer", (int)id);
        return INT32_MIN;
    }
    uint16_t attr = v->attr[id];
    const char *t = v->blob + v->off[id];
    uint32_t tl = v->len[id];
    /* Control and unknown tokens are hidden unless asked for; unused/undefined ones always are
     * (llama.cpp). Special and user-defined tokens come out as their raw text. */
    if (!special && (attr & (TN_ATTR_CONTROL | TN_ATTR_UNKNOWN))) return 0;
    if (attr & TN_ATTR_BYTE &&
        !(attr & (TN_ATTR_CONTROL | TN_ATTR_UNKNOWN | TN_ATTR_USER_DEFINED | TN_ATTR_NORMAL))) {
        int hi = tl == 6 ? hex_val(t[3]) : -1, lo = tl == 6 ? hex_val(t[4]) : -1;
        if (hi >= 0 && lo >= 0 && memcmp(t, "<0x", 3) == 0 && t[5] == '>') {
            if (size < 1) return -1;
            buf[0] = (char)(hi * 16 + lo);
            return 1;
        }
        attr = TN_ATTR_USER_DEFINED; /* malformed byte token: show its text */
    }
    if (attr & (TN_ATTR_CONTROL | TN_ATTR_UNKNOWN | TN_ATTR_USER_DEFINED)) {
        if ((uint32_t)size < tl) return -(int32_t)tl;
        memcpy(buf, t, tl);
        return (int32_t)tl;
    }
    if (!(attr & TN_ATTR_NORMAL)) return 0;
    if (v->model == TN_TOK_BPE) return tn_bpe_token_bytes(v, id, buf, size);
    uint32_t need = 0;
    for (uint32_t i = 0; i < tl; i++, need++)
        if (i + 2 < tl && memcmp(t + i, "\xe2\x96\x81", 3) == 0) i += 2;
    if ((uint32_t)size < need) return -(int32_t)need;
    uint32_t o = 0;
    for (uint32_t i = 0; i < tl; i++) {
        if (i + 2 < tl && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
            buf[o++] = ' ';
            i += 2;
        } else {
            buf[o++] = t[i];
        }
    }
    return (int32_t)o;
}

int32_t tn_vocab_detokenize(const tn_vocab *v, const int32_t *ids, int32_t n, bool special,
                            bool remove_space, char *buf, int32_t size) {
    if (!v || n < 0 || (!ids && n) || size < 0 || (!buf && size > 0)) {
        tn_set_error("tn_vocab_detokenize: invalid arguments");
        return INT32_MIN;
    }
    int64_t total = 0;
    bool first = true;
    char small[64];
    for (int32_t i = 0; i < n; i++) {
        char *piece = small, *heap = NULL;
        int32_t k = tn_vocab_token_to_piece(v, ids[i], special, small, (int32_t)sizeof small);
        if (k < 0 && k != INT32_MIN) {
            piece = heap = malloc((size_t)-k);
            if (!heap) {
                tn_set_error("tn_vocab_detokenize: out of memory");
                return INT32_MIN;
            }
            k = tn_vocab_token_to_piece(v, ids[i], special, heap, -k);
        }
        if (k == INT32_MIN) return INT32_MIN;
        if (k > 0 && first) {
            first = false;
            if (remove_space && piece[0] == ' ') piece++, k--;
        }
        if (total + k <= size && k > 0) memcpy(buf + total, piece, (size_t)k);
        total += k;
        free(heap);
        if (total > INT32_MAX) {
            tn_set_error("tn_vocab_detokenize: output exceeds 2 GiB");
            return INT32_MIN;
        }
    }
    return total > size ? -(int32_t)total : (int32_t)total;
}
