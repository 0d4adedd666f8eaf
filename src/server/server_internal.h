/* Shared between server.c (sockets, connections, routing) and endpoints.c (the API handlers). */
#ifndef TN_SERVER_SERVER_INTERNAL_H
#define TN_SERVER_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "chat/chat_template.h"
#include "server/http.h"
#include "server/sched.h"
#include "server/server.h"

typedef struct srv_conn srv_conn;
struct srv_conn {
    int fd;
    tn_server *srv;
    srv_conn *next;
};

struct tn_server {
    tn_server_params p;
    tn_model *model;
    tn_ctx *ctx;
    tn_sched *sched;
    tn_chat_family family; /* TN_CHAT_UNKNOWN: chat requests are refused */
    char model_id[256];
    long long created;
    int listen_fd, port;
    int stop_pipe[2];
    atomic_bool stopping;
    atomic_ullong counter; /* request ids and default seeds */
    pthread_mutex_t conn_mu;
    pthread_cond_t conn_cv;
    srv_conn *conns;
    int n_conns;
};

/* Sends a JSON error response; returns whether the connection may stay open. */
bool srv_send_error(tn_server *s, int fd, int status, const char *msg, bool keep_alive);
void srv_log(tn_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t srv_random(tn_server *s);

/* POST /v1/completions (chat = false) and /v1/chat/completions. Returns whether the connection
 * may serve another request. */
bool srv_completion(tn_server *s, int fd, const tn_http_req *r, const char *body, size_t len,
                    bool chat, bool keep_alive);

#endif
