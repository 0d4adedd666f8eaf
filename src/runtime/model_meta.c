/* Public accessors for a model's metadata and tokenizer extras: GGUF string keys, the chat
 * template, the end-of-turn token, and the streaming detokenizer bound to the model's vocabulary
 * (the vocabulary-level object lives in formats/tok_stream.c). */
#include "core/error.h"
#include "formats/tokenizer.h"
#include "runtime/model.h"
#include "tern.h"

const char *tn_model_meta_str(const tn_model *m, const char *key) {
    const char *s = NULL;
    if (!m || !key) return NULL;
    return tn_gguf_get_str(m->gguf, key, &s) == 0 ? s : NULL;
}

const char *tn_model_chat_template(const tn_model *m) {
    return tn_model_meta_str(m, "tokenizer.chat_template");
}

int32_t tn_token_eot(const tn_model *m) {
    return tn_vocab_eot(m->vocab);
}

tn_detok_stream *tn_detok_stream_new(const tn_model *m, bool special, bool remove_space) {
    if (!m) {
        tn_set_error("tn_detok_stream_new: no model");
        return NULL;
    }
    return tn_detok_stream_new_vocab(m->vocab, special, remove_space);
}
