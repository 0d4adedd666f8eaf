/* Tokenizer metadata for the converter, the way llama.cpp's converter fills tokenizer.ggml.*:
 *  - tokenizer.model present: SentencePiece ("llama" model, pre "default"): tokens, scores and
 *    types from the protobuf, padded to config.json's vocab_size with [PADn] (unused, -1000),
 *    then tokenizer_config.json's added_tokens_decoder entries override their ids.
 *  - otherwise tokenizer.json with a byte-level BPE model ("gpt2"): tokens by id from
 *    model.vocab and added_tokens, types normal/control/user-defined, merges; the pre-tokenizer
 *    name is recognized from its split expression (llama.cpp hashes the tokenization of a test
 *    text instead, which needs the Python tokenizer).
 * Special token ids come from tokenizer.json's added tokens (by the strings in
 * tokenizer_config.json), else config.json's *_token_id; add_bos/add_eos and the chat template
 * from tokenizer_config.json. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/convert_internal.h"
#include "convert/spm_model.h"
#include "core/error.h"

typedef struct vocab {
    char **tokens;
    uint64_t *lens;
    float *scores;
    int32_t *types;
    int64_t n;
} vocab;

static void vocab_free(vocab *v) {
    for (int64_t i = 0; v->tokens && i < v->n; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->lens);
    free(v->scores);
    free(v->types);
}

static int vocab_alloc(vocab *v, int64_t n) {
    v->n = n;
    v->tokens = calloc((size_t)n, sizeof *v->tokens);
    v->lens = calloc((size_t)n, sizeof *v->lens);
    v->scores = calloc((size_t)n, sizeof *v->scores);
    v->types = calloc((size_t)n, sizeof *v->types);
    if (!v->tokens || !v->lens || !v->scores || !v->types)
        return tn_set_error("convert: out of memory for %" PRId64 " tokens", n);
    return 0;
}

static int vocab_set(vocab *v, int64_t id, const char *s, size_t len) {
    char *p = malloc(len + 1);
    if (!p) return tn_set_error("convert: out of memory");
    memcpy(p, s, len);
    p[len] = 0;
    free(v->tokens[id]);
    v->tokens[id] = p;
    v->lens[id] = len;
    return 0;
}

/* llama.cpp's does_token_look_special: <|...|> and a few known spellings. */
static bool looks_special(const char *t) {
    size_t n = strlen(t);
    if (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>")) return true;
    return !strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") ||
           !strcmp(t, "[@BOS@]");
}

static int pad_vocab(vocab *v, int64_t from) {
    for (int64_t i = from; i < v->n; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "[PAD%" PRId64 "]", i);
        if (vocab_set(v, i, buf, (size_t)n)) return -1;
        v->scores[i] = -1000.0f;
        v->types[i] = TN_SPM_UNUSED;
    }
    return 0;
}

static int load_spm(conv *c, const char *path, vocab *v) {
    tn_spm_model m;
    if (tn_spm_model_load(path, &m)) return -1;
    int64_t n = c->hp.has_vocab_size ? c->hp.vocab_size : m.n;
    int rc = vocab_alloc(v, n) || pad_vocab(v, 0);
    for (int64_t i = 0; rc == 0 && i < m.n && i < n; i++) {
        const tn_spm_piece *p = &m.pieces[i];
        rc = vocab_set(v, i, p->piece, p->len);
        v->scores[i] = p->score;
        /* llama.cpp asks sentencepiece IsUnknown/IsControl/IsUnused/IsByte; anything else,
         * user-defined pieces included, is written as normal */
        v->types[i] = p->type == TN_SPM_USER_DEFINED ? TN_SPM_NORMAL : p->type;
    }
    tn_spm_model_free(&m);
    if (rc) return -1;
    /* added_tokens_decoder: {"id": {"content": ..., "special": bool}} */
    const tn_json *atd = tn_json_get(c->tok_config, "added_tokens_decoder");
    for (size_t i = 0; atd && atd->type == TN_JSON_OBJECT && i < atd->n; i++) {
        char *end;
        long long id = strtoll(atd->keys[i], &end, 10);
        const char *content = tn_json_get_str(atd->items[i], "content");
        if (*end || id < 0 || !content)
            return tn_set_error("%s/tokenizer_config.json: bad added_tokens_decoder entry '%s'",
                                c->dir, atd->keys[i]);
        if (id >= n) continue; /* llama.cpp skips ids past the vocabulary too */
        bool special = false;
        tn_json_get_bool(atd->items[i], "special", &special);
        if (special || looks_special(content)) {
            if (vocab_set(v, id, content, strlen(content))) return -1;
            v->types[id] = TN_SPM_CONTROL;
        } else {
            /* user-defined pieces are matched in pre-normalized text: U+2581 becomes a space */
            size_t len = strlen(content), o = 0;
            char *tmp = malloc(len + 1);
            if (!tmp) return tn_set_error("convert: out of memory");
            for (size_t k = 0; k < len;) {
                if (!strncmp(content + k, "\xe2\x96\x81", 3)) {
                    tmp[o++] = ' ';
                    k += 3;
                } else {
                    tmp[o++] = content[k++];
                }
            }
            int r = vocab_set(v, id, tmp, o);
            free(tmp);
            if (r) return -1;
            v->types[id] = TN_SPM_USER_DEFINED;
        }
        v->scores[id] = -1000.0f;
    }
    return 0;
}

