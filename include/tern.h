/* tern public API: load a GGUF model, create a context (KV cache + scratch), tokenize, decode
 * batches of tokens, read logits, sample.
 *
 * Conventions: functions return 0 / a count on success and a negative value or NULL on failure,
 * with a message available from tn_last_error() (per thread). Whoever creates an object frees it.
 * Pointers returned by getters are borrowed from the object they came from. */
#ifndef TERN_H
#define TERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tn_model tn_model;
typedef struct tn_ctx tn_ctx;
typedef struct tn_sampler tn_sampler;

const char *tn_last_error(void);

/* ---- model ---- */
typedef void (*tn_load_progress_fn)(void *user, float fraction);

typedef struct tn_model_params {
    int n_gpu_layers; /* layers to place on the GPU (-ngl); 0 = CPU only */
    tn_load_progress_fn progress;
    void *progress_user;
} tn_model_params;

tn_model_params tn_model_default_params(void);
tn_model *tn_model_load(const char *path, const tn_model_params *params);
void tn_model_free(tn_model *model);

const char *tn_model_arch(const tn_model *model);    /* GGUF general.architecture */
const char *tn_model_name(const tn_model *model);    /* general.name or the file name */
const char *tn_model_ftype(const tn_model *model);   /* dominant weight type, e.g. "q4_K" */
int32_t tn_model_n_vocab(const tn_model *model);
int32_t tn_model_n_embd(const tn_model *model);
int32_t tn_model_n_layer(const tn_model *model);
int32_t tn_model_n_ctx_train(const tn_model *model);
uint64_t tn_model_n_params(const tn_model *model);
uint64_t tn_model_size(const tn_model *model); /* bytes of tensor data */

/* ---- tokens ---- */
/* Returns the token count; if > max_out, returns -(count needed). INT32_MIN on error.
 * add_special adds BOS (if the model wants it); parse_special matches special-token texts. */
int32_t tn_tokenize(const tn_model *model, const char *text, size_t len, int32_t *out,
                    int32_t max_out, bool add_special, bool parse_special);
/* Bytes of one token (see tokenizer.h); returns length or -(size needed). */
int32_t tn_token_to_piece(const tn_model *model, int32_t token, char *buf, int32_t size,
                          bool special);
int32_t tn_token_bos(const tn_model *model);
int32_t tn_token_eos(const tn_model *model);
bool tn_token_is_eog(const tn_model *model, int32_t token);
int32_t tn_token_eot(const tn_model *model); /* end-of-turn token, -1 if none */

/* ---- metadata (src/runtime/model_meta.c) ---- */
/* A string-valued GGUF metadata key, e.g. "general.name"; NULL if absent or not a string.
 * Borrowed from the model. */
const char *tn_model_meta_str(const tn_model *model, const char *key);
/* tokenizer.chat_template (a Jinja template), or NULL if the file has none. */
const char *tn_model_chat_template(const tn_model *model);

/* ---- streaming detokenization ---- */
/* Turns generated tokens into text one token at a time, holding back the bytes of a UTF-8
 * character until its last byte has arrived (bytes that can never form a character are passed
 * through). All outputs plus the final flush are exactly the bytes of the tokens' pieces.
 * special: show control tokens' text; remove_space: drop one leading space of the stream (the
 * SentencePiece dummy prefix when the stream starts a text). */
typedef struct tn_detok_stream tn_detok_stream;
tn_detok_stream *tn_detok_stream_new(const tn_model *model, bool special, bool remove_space);
void tn_detok_stream_free(tn_detok_stream *s);
/* The bytes ready after adding `token` (borrowed, valid until the next call on s), count in *len;
 * NULL with an error for an invalid token. */
const char *tn_detok_stream_push(tn_detok_stream *s, int32_t token, size_t *len);
/* The held-back bytes (an unfinished character at the end); resets the stream. */
const char *tn_detok_stream_flush(tn_detok_stream *s, size_t *len);

/* ---- context ---- */
typedef struct tn_ctx_params {
    int32_t n_ctx;     /* KV cache cells (tokens over all sequences); 0 = the model's train ctx */
    int32_t n_batch;   /* largest micro-batch computed at once; larger batches are split */
    int32_t n_threads; /* CPU threads; 0 = all cores */
    int32_t n_seq_max; /* distinct sequence ids allowed (0 .. n_seq_max-1) */
    int type_k;        /* KV cache element types: tn_type numbers (F16 default, BF16, Q8_0, Q4_0,
                          F32) or TurboQuant turbo2/3/4 = 64/65/66 (src/kv/kv.h) */
    int type_v;
} tn_ctx_params;

tn_ctx_params tn_ctx_default_params(void);
tn_ctx *tn_ctx_new(tn_model *model, const tn_ctx_params *params);
void tn_ctx_free(tn_ctx *ctx);
int32_t tn_ctx_n_ctx(const tn_ctx *ctx);

/* A batch of tokens. pos == NULL: each token continues its sequence (next position after the
 * sequence's last one). seq_id == NULL: sequence 0. logits == NULL: logits for the last token
 * only. Prefill, decode and many sequences at once are all just batches. */
typedef struct tn_batch {
    int32_t n_tokens;
    const int32_t *token;
    const int32_t *pos;
    const int32_t *seq_id;
    const int8_t *logits;
} tn_batch;

/* Runs the model over the batch, appending it to the KV cache. Returns 0, or -1 with an error
 * (e.g. the cache is full: nothing of the batch is kept then). */
int tn_decode(tn_ctx *ctx, const tn_batch *batch);
/* Logits of the i-th batch token that requested logits, counting from 0 in batch order; i = -1
 * is the last one. NULL if out of range. Valid until the next tn_decode. */
const float *tn_get_logits(tn_ctx *ctx, int32_t i);
int32_t tn_n_outputs(const tn_ctx *ctx);

/* Removes positions [p0, p1) of a sequence from the cache (p1 < 0: to the end; seq < 0: all). */
void tn_kv_seq_rm(tn_ctx *ctx, int32_t seq_id, int32_t p0, int32_t p1);
/* Largest position stored for the sequence, -1 if empty. */
int32_t tn_kv_seq_pos_max(const tn_ctx *ctx, int32_t seq_id);

/* ---- sampling ---- */
typedef struct tn_sampler_params {
    float temp;           /* <= 0: greedy */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n;
    uint64_t seed;
} tn_sampler_params;

tn_sampler_params tn_sampler_default_params(void); /* llama.cpp's defaults */
tn_sampler *tn_sampler_new(const tn_sampler_params *params, int32_t n_vocab);
void tn_sampler_free(tn_sampler *s);
/* Picks a token from logits (n_vocab floats); does not modify them. */
int32_t tn_sampler_sample(tn_sampler *s, const float *logits);
/* Samples output i of the last tn_decode (i as in tn_get_logits) like tn_sampler_sample, with the
 * same result. On a GPU the candidates are chosen there (the argmax when greedy, the top_k best
 * otherwise, top_k <= 256) and only they are copied to the host. Returns the token, or -1 with
 * an error. */
int32_t tn_sample(tn_sampler *s, tn_ctx *ctx, int32_t i);
/* Records a token as generated or prompted (for the repetition penalty). */
void tn_sampler_accept(tn_sampler *s, int32_t token);
void tn_sampler_reset(tn_sampler *s);

#ifdef __cplusplus
}
#endif

#endif
