/* The server's sockets and connections (see server.h): listening, one thread per connection,
 * keep-alive, routing, the small GET endpoints, and shutdown. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/types.h"
#include "server/api.h"
#include "server/server_internal.h"

tn_server_params tn_server_default_params(void) {
    tn_server_params p = {.host = "127.0.0.1", .port = 8080, .n_parallel = 4, .n_batch = 512,
                          .type_k = TN_TYPE_F16, .type_v = TN_TYPE_F16,
                          .sampling = tn_sampler_default_params(), .max_body = 8u << 20,
                          .timeout_s = 60, .max_conn = 256};
    return p;
}

void srv_log(tn_server *s, const char *fmt, ...) {
    if (s->p.quiet) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "serve: %s\n", line);
}

uint64_t srv_random(tn_server *s) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                 (atomic_fetch_add(&s->counter, 1) * 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull; /* splitmix64's finaliser */
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool srv_send_error(tn_server *s, int fd, int status, const char *msg, bool keep_alive) {
    tn_buf b = {0};
    tn_api_error_json(&b, status, msg);
    int rc = b.oom ? -1 : tn_http_respond(fd, status, "application/json", b.p, b.len, keep_alive, NULL);
    tn_buf_free(&b);
    return rc == 0 && keep_alive;
}

static bool send_json(int fd, tn_buf *b, bool keep_alive) {
    int rc = b->oom ? -1 : tn_http_respond(fd, 200, "application/json", b->p, b->len, keep_alive, NULL);
    tn_buf_free(b);
    return rc == 0 && keep_alive;
}

static bool get_health(tn_server *s, int fd, bool keep_alive) {
    tn_sched_stats st;
    tn_sched_get_stats(s->sched, &st);
    tn_buf b = {0};
    tn_buf_printf(&b,
                  "{\"status\":\"ok\",\"slots_idle\":%d,\"slots_processing\":%d,"
                  "\"requests_queued\":%d,\"requests_done\":%llu,\"requests_cancelled\":%llu,"
                  "\"n_ctx\":%d,\"n_ctx_reserved\":%d}",
                  st.n_slots - st.n_busy, st.n_busy, st.n_queued, st.n_done, st.n_cancelled,
                  st.n_ctx, st.n_reserved);
    return send_json(fd, &b, keep_alive);
}

static bool get_models(tn_server *s, int fd, bool keep_alive) {
    tn_buf b = {0};
    tn_buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    tn_buf_json_str(&b, s->model_id, strlen(s->model_id));
    tn_buf_printf(&b,
                  ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"tern\",\"meta\":{"
                  "\"n_ctx\":%d,\"n_ctx_train\":%d,\"n_vocab\":%d,\"n_embd\":%d,\"n_params\":%llu,"
                  "\"size\":%llu,\"n_parallel\":%d}}]}",
                  s->created, tn_ctx_n_ctx(s->ctx), tn_model_n_ctx_train(s->model),
                  tn_model_n_vocab(s->model), tn_model_n_embd(s->model),
                  (unsigned long long)tn_model_n_params(s->model),
                  (unsigned long long)tn_model_size(s->model), s->p.n_parallel);
    return send_json(fd, &b, keep_alive);
}

typedef struct route {
    const char *path, *method;
    int kind; /* 0 health, 1 models, 2 completions, 3 chat */
} route;

static const route routes[] = {
    {"/health", "GET", 0},           {"/v1/health", "GET", 0},
    {"/v1/models", "GET", 1},        {"/models", "GET", 1},
    {"/v1/completions", "POST", 2},  {"/completions", "POST", 2},
    {"/v1/chat/completions", "POST", 3}, {"/chat/completions", "POST", 3},
};