/* ---- tokenizer.json (byte-level BPE) ---- */

static const char *bpe_pre_name(const tn_json *tj) {
    /* Split expressions appear in pre_tokenizer (possibly inside a Sequence) */
    const tn_json *pt = tn_json_get(tj, "pre_tokenizer");
    const tn_json *list = tn_json_get(pt, "pretokenizers");
    size_t n = list && list->type == TN_JSON_ARRAY ? list->n : 1;
    bool byte_level = false;
    for (size_t i = 0; i < n; i++) {
        const tn_json *p = list && list->type == TN_JSON_ARRAY ? list->items[i] : pt;
        const char *type = tn_json_get_str(p, "type");
        if (type && !strcmp(type, "ByteLevel")) {
            bool use_regex = true;
            tn_json_get_bool(p, "use_regex", &use_regex);
            byte_level |= use_regex;
        }
        const char *re = tn_json_get_str(tn_json_get(p, "pattern"), "Regex");
        if (!type || strcmp(type, "Split") || !re) continue;
        bool letters = strstr(re, "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+") != NULL;
        if (letters && strstr(re, "\\p{N}{1,3}")) return "llama-bpe";
        if (letters && strstr(re, "|\\p{N}|")) return "qwen2";
        return NULL;
    }
    return byte_level ? "gpt-2" : NULL;
}

