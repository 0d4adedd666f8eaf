/* Internal to the tokenizer files (tokenizer.c and the per-algorithm tok_*.c): the loaded
 * vocabulary that every encoder reads, the text->id hash map and the output sink. tokenizer.c
 * loads the vocabulary, splits the input around special tokens and dispatches each plain-text
 * fragment to the encoder of the vocabulary's model: tok_spm.c for "llama" (SentencePiece BPE),
 * tok_bpe.c for "gpt2" (byte-level BPE), tok_wpm.c for "bert" (WordPiece). */
#ifndef TN_FORMATS_TOK_INTERNAL_H
#define TN_FORMATS_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/tokenizer.h"

/* Which algorithm encodes plain text (tokenizer.ggml.model). */
enum { TN_TOK_SPM = 1, TN_TOK_BPE = 2, TN_TOK_WPM = 3 };

/* Token attribute bits, derived from token_type at load and then adjusted the way llama.cpp
 * adjusts them (end-of-generation texts become control, per-model strip flags). */
enum {
    TN_ATTR_NORMAL = 1u << 0,
    TN_ATTR_UNKNOWN = 1u << 1,
    TN_ATTR_CONTROL = 1u << 2,
    TN_ATTR_USER_DEFINED = 1u << 3,
    TN_ATTR_UNUSED = 1u << 4,
    TN_ATTR_BYTE = 1u << 5,
    TN_ATTR_LSTRIP = 1u << 6, /* swallow whitespace before the special token when matched */
    TN_ATTR_RSTRIP = 1u << 7, /* swallow whitespace after it */
};

struct tn_vocab {
    int model; /* TN_TOK_* */
    int32_t n_tokens;
    char *blob;     /* all token texts, each NUL-terminated */
    uint32_t *off;  /* [n_tokens] offset of token i's text in blob */
    uint32_t *len;  /* [n_tokens] byte length (texts may contain NUL bytes) */
    float *score;   /* [n_tokens] SentencePiece merge score (NaN replaced by -inf) */
    uint8_t *type;  /* [n_tokens] token_type as stored in the file (TN_TOKEN_*) */
    uint16_t *attr; /* [n_tokens] TN_ATTR_* bits */

    /* Open-addressing hash map text -> id: slots hold id + 1 (0 = empty). */
    uint32_t *slots;
    uint32_t slot_mask;

    int32_t bos, eos, eot, unk, pad;
    int32_t sep; /* WordPiece [SEP], appended after the text when BOS ([CLS]) is added; else -1 */
    bool add_bos, add_eos, add_space_prefix;

    int32_t byte_id[256]; /* byte fallback token per byte value, -1 if none */

    /* Tokens matched in raw text before the encoder runs (control, user-defined, unknown),
     * longest text first. */
    int32_t *special;
    int32_t n_special;

    int32_t *eog; /* end-of-generation ids */
    int32_t n_eog;

    struct tn_spm_index *spm; /* TN_TOK_SPM: encoder tables (tok_spm.c) */
    struct tn_bpe_index *bpe; /* TN_TOK_BPE: merges, pre-tokenizer, byte map (tok_bpe.c) */
    int32_t max_token_len;    /* longest token text in bytes (WordPiece's match window) */
};

/* Collects encoder output: writes while there is room, always counts. */
typedef struct tn_tok_sink {
    int32_t *out;
    int64_t max;
    int64_t n;
} tn_tok_sink;

static inline void tn_tok_push(tn_tok_sink *s, int32_t id) {
    if (s->n < s->max) s->out[s->n] = id;
    s->n++;
}

/* SentencePiece BPE (tok_spm.c). init builds the encoder's tables once the vocabulary is loaded
 * (0, or -1 with an error set); free releases them (safe on a partly loaded vocabulary). */
int tn_spm_init(tn_vocab *v);
void tn_spm_free(tn_vocab *v);
/* Encodes one plain-text fragment. add_prefix prepends the dummy
 * "▁". Returns 0, or -1 with an error set (out of memory, fragment too long). */
int tn_spm_encode(const tn_vocab *v, const char *text, size_t len, bool add_prefix,
                  tn_tok_sink *sink);

/* Byte-level BPE (tok_bpe.c). init reads tokenizer.ggml.merges and tokenizer.ggml.pre (0, or -1
 * with an error set); free is safe on a partly loaded vocabulary. */
int tn_bpe_init(tn_vocab *v, const tn_gguf *g, const char *path);
void tn_bpe_free(tn_vocab *v);
/* Whether the pre-tokenizer wants BOS by default (before tokenizer.ggml.add_bos_token). */
bool tn_bpe_default_add_bos(const tn_vocab *v);
int tn_bpe_encode(const tn_vocab *v, const char *text, size_t len, tn_tok_sink *sink);
/* Writes the bytes a normal byte-level token stands for (each character of its text is one byte
 * in GPT-2's byte-to-character map; other characters are copied as they are). Returns the byte
 * count, or its negative if buf (size bytes) is too small. */
int32_t tn_bpe_token_bytes(const tn_vocab *v, int32_t id, char *buf, int32_t size);

/* WordPiece (tok_wpm.c): BERT normalization, splitting, greedy longest-match. */
int tn_wpm_encode(const tn_vocab *v, const char *text, size_t len, tn_tok_sink *sink);

#endif