/* Answers one request; returns whether the connection may serve another. */
static bool handle(tn_server *s, int fd, const tn_http_req *r, const char *body, size_t len,
                   bool keep_alive) {
    const route *rt = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !rt; i++)
        if (!strcmp(r->path, routes[i].path)) rt = &routes[i];
    if (!strcmp(r->method, "OPTIONS") && (rt || !strcmp(r->path, "*"))) { /* CORS preflight */
        char allow[160];
        snprintf(allow, sizeof allow,
                 "Allow: %s, OPTIONS\r\nAccess-Control-Allow-Methods: %s, OPTIONS\r\n"
                 "Access-Control-Allow-Headers: *\r\n",
                 rt ? rt->method : "GET, POST", rt ? rt->method : "GET, POST");
        return tn_http_respond(fd, 204, NULL, NULL, 0, keep_alive, allow) == 0 && keep_alive;
    }
    if (!rt) {
        char msg[2200];
        snprintf(msg, sizeof msg, "no endpoint %s", r->path);
        srv_log(s, "%s %s 404", r->method, r->path);
        return srv_send_error(s, fd, 404, msg, keep_alive);
    }
    if (strcmp(r->method, rt->method) != 0) {
        char msg[64], allow[64];
        snprintf(msg, sizeof msg, "method %s not allowed here (use %s)", r->method, rt->method);
        snprintf(allow, sizeof allow, "Allow: %s, OPTIONS\r\n", rt->method);
        tn_buf b = {0};
        tn_api_error_json(&b, 405, msg);
        int rc = b.oom ? -1 : tn_http_respond(fd, 405, "application/json", b.p, b.len, keep_alive, allow);
        tn_buf_free(&b);
        srv_log(s, "%s %s 405", r->method, r->path);
        return rc == 0 && keep_alive;
    }
    switch (rt->kind) {
    case 0: return get_health(s, fd, keep_alive);
    case 1: return get_models(s, fd, keep_alive);
    default: return srv_completion(s, fd, r, body, len, rt->kind == 3, keep_alive);
    }
}

/* After an error response the client may still be sending (a body too large): read and drop a
 * little of it, so closing does not reset the connection before the client reads the answer. */
static void linger_close(int fd) {
    shutdown(fd, SHUT_WR);
    char junk[16384];
    size_t total = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    time_t end = time(NULL) + 2; /* bounded: a client that keeps sending cannot hold the thread */
    while (total < (64u << 20) && time(NULL) < end && poll(&pfd, 1, 500) > 0) {
        ssize_t n = recv(fd, junk, sizeof junk, 0);
        if (n <= 0) break;
        total += (size_t)n;
    }
}

static void *conn_main(void *arg) {
    srv_conn *c = arg;
    tn_server *s = c->srv;
    tn_http_conn hc = {.fd = c->fd, .timeout_ms = s->p.timeout_s * 1000};
    bool errored = false;
    for (;;) {
        tn_http_req r;
        char *body = NULL;
        size_t len = 0;
        const char *msg = NULL;
        int rc = tn_http_read_request(&hc, s->p.max_body, &r, &body, &len, &msg);
        if (rc < 0) break;
        if (rc > 0) {
            srv_log(s, "bad request: %d %s", rc, msg);
            srv_send_error(s, c->fd, rc, msg, false);
            errored = true;
            break;
        }
        bool keep = r.keep_alive && !atomic_load(&s->stopping);
        if (!handle(s, c->fd, &r, body, len, keep)) break;
        tn_http_consume(&hc, &r);
    }
    if (errored) linger_close(c->fd);
    tn_http_conn_free(&hc);
    pthread_mutex_lock(&s->conn_mu);
    for (srv_conn **pp = &s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    s->n_conns--;
    close(c->fd);
    pthread_cond_broadcast(&s->conn_cv);
    pthread_mutex_unlock(&s->conn_mu);
    free(c);
    return NULL;
}

static void accept_one(tn_server *s) {
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) usleep(10000); /* out of descriptors: back off */
        return;
    }
    struct timeval tv = {.tv_sec = s->p.timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* a stuck reader cannot hold us */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* stream tokens without delay */
    pthread_mutex_lock(&s->conn_mu);
    bool full = s->n_conns >= s->p.max_conn;
    srv_conn *c = full ? NULL : calloc(1, sizeof *c);
    pthread_t th;
    pthread_attr_t attr;
    bool started = false;
    if (c) {
        c->fd = fd;
        c->srv = s;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, conn_main, c) == 0) {
            started = true;
            c->next = s->conns;
            s->conns = c;
            s->n_conns++;
        }
        pthread_attr_destroy(&attr);
    }
    pthread_mutex_unlock(&s->conn_mu);
    if (!started) {
        free(c);
        struct timeval t1 = {.tv_sec = 1};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t1, sizeof t1);
        srv_send_error(s, fd, 503, "too many connections", false);
        close(fd);
    }
}

int tn_server_run(tn_server *s) {
    struct pollfd pf[2] = {{.fd = s->listen_fd, .events = POLLIN}, {.fd = s->stop_pipe[0], .events = POLLIN}};
    while (!atomic_load(&s->stopping)) {
        int n = poll(pf, 2, -1);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (pf[1].revents) break;
        if (pf[0].revents & POLLIN) accept_one(s);
    }
    atomic_store(&s->stopping, true);
    srv_log(s, "shutting down");
    close(s->listen_fd);
    s->listen_fd = -1;
    /* running and queued jobs end with an error; idle connections are woken from their reads */
    tn_sched_stop(s->sched);
    pthread_mutex_lock(&s->conn_mu);
    for (srv_conn *c = s->conns; c; c = c->next) shutdown(c->fd, SHUT_RD);
    while (s->n_conns > 0) pthread_cond_wait(&s->conn_cv, &s->conn_mu);
    pthread_mutex_unlock(&s->conn_mu);
    return 0;
}