static int load_bpe(conv *c, vocab *v, const char **pre, char ***merges, uint64_t *n_merges) {
    const tn_json *tj = c->tok_json, *model = tn_json_get(tj, "model");
    const char *type = tn_json_get_str(model, "type");
    const tn_json *tv = tn_json_get(model, "vocab"), *added = tn_json_get(tj, "added_tokens");
    if (!type || strcmp(type, "BPE") || !tv || tv->type != TN_JSON_OBJECT)
        return tn_set_error("%s/tokenizer.json: model type '%s' is not supported (byte-level BPE "
                            "only; SentencePiece models need tokenizer.model)",
                            c->dir, type ? type : "?");
    if (!(*pre = bpe_pre_name(tj)))
        return tn_set_error("%s/tokenizer.json: pre-tokenizer not recognized (known: the GPT-2, "
                            "Llama-3 and Qwen2 split expressions)",
                            c->dir);
    int64_t n = 0;
    for (size_t i = 0; i < tv->n; i++)
        if (tv->items[i]->is_int && tv->items[i]->i >= n) n = tv->items[i]->i + 1;
    for (size_t i = 0; added && added->type == TN_JSON_ARRAY && i < added->n; i++) {
        int64_t id;
        if (tn_json_get_int(added->items[i], "id", &id) && id >= n) n = id + 1;
    }
    if (c->hp.has_vocab_size) n = c->hp.vocab_size;
    if (vocab_alloc(v, n) || pad_vocab(v, 0)) return -1;
    for (size_t i = 0; i < tv->n; i++) {
        const tn_json *id = tv->items[i];
        if (id->type != TN_JSON_NUMBER || !id->is_int || id->i < 0)
            return tn_set_error("%s/tokenizer.json: vocab entry '%s' has no integer id", c->dir,
                                tv->keys[i]);
        if (id->i >= n) continue;
        if (vocab_set(v, id->i, tv->keys[i], strlen(tv->keys[i]))) return -1;
        v->types[id->i] = TN_SPM_NORMAL;
    }
    for (size_t i = 0; added && added->type == TN_JSON_ARRAY && i < added->n; i++) {
        int64_t id;
        const char *content = tn_json_get_str(added->items[i], "content");
        if (!tn_json_get_int(added->items[i], "id", &id) || id < 0 || !content)
            return tn_set_error("%s/tokenizer.json: added_tokens[%zu] needs id and content",
                                c->dir, i);
        if (id >= n) continue;
        bool special = false;
        tn_json_get_bool(added->items[i], "special", &special);
        if (vocab_set(v, id, content, strlen(content))) return -1;
        v->types[id] = special || looks_special(content) ? TN_SPM_CONTROL : TN_SPM_USER_DEFINED;
    }
    const tn_json *m = tn_json_get(model, "merges");
    size_t nm = m && m->type == TN_JSON_ARRAY ? m->n : 0;
    *merges = calloc(nm ? nm : 1, sizeof **merges);
    if (!*merges) return tn_set_error("convert: out of memory");
    *n_merges = nm;
    for (size_t i = 0; i < nm; i++) {
        const tn_json *e = m->items[i];
        /* "a b", or ["a", "b"] in newer files */
        if (e->type == TN_JSON_STRING) {
            (*merges)[i] = strdup(e->str);
        } else if (e->type == TN_JSON_ARRAY && e->n == 2 && e->items[0]->type == TN_JSON_STRING &&
                   e->items[1]->type == TN_JSON_STRING) {
            size_t la = e->items[0]->len, lb = e->items[1]->len;
            if (((*merges)[i] = malloc(la + lb + 2))) {
                memcpy((*merges)[i], e->items[0]->str, la);
                (*merges)[i][la] = ' ';
                memcpy((*merges)[i] + la + 1, e->items[1]->str, lb + 1);
            }
        } else {
            return tn_set_error("%s/tokenizer.json: merges[%zu] is neither \"a b\" nor [a, b]",
                                c->dir, i);
        }
        if (!(*merges)[i]) return tn_set_error("convert: out of memory");
    }
    return 0;
}

/* ---- special tokens ---- */

/* A tokenizer_config.json token entry: a string or {"content": ...}. */
static const char *config_token(const tn_json *tc, const char *key) {
    const tn_json *e = tn_json_get(tc, key);
    if (e && e->type == TN_JSON_STRING) return e->str;
    return tn_json_get_str(e, "content");
}

static int write_special(conv *c, int64_t n_vocab) {
    static const char *const types[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char key[64];
        int64_t id = -1;
        /* by string through tokenizer.json's added tokens (llama.cpp's first source) */
        snprintf(key, sizeof key, "%s_token", types[i]);
        const char *s = config_token(c->tok_config, key);
        const tn_json *added = tn_json_get(c->tok_json, "added_tokens");
        for (size_t k = 0; s && added && added->type == TN_JSON_ARRAY && k < added->n; k++) {
            const char *content = tn_json_get_str(added->items[k], "content");
            if (content && !strcmp(content, s)) tn_json_get_int(added->items[k], "id", &id);
        }
        if (id < 0) {
            snprintf(key, sizeof key, "%s_token_id", types[i]);
            const tn_json *e = tn_json_get(c->config, key);
            if (e && e->type == TN_JSON_ARRAY && e->n > 0) e = e->items[0]; /* eos lists */
            if (e && e->type == TN_JSON_NUMBER && e->is_int) id = e->i;
        }
        if (id < 0 || id >= n_vocab) continue;
        snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", types[i]);
        if (tn_gguf_writer_set_u32(c->w, key, (uint32_t)id)) return -1;
    }
    static const char *const add[] = {"bos", "eos", "sep"};
    for (size_t i = 0; i < sizeof add / sizeof add[0]; i++) {
        char key[64];
        bool b;
        snprintf(key, sizeof key, "add_%s_token", add[i]);
        if (!tn_json_get_bool(c->tok_config, key, &b)) continue;
        snprintf(key, sizeof key, "tokenizer.ggml.add_%s_token", add[i]);
        if (tn_gguf_writer_set_bool(c->w, key, b)) return -1;
    }
    return 0;
}

