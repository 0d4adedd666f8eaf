/* `tern serve`'s engine: an OpenAI-compatible HTTP server (llama-server's endpoints and flags)
 * over one model and one context shared by n_parallel slots. One thread accepts connections, one
 * thread per connection parses requests and streams results, one inference thread (sched.h) does
 * continuous batching. POSIX sockets and pthreads only.
 *
 * Endpoints: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions (also
 * without the /v1 prefix). docs/serve.md describes requests, limits and errors. */
#ifndef TN_SERVER_SERVER_H
#define TN_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern.h"

typedef struct tn_server_params {
    const char *model_path;
    const char *host; /* address or name to listen on (default 127.0.0.1) */
    int port;         /* 0: an ephemeral port (see tn_server_port) */
    int32_t n_ctx;    /* KV cache cells shared by all slots (0: the model's, at most 4096 per slot) */
    int n_parallel;   /* slots: sequences decoded together */
    int32_t n_batch;
    int n_threads, n_gpu_layers, type_k, type_v;
    tn_sampler_params sampling; /* defaults of the sampling fields a request leaves out */
    bool seed_set;              /* false: each request without a seed gets a random one */
    const char *chat_template;  /* family name or template text; NULL: the model's */
    const char *alias;          /* model id in responses; NULL: the model file's name */
    size_t max_body;            /* bytes; larger bodies get 413 */
    int timeout_s;              /* reading a request; idle keep-alive connections */
    int max_conn;               /* open connections; more get 503 */
    bool quiet;                 /* no per-request log lines on stderr */
} tn_server_params;

typedef struct tn_server tn_server;

tn_server_params tn_server_default_params(void);
/* Loads the model, creates the context and the scheduler, and starts listening. NULL with
 * tn_last_error() on failure. */
tn_server *tn_server_new(const tn_server_params *p);
int tn_server_port(const tn_server *s);
int32_t tn_server_n_ctx(const tn_server *s); /* the KV cache cells shared by the slots */
/* Accepts connections until tn_server_stop; then lets open requests end (they get an error),
 * closes every connection and returns 0. */
int tn_server_run(tn_server *s);
/* Asks tn_server_run to return. Async-signal-safe (one write to a pipe). */
void tn_server_stop(tn_server *s);
void tn_server_free(tn_server *s);

#endif