void tn_server_stop(tn_server *s) {
    char b = 1;
    ssize_t rc = write(s->stop_pipe[1], &b, 1); /* async-signal-safe */
    (void)rc;
}

int tn_server_port(const tn_server *s) { return s->port; }
int32_t tn_server_n_ctx(const tn_server *s) { return tn_ctx_n_ctx(s->ctx); }

static int listen_on(tn_server *s) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->p.port);
    int gai = getaddrinfo(s->p.host, port, &hints, &res);
    if (gai) return tn_set_error("cannot resolve host '%s': %s", s->p.host, gai_strerror(gai));
    int fd = -1, err = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 128)) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return tn_set_error("cannot listen on %s:%d: %s", s->p.host, s->p.port, strerror(err));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    s->listen_fd = fd;
    return 0;
}

static tn_chat_family pick_family(tn_server *s) {
    const char *flag = s->p.chat_template;
    if (flag) {
        tn_chat_family f = tn_chat_family_from_name(flag);
        return f != TN_CHAT_UNKNOWN ? f : tn_chat_detect(flag);
    }
    const char *t = tn_model_chat_template(s->model);
    if (!t) return TN_CHAT_CHATML; /* llama.cpp's fallback too */
    tn_chat_family f = tn_chat_detect(t);
    if (f == TN_CHAT_UNKNOWN)
        fprintf(stderr, "serve: warning: the model's chat template is not one tern recognises; "
                        "/v1/chat/completions is disabled (choose one with --chat-template: %s)\n",
                tn_chat_family_list());
    return f;
}

tn_server *tn_server_new(const tn_server_params *p) {
    if (p->n_parallel < 1 || p->n_parallel > 4096) {
        tn_set_error("--parallel must be between 1 and 4096");
        return NULL;
    }
    tn_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    if (!s->p.host) s->p.host = "127.0.0.1";
    if (s->p.timeout_s <= 0) s->p.timeout_s = 60;
    if (s->p.max_conn <= 0) s->p.max_conn = 256;
    s->listen_fd = s->stop_pipe[0] = s->stop_pipe[1] = -1;
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_cond_init(&s->conn_cv, NULL);
    s->created = (long long)time(NULL);
    tn_model_params mp = tn_model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers;
    if (!(s->model = tn_model_load(p->model_path, &mp))) goto fail;
    s->family = pick_family(s);
    if (p->chat_template && s->family == TN_CHAT_UNKNOWN) {
        tn_set_error("--chat-template '%s' is not one of: %s", p->chat_template, tn_chat_family_list());
        goto fail;
    }
    const char *name = p->alias;
    if (!name) {
        name = strrchr(p->model_path, '/');
        name = name ? name + 1 : p->model_path;
    }
    snprintf(s->model_id, sizeof s->model_id, "%s", name);
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = p->n_ctx;
    if (cp.n_ctx <= 0) { /* like llama-server: the model's context (capped here) for each slot */
        int32_t per = tn_model_n_ctx_train(s->model) < 4096 ? tn_model_n_ctx_train(s->model) : 4096;
        cp.n_ctx = per * p->n_parallel;
    }
    cp.n_batch = p->n_batch;
    cp.n_threads = p->n_threads;
    cp.n_seq_max = p->n_parallel;
    cp.type_k = p->type_k;
    cp.type_v = p->type_v;
    if (!(s->ctx = tn_ctx_new(s->model, &cp))) goto fail;
    if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK)) {
        tn_set_error("pipe: %s", strerror(errno));
        goto fail;
    }
    if (listen_on(s)) goto fail;
    if (!(s->sched = tn_sched_new(s->model, s->ctx, p->n_parallel, p->n_batch))) {
        tn_set_error("cannot start the inference thread");
        goto fail;
    }
    return s;
fail:
    tn_server_free(s);
    return NULL;
}

void tn_server_free(tn_server *s) {
    if (!s) return;
    tn_sched_free(s->sched);
    if (s->listen_fd >= 0) close(s->listen_fd);
    if (s->stop_pipe[0] >= 0) close(s->stop_pipe[0]);
    if (s->stop_pipe[1] >= 0) close(s->stop_pipe[1]);
    tn_ctx_free(s->ctx);
    tn_model_free(s->model);
    pthread_cond_destroy(&s->conn_cv);
    pthread_mutex_destroy(&s->conn_mu);
    free(s);
}