static int write_chat_template(conv *c) {
    const tn_json *t = tn_json_get(c->tok_config, "chat_template");
    if (t && t->type == TN_JSON_STRING)
        return tn_gguf_writer_set_str(c->w, "tokenizer.chat_template", t->str);
    if (t && t->type == TN_JSON_ARRAY) { /* [{"name", "template"}], "default" is the main one */
        for (size_t i = 0; i < t->n; i++) {
            const char *name = tn_json_get_str(t->items[i], "name");
            const char *tpl = tn_json_get_str(t->items[i], "template");
            if (!name || !tpl) continue;
            char key[256];
            if (!strcmp(name, "default"))
                snprintf(key, sizeof key, "tokenizer.chat_template");
            else
                snprintf(key, sizeof key, "tokenizer.chat_template.%s", name);
            if (tn_gguf_writer_set_str(c->w, key, tpl)) return -1;
        }
        return 0;
    }
    /* newer checkpoints keep it in its own file */
    char path[4096];
    snprintf(path, sizeof path, "%s/chat_template.jinja", c->dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf && (n += fread(buf + n, 1, cap - n, f)) == cap) {
        char *nb = realloc(buf, (cap *= 2) + 1);
        if (!nb) free(buf);
        buf = nb;
    }
    fclose(f);
    if (!buf) return tn_set_error("convert: out of memory reading %s", path);
    buf[n] = 0;
    int rc = tn_gguf_writer_set_str(c->w, "tokenizer.chat_template", buf);
    free(buf);
    return rc;
}

int conv_write_vocab(conv *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.model", c->dir);
    vocab v = {0};
    char **merges = NULL;
    uint64_t n_merges = 0;
    int rc = -1;
    bool spm = access(path, F_OK) == 0;
    if (spm) {
        if (load_spm(c, path, &v)) goto out;
        if (tn_gguf_writer_set_str(c->w, "tokenizer.ggml.model", "llama") ||
            tn_gguf_writer_set_str(c->w, "tokenizer.ggml.pre", "default") ||
            tn_gguf_writer_set_arr_str(c->w, "tokenizer.ggml.tokens",
                                       (const char *const *)v.tokens, v.lens, (uint64_t)v.n) ||
            tn_gguf_writer_set_arr(c->w, "tokenizer.ggml.scores", TN_GGUF_F32, v.scores,
                                   (uint64_t)v.n) ||
            tn_gguf_writer_set_arr(c->w, "tokenizer.ggml.token_type", TN_GGUF_I32, v.types,
                                   (uint64_t)v.n))
            goto out;
    } else if (c->tok_json) {
        const char *pre = NULL;
        if (load_bpe(c, &v, &pre, &merges, &n_merges)) goto out;
        if (tn_gguf_writer_set_str(c->w, "tokenizer.ggml.model", "gpt2") ||
            tn_gguf_writer_set_str(c->w, "tokenizer.ggml.pre", pre) ||
            tn_gguf_writer_set_arr_str(c->w, "tokenizer.ggml.tokens",
                                       (const char *const *)v.tokens, v.lens, (uint64_t)v.n) ||
            tn_gguf_writer_set_arr(c->w, "tokenizer.ggml.token_type", TN_GGUF_I32, v.types,
                                   (uint64_t)v.n) ||
            tn_gguf_writer_set_arr_str(c->w, "tokenizer.ggml.merges",
                                       (const char *const *)merges, NULL, n_merges))
            goto out;
    } else {
        tn_set_error("%s: no tokenizer.model or tokenizer.json", c->dir);
        goto out;
    }
    rc = write_special(c, v.n) || write_chat_template(c) ? -1 : 0;
out:
    for (uint64_t i = 0; merges && i < n_merges; i++) free(merges[i]);
    free(merges);
    vocab_free(&v);
    return rc;
}
