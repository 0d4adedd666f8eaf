/* The OpenAI API's JSON: request bodies of /v1/completions and /v1/chat/completions parsed and
 * checked into tn_api_req (no model needed: fuzzed by tests/fuzz/fuzz_serve.c), and the response
 * objects (completion, chat.completion, their stream chunks, errors). Unknown request fields are
 * ignored, as OpenAI clients send many optional ones; known fields of the wrong type or range are
 * errors; null means "not given". */
#ifndef TN_SERVER_API_H
#define TN_SERVER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/chat_template.h"
#include "server/jsonw.h"
#include "tern.h"

#define TN_API_MAX_STOP 16
#define TN_API_MAX_STOP_LEN 256

typedef struct tn_api_req {
    bool chat;
    /* /v1/completions: the prompt as text, or as token ids (prompt_tokens != NULL) */
    char *prompt;
    size_t prompt_len;
    int32_t *prompt_tokens;
    int32_t n_prompt_tokens;
    /* /v1/chat/completions: messages (role and content strings owned by the request) */
    tn_chat_msg *msgs;
    size_t n_msgs;
    int64_t max_tokens; /* -1: not given */
    tn_sampler_params sp;
    bool seed_set;
    char *stop[TN_API_MAX_STOP];
    int n_stop;
    bool stream, include_usage;
} tn_api_req;

/* Parses a request body (must be valid UTF-8 and a JSON object). `defaults` gives the sampling
 * parameters of fields the request leaves out. Returns 0, or -1 with a message in err. */
int tn_api_parse(const char *body, size_t len, bool chat, const tn_sampler_params *defaults,
                 tn_api_req *out, char *err, size_t errcap);
void tn_api_req_free(tn_api_req *r);

typedef enum { TN_API_FINISH_STOP, TN_API_FINISH_LENGTH } tn_api_finish;

typedef struct tn_api_meta {
    bool chat;
    const char *id;    /* "cmpl-..." / "chatcmpl-..." */
    long long created; /* Unix seconds */
    const char *model;
} tn_api_meta;

/* A whole (non-streamed) response. */
void tn_api_completion_json(tn_buf *b, const tn_api_meta *m, const char *text, size_t n,
                            tn_api_finish finish, int32_t n_prompt, int32_t n_gen);
/* One stream chunk as an SSE event ("data: {...}\n\n"). finish < 0: not finished; role: the
 * first chat chunk carries the assistant role. */
void tn_api_chunk_sse(tn_buf *b, const tn_api_meta *m, const char *text, size_t n, int finish,
                      bool role);
/* The final usage chunk (stream_options.include_usage): empty choices plus usage. */
void tn_api_usage_sse(tn_buf *b, const tn_api_meta *m, int32_t n_prompt, int32_t n_gen);
/* {"error":{"message":...,"type":...,"code":status}}; the type follows the status. */
void tn_api_error_json(tn_buf *b, int status, const char *msg);

#endif
