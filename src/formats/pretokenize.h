/* Pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre): the regular expressions
 * that cut text into pieces before BPE merges run inside each piece, compiled with PCRE2 (UTF +
 * UCP, JIT). A tn_pretok is immutable once built and may be used by many threads at once. */
#ifndef TN_FORMATS_PRETOKENIZE_H
#define TN_FORMATS_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tn_pretok tn_pretok;

/* Builds the pre-tokenizer named by tokenizer.ggml.pre ("gpt-2", "llama-bpe", "qwen2", ...;
 * NULL or "" = "default"). NULL with an error naming the known names if it is not one. */
tn_pretok *tn_pretok_new(const char *name);
void tn_pretok_free(tn_pretok *p);
/* The canonical name of the pre-tokenizer family ("llama3", "gpt2", ...). */
const char *tn_pretok_family(const tn_pretok *p);
/* Pre-tokenizers whose vocabularies look a whole piece up before merging (llama.cpp's
 * ignore_merges: Llama-3, Tekken), and that want BOS by default. */
bool tn_pretok_ignore_merges(const tn_pretok *p);
bool tn_pretok_add_bos(const tn_pretok *p);

/* Receives one piece; returns 0 to go on, non-zero to stop (that value is returned). */
typedef int (*tn_pretok_fn)(void *user, const char *piece, size_t len);

/* Cuts text[0..len) into pieces and passes each (non-empty, in order, together covering the text
 * exactly) to fn. The expressions are applied one after the other: the first splits the text,
 * each next one splits every piece of the previous one on its own (so lookarounds and `$` see
 * only that piece); text between matches is kept as a piece (Hugging Face's "Isolated" split).
 * Bytes that are not valid UTF-8 never match an expression: they stay in the pieces between
 * matches. Returns 0, fn's non-zero value, or -1 with an error set (out of memory, or PCRE2
 * failing, e.g. its JIT stack limit on pathological input). */
int tn_pretok_split(const tn_pretok *p, const char *text, size_t len, tn_pretok_fn fn, void *user);

#endif
