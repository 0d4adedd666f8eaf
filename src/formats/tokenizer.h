/* Tokenizers built from GGUF metadata (tokenizer.ggml.*): SentencePiece-style ("llama"),
 * byte-level BPE ("gpt2", with the pre-tokenizer of tokenizer.ggml.pre) and WordPiece ("bert"),
 * behind one interface; plus a streaming detokenizer that never splits a UTF-8 character.
 * A tn_vocab is immutable after loading and safe to share between threads. */
#ifndef TN_FORMATS_TOKENIZER_H
#define TN_FORMATS_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"

typedef struct tn_vocab tn_vocab;

/* Token attributes, as llama.cpp's tokenizer.ggml.token_type values. */
enum {
    TN_TOKEN_UNDEFINED = 0,
    TN_TOKEN_NORMAL = 1,
    TN_TOKEN_UNKNOWN = 2,
    TN_TOKEN_CONTROL = 3,
    TN_TOKEN_USER_DEFINED = 4,
    TN_TOKEN_UNUSED = 5,
    TN_TOKEN_BYTE = 6,
};

tn_vocab *tn_vocab_load(const tn_gguf *g); /* NULL + error if metadata is missing/invalid */
void tn_vocab_free(tn_vocab *v);

int32_t tn_vocab_n_tokens(const tn_vocab *v);
int32_t tn_vocab_bos(const tn_vocab *v); /* -1 if none */
int32_t tn_vocab_eos(const tn_vocab *v);
int32_t tn_vocab_eot(const tn_vocab *v); /* end-of-turn, -1 if none */
bool tn_vocab_add_bos(const tn_vocab *v); /* tokenizer.ggml.add_bos_token (default per model) */
bool tn_vocab_is_eog(const tn_vocab *v, int32_t id); /* EOS, EOT or other end-of-generation */
const char *tn_vocab_text(const tn_vocab *v, int32_t id); /* raw vocabulary string */
int tn_vocab_token_type(const tn_vocab *v, int32_t id);

/* Encodes text (len bytes). add_bos prepends BOS; parse_special matches control/user-defined
 * token texts in the input. Returns the number of tokens; if that exceeds max_out, returns the
 * negative of the number needed and writes nothing useful. Returns INT32_MIN with an error set on
 * invalid input. */
int32_t tn_vocab_encode(const tn_vocab *v, const char *text, size_t len, bool add_bos,
                        bool parse_special, int32_t *out, int32_t max_out);

/* Writes the bytes token `id` stands for (SentencePiece "▁" -> space, <0xXX> -> byte) to buf.
 * Control tokens produce nothing unless `special`. Returns bytes written, or the negative of the
 * size needed if buf is too small. */
int32_t tn_vocab_token_to_piece(const tn_vocab *v, int32_t id, bool special, char *buf,
                                int32_t size);

/* ---- additions (spm) ---- */
/* Notes on the functions above, as implemented (llama.cpp's behaviour):
 * - encode: the dummy-prefix "▁" goes before the first text and before text that follows a
 *   special token; user-defined tokens are matched even when parse_special is false; EOS is
 *   never appended (see tn_vocab_add_eos). Invalid UTF-8 is not an error: bytes that do not form
 *   a vocabulary token become <0xXX> byte tokens (tok_spm.c explains the exact rule). As in
 *   llama.cpp a lead byte takes the following bytes whatever they are, so a space within three
 *   bytes after an invalid lead byte is byte-encoded as "▁" and decodes as "▁", not " ". Valid
 *   UTF-8 without a literal "▁" decodes back exactly (tests/fuzz/README.md).
 * - token_to_piece: unknown tokens (<unk>) are hidden like control ones unless `special`;
 *   unused/undefined ones always produce nothing; a bad id returns INT32_MIN with an error set. */

int32_t tn_vocab_unk(const tn_vocab *v); /* -1 if none */
bool tn_vocab_add_eos(const tn_vocab *v); /* tokenizer.ggml.add_eos_token; encode never adds EOS */
bool tn_vocab_add_space_prefix(const tn_vocab *v); /* tokenizer.ggml.add_space_prefix */
/* Id of the token whose text is exactly text[0..len), or -1. O(1) (hash map). */
int32_t tn_vocab_find(const tn_vocab *v, const char *text, size_t len);

/* Concatenates tn_vocab_token_to_piece() of n ids into buf. remove_space drops the first byte of
 * the output if it is a space (the SentencePiece dummy prefix). Returns the byte count, the
 * negative of the size needed if buf is too small, or INT32_MIN with an error set (bad id). */
int32_t tn_vocab_detokenize(const tn_vocab *v, const int32_t *ids, int32_t n, bool special,
                            bool remove_space, char *buf, int32_t size);

/* ---- additions (bpe, wpm, streaming) ---- */
/* Behaviour of the other models, as implemented (details in tok_bpe.c / tok_wpm.c):
 * - gpt2 (byte-level BPE): no dummy prefix; encode never fails on bytes: text that is not valid
 *   UTF-8 is encoded through each byte's byte-level token, so decode(encode(x)) == x (decoding
 *   with `special` when parse_special was on) whenever the vocabulary has all of x's bytes; a
 *   byte it lacks (typically 0xC0, 0xC1, 0xF5-0xFF) becomes the unknown token, or nothing
 *   (tok_bpe.c). An unknown tokenizer.ggml.pre fails the load, naming the known ones.
 * - bert (WordPiece): lower-cases and strips accents, so decoding gives the normalized words
 *   separated by spaces, not the input; add_bos adds [CLS] before and [SEP] after the text;
 *   invalid UTF-8 bytes are dropped.
 * - token_to_piece of a gpt2 token gives its bytes (GPT-2's byte-to-character map undone). */

/* The model's tokenizer.ggml.model as a name ("llama", "gpt2", "bert"). */
const char *tn_vocab_model_name(const tn_vocab *v);
int32_t tn_vocab_sep(const tn_vocab *v); /* WordPiece [SEP], -1 otherwise */

/* Streaming detokenizer: feed generated tokens one at a time and get the bytes that are ready.
 * Bytes of a UTF-8 character that a later token may complete are held back until it is
 * complete; bytes that can never become valid UTF-8 are passed through at once. So the
 * concatenation of all outputs plus the final flush equals tn_vocab_detokenize() of all tokens,
 * byte for byte, and no output ends inside a character that could still be completed.
 * special: show control tokens' text (see token_to_piece); remove_space: drop one leading space
 * of the whole stream (SentencePiece's dummy prefix at the start of a text). One stream per
 * sequence; not thread-safe (the vocabulary it borrows is). */
typedef struct tn_detok_stream tn_detok_stream;
tn_detok_stream *tn_detok_stream_new_vocab(const tn_vocab *v, bool special, bool remove_space);
void tn_detok_stream_free(tn_detok_stream *s);
/* Adds token `id`. Returns the bytes now ready (borrowed; valid until the next call on s) and
 * their count in *len (possibly 0); NULL with an error set for an invalid id or out of memory
 * (the stream is then unchanged). */
const char *tn_detok_stream_push(tn_detok_stream *s, int32_t id, size_t *len);
/* Returns whatever is held back (an incomplete character at the end of the text) and resets the
 * stream to its initial state. */
const char *tn_detok_stream_flush(tn_detok_stream *s, size_t *len);

#endif
