/* tern serve (src/server): an in-process server on an ephemeral port with the bundled tiny
 * model, driven by a small socket client. The reference for every generated text is the library
 * itself (tn_decode + tn_sampler + the streaming detokenizer, one sequence at a time, as tern run
 * does), so the checks are exact: greedy and seeded completions, streamed or not, chat through the
 * template, 6 concurrent requests on 4 slots (batching must not mix sequences), bad inputs (4xx
 * with an OpenAI error object), and a client that disconnects mid-stream. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chat/chat_template.h"
#include "check.h"
#include "convert/json.h"
#include "server/server.h"
#include "tern.h"

static const char *MODEL = "models/tiny-llama/tiny-llama-Q8_0.gguf";
static int g_port;
static tn_model *g_ref_model;

/* ---- reference: the library, one sequence ---- */

/* Generates up to n tokens after `text` as tern run does; returns the text (malloc'd). */
static char *reference(const char *text, bool special, int n, const tn_sampler_params *sp,
                       int *n_gen) {
    tn_ctx_params cp = tn_ctx_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 1;
    tn_ctx *ctx = tn_ctx_new(g_ref_model, &cp);
    tn_sampler *smp = tn_sampler_new(sp, tn_model_n_vocab(g_ref_model));
    tn_detok_stream *dt = tn_detok_stream_new(g_ref_model, false, false);
    int32_t toks[512];
    int32_t np = tn_tokenize(g_ref_model, text, strlen(text), toks, 512, true, special);
    char *out = calloc(1, 8192);
    size_t len = 0, k;
    *n_gen = 0;
    if (!ctx || !smp || !dt || np <= 0 || !out) goto done;
    for (int32_t i = 0; i < np; i++) tn_sampler_accept(smp, toks[i]);
    tn_batch b = {.n_tokens = np, .token = toks};
    if (tn_decode(ctx, &b)) goto done;
    for (int i = 0; i < n; i++) {
        int32_t t = tn_sampler_sample(smp, tn_get_logits(ctx, -1));
        if (tn_token_is_eog(g_ref_model, t)) break;
        tn_sampler_accept(smp, t);
        ++*n_gen;
        const char *p = tn_detok_stream_push(dt, t, &k);
        if (p && len + k < 8000) memcpy(out + len, p, k), len += k;
        tn_batch nb = {.n_tokens = 1, .token = &t};
        if (i + 1 < n && tn_decode(ctx, &nb)) break;
    }
    const char *p = tn_detok_stream_flush(dt, &k);
    if (p && len + k < 8000) memcpy(out + len, p, k), len += k;
done:
    tn_detok_stream_free(dt);
    tn_sampler_free(smp);
    tn_ctx_free(ctx);
    return out;
}

static char *greedy_ref(const char *prompt, int n, int *n_gen) {
    tn_sampler_params sp = tn_sampler_default_params();
    sp.temp = 0;
    return reference(prompt, false, n, &sp, n_gen);
}

/* ---- client ---- */

typedef struct resp {
    int status;
    char *raw;  /* everything received */
    char *body; /* de-chunked body, NUL-terminated */
    size_t body_len;
} resp;

static void resp_free(resp *r) {
    free(r->raw);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int connect_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

/* Reads to EOF and splits the first response into status and (de-chunked) body. */
static void read_response(int fd, resp *r) {
    size_t cap = 1 << 16, n = 0;
    r->raw = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) r->raw = realloc(r->raw, cap *= 2);
        ssize_t k = recv(fd, r->raw + n, cap - n - 1, 0);
        if (k <= 0) break;
        n += (size_t)k;
    }
    r->raw[n] = 0;
    r->status = 0;
    sscanf(r->raw, "HTTP/1.1 %d", &r->status);
    char *b = strstr(r->raw, "\r\n\r\n");
    r->body = calloc(1, n + 1);
    if (!b) return;
    b += 4;
    if (!strstr(r->raw, "Transfer-Encoding: chunked") || strstr(r->raw, "Transfer-Encoding: chunked") > b) {
        r->body_len = n - (size_t)(b - r->raw);
        memcpy(r->body, b, r->body_len);
        return;
    }
    for (;;) { /* chunked */
        unsigned long sz = strtoul(b, NULL, 16);
        char *nl = strstr(b, "\r\n");
        if (!nl || sz == 0) break;
        b = nl + 2;
        if ((size_t)(b - r->raw) + sz > n) break;
        memcpy(r->body + r->body_len, b, sz);
        r->body_len += sz;
        b += sz + 2;
    }
}

static resp request_raw(const char *raw, size_t len) {
    resp r = {0};
    int fd = connect_server();
    if (fd < 0) return r;
    send_all(fd, raw, len);
    read_response(fd, &r);
    close(fd);
    return r;
}

static resp request(const char *method, const char *path, const char *body) {
    char head[512];
    size_t bl = body ? strlen(body) : 0;
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, bl);
    char *all = malloc((size_t)hn + bl + 1);
    memcpy(all, head, (size_t)hn);
    if (bl) memcpy(all + hn, body, bl);
    resp r = request_raw(all, (size_t)hn + bl);
    free(all);
    return r;
}

static const tn_json *path_get(const tn_json *v, const char *a, const char *b, const char *c) {
    const char *keys[3] = {a, b, c};
    for (int i = 0; i < 3 && keys[i] && v; i++) {
        if (!strcmp(keys[i], "0")) v = v->type == TN_JSON_ARRAY && v->n ? v->items[0] : NULL;
        else v = tn_json_get(v, keys[i]);
    }
    return v;
}

/* The text of a non-streamed completion (choices[0].text or .message.content), malloc'd. */
static char *completion_text(const resp *r, bool chat, const char **finish, int *n_gen) {
    tn_json_doc *d = tn_json_parse(r->body, r->body_len, "response");
    if (!d) return NULL;
    const tn_json *ch = path_get(tn_json_root(d), "choices", "0", NULL);
    const tn_json *t = chat ? path_get(ch, "message", "content", NULL) : tn_json_get(ch, "text");
    const char *f = tn_json_get_str(ch, "finish_reason");
    *finish = !f ? "?" : !strcmp(f, "stop") ? "stop" : !strcmp(f, "length") ? "length" : "?";
    int64_t ng = -1;
    tn_json_get_int(tn_json_get(tn_json_root(d), "usage"), "completion_tokens", &ng);
    *n_gen = (int)ng;
    char *s = t && t->type == TN_JSON_STRING ? strdup(t->str) : NULL;
    tn_json_free(d);
    return s;
}

/* Concatenates the text of SSE events; *done: ended with [DONE]; *finish: the last reason. */
static char *stream_text(const resp *r, bool chat, bool *done, const char **finish) {
    char *out = calloc(1, r->body_len + 1);
    size_t len = 0;
    *done = false;
    *finish = "?";
    for (const char *p = r->body; (p = strstr(p, "data: ")) != NULL;) {
        p += 6;
        const char *e = strstr(p, "\n\n");
        if (!e) break;
        if (e - p == 6 && !memcmp(p, "[DONE]", 6)) {
            *done = e + 2 == r->body + r->body_len;
            break;
        }
        tn_json_doc *d = tn_json_parse(p, (size_t)(e - p), "event");
        if (d) {
            const tn_json *ch = path_get(tn_json_root(d), "choices", "0", NULL);
            const tn_json *t = chat ? path_get(ch, "delta", "content", NULL) : tn_json_get(ch, "text");
            if (t && t->type == TN_JSON_STRING) memcpy(out + len, t->str, t->len), len += t->len;
            const char *f = tn_json_get_str(ch, "finish_reason");
            if (f) *finish = !strcmp(f, "stop") ? "stop" : !strcmp(f, "length") ? "length" : "?";
            tn_json_free(d);
        }
        p = e;
    }
    return out;
}

static void check_error(const char *what, resp r, int status) {
    CHECK(r.status == status, "%s: status %d, want %d: %.300s", what, r.status, status, r.raw ? r.raw : "");
    tn_json_doc *d = r.body ? tn_json_parse(r.body, r.body_len, "error body") : NULL;
    const tn_json *e = d ? tn_json_get(tn_json_root(d), "error") : NULL;
    CHECK(e && tn_json_get_str(e, "message") && tn_json_get_str(e, "type"),
          "%s: no OpenAI error object: %.300s", what, r.body ? r.body : "");
    printf("  %-34s -> %d %s\n", what, r.status, e ? tn_json_get_str(e, "message") : "?");
    tn_json_free(d);
    resp_free(&r);
}

static int64_t health_field(const char *key) {
    resp r = request("GET", "/health", NULL);
    tn_json_doc *d = r.body ? tn_json_parse(r.body, r.body_len, "health") : NULL;
    int64_t v = -1;
    if (d) tn_json_get_int(tn_json_root(d), key, &v);
    tn_json_free(d);
    resp_free(&r);
    return v;
}

/* ---- concurrent requests ---- */

static const char *PROMPTS[] = {"ROMEO:", "JULIET:\nO Romeo", "First Citizen:\nBefore we proceed",
                                "KING RICHARD III:\nNow is the winter", "To be, or not",
                                "MENENIUS:\nWhat work's, my countrymen"};
#define N_CONC 6
#define N_TOK 24

typedef struct conc_arg {
    int i;
    bool stream;
    char *text;
} conc_arg;

static void *conc_main(void *arg) {
    conc_arg *a = arg;
    char body[512];
    snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":%d,\"temperature\":0%s}",
             PROMPTS[a->i], N_TOK, a->stream ? ",\"stream\":true" : "");
    /* JSON-escape the newlines of the prompt */
    char esc[600];
    size_t k = 0;
    for (const char *p = body; *p && k < sizeof esc - 2; p++) {
        if (*p == '\n') esc[k++] = '\\', esc[k++] = 'n';
        else esc[k++] = *p;
    }
    esc[k] = 0;
    resp r = request("POST", "/v1/completions", esc);
    const char *fin;
    int ng;
    bool done;
    a->text = r.status != 200 ? NULL : a->stream ? stream_text(&r, false, &done, &fin)
                                                : completion_text(&r, false, &fin, &ng);
    resp_free(&r);
    return NULL;
}

/* ---- disconnect ---- */

static void *slow_reader(void *arg) {
    int *cancelled_ok = arg;
    int fd = connect_server();
    const char body[] = "{\"prompt\":\"ROMEO:\",\"max_tokens\":800,\"temperature\":0,\"stream\":true}";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof body - 1, body);
    send_all(fd, req, (size_t)n);
    char buf[4096];
    ssize_t got = recv(fd, buf, sizeof buf, 0); /* headers and the first events */
    *cancelled_ok = got > 0 && strstr(buf, "200 OK") != NULL;
    close(fd); /* gone mid-stream */
    return NULL;
}

static tn_server *g_srv;
static void *server_main(void *arg) {
    tn_server_run(g_srv);
    return NULL;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    tn_model_params mp = tn_model_default_params();
    g_ref_model = tn_model_load(MODEL, &mp);
    CHECK(g_ref_model != NULL, "load %s: %s", MODEL, tn_last_error());
    if (!g_ref_model) return tn_test_done("test_serve");

    tn_server_params p = tn_server_default_params();
    p.model_path = MODEL;
    p.port = 0;
    p.n_ctx = 1024;
    p.n_parallel = 4;
    p.n_threads = 1;
    p.quiet = true;
    p.max_body = 1 << 20;
    p.timeout_s = 1; /* the 408 check waits this long */
    g_srv = tn_server_new(&p);
    CHECK(g_srv != NULL, "server: %s", tn_last_error());
    if (!g_srv) return tn_test_done("test_serve");
    g_port = tn_server_port(g_srv);
    CHECK(g_port > 0, "port %d", g_port);
    pthread_t srv_th;
    pthread_create(&srv_th, NULL, server_main, NULL);

    /* health and models */
    resp r = request("GET", "/health", NULL);
    CHECK(r.status == 200 && strstr(r.body, "\"status\":\"ok\""), "health: %d", r.status);
    resp_free(&r);
    r = request("GET", "/v1/models", NULL);
    CHECK(r.status == 200 && strstr(r.body, "\"id\":\"tiny-llama-Q8_0.gguf\""), "models: %d", r.status);
    resp_free(&r);

    /* greedy completion == the library's greedy continuation */
    int ref_n;
    char *ref = greedy_ref("ROMEO:", 32, &ref_n);
    r = request("POST", "/v1/completions", "{\"prompt\":\"ROMEO:\",\"max_tokens\":32,\"temperature\":0}");
    const char *fin;
    int ng;
    char *txt = r.status == 200 ? completion_text(&r, false, &fin, &ng) : NULL;
    CHECK(txt && !strcmp(txt, ref), "greedy: got '%s' want '%s' (%s)", txt ? txt : "(none)", ref,
          r.raw ? r.raw : "");
    CHECK(txt && ng == ref_n && !strcmp(fin, ref_n == 32 ? "length" : "stop"),
          "greedy: %d tokens finish %s, want %d", ng, txt ? fin : "", ref_n);
    CHECK(strstr(r.body ? r.body : "", "\"object\":\"text_completion\"") &&
              strstr(r.body, "\"prompt_tokens\":3") && strstr(r.body, "\"total_tokens\":35"),
          "completion object: %s", r.body);
    printf("  greedy completion: %d tokens, '%.40s...' == library\n", ng, txt ? txt : "");
    free(txt);
    resp_free(&r);

    /* streamed: same text, final finish_reason, ends with [DONE] */
    r = request("POST", "/v1/completions",
                "{\"prompt\":\"ROMEO:\",\"max_tokens\":32,\"temperature\":0,\"stream\":true}");
    bool done;
    txt = stream_text(&r, false, &done, &fin);
    CHECK(r.status == 200 && strstr(r.raw, "text/event-stream"), "stream: %.200s", r.raw);
    CHECK(!strcmp(txt, ref), "stream: got '%s' want '%s'", txt, ref);
    CHECK(done && !strcmp(fin, "length"), "stream: done %d finish %s", done, fin);
    free(txt);
    resp_free(&r);
    free(ref);

    /* seeded sampling with the default chain == tern run -s 42 */
    tn_sampler_params sp = tn_sampler_default_params();
    sp.seed = 42;
    ref = reference("ROMEO:", false, 40, &sp, &ref_n);
    r = request("POST", "/v1/completions", "{\"prompt\":\"ROMEO:\",\"max_tokens\":40,\"seed\":42}");
    txt = r.status == 200 ? completion_text(&r, false, &fin, &ng) : NULL;
    CHECK(txt && !strcmp(txt, ref), "seeded: got '%s' want '%s'", txt ? txt : "(none)", ref);
    free(txt);
    free(ref);
    resp_free(&r);

    /* chat: the ChatML rendering (the model has no template) continued greedily */
    tn_chat_msg msgs[] = {{"system", "You are a poet."}, {"user", "Speak, Romeo."}};
    char *rendered = tn_chat_format(TN_CHAT_CHATML, msgs, 2, true);
    tn_sampler_params g = tn_sampler_default_params();
    g.temp = 0;
    ref = reference(rendered, true, 20, &g, &ref_n);
    free(rendered);
    const char *chat_body = "{\"model\":\"x\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
                            "poet.\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                            "\"Speak, Romeo.\"}]}],\"max_tokens\":20,\"temperature\":0%s}";
    char cb[512];
    snprintf(cb, sizeof cb, chat_body, "");
    r = request("POST", "/v1/chat/completions", cb);
    txt = r.status == 200 ? completion_text(&r, true, &fin, &ng) : NULL;
    CHECK(txt && !strcmp(txt, ref), "chat: got '%s' want '%s' (%s)", txt ? txt : "(none)", ref,
          r.raw ? r.raw : "");
    CHECK(strstr(r.body ? r.body : "", "\"object\":\"chat.completion\"") &&
              strstr(r.body, "\"role\":\"assistant\""), "chat object: %s", r.body);
    free(txt);
    resp_free(&r);
    snprintf(cb, sizeof cb, chat_body, ",\"stream\":true");
    r = request("POST", "/v1/chat/completions", cb);
    txt = stream_text(&r, true, &done, &fin);
    CHECK(!strcmp(txt, ref) && done, "chat stream: got '%s' want '%s' done %d", txt, ref, done);
    CHECK(strstr(r.body, "\"object\":\"chat.completion.chunk\"") && strstr(r.body, "\"delta\":{\"role\":\"assistant\""),
          "chat chunks: %.300s", r.body);
    printf("  chat: '%.40s...' == library (whole and streamed)\n", ref);
    free(txt);
    free(ref);
    resp_free(&r);

    /* stop strings: the text up to the first newline of the greedy continuation */
    ref = greedy_ref("KING RICHARD III:\nNow is the winter", 40, &ref_n);
    char *nl = strchr(ref, '\n');
    r = request("POST", "/v1/completions",
                "{\"prompt\":\"KING RICHARD III:\\nNow is the winter\",\"max_tokens\":40,"
                "\"temperature\":0,\"stop\":[\"\\n\",\"zzz\"]}");
    txt = r.status == 200 ? completion_text(&r, false, &fin, &ng) : NULL;
    CHECK(nl && txt && strlen(txt) == (size_t)(nl - ref) && !strncmp(txt, ref, strlen(txt)) &&
              !strcmp(fin, "stop"), "stop: got '%s' (%s) from '%s'", txt ? txt : "(none)", txt ? fin : "", ref);
    free(txt);
    free(ref);
    resp_free(&r);

    /* 6 concurrent requests on 4 slots, streamed and not: each equals its lone run */
    pthread_t th[N_CONC];
    conc_arg ca[N_CONC];
    for (int i = 0; i < N_CONC; i++) {
        ca[i] = (conc_arg){.i = i, .stream = i % 2 == 1};
        pthread_create(&th[i], NULL, conc_main, &ca[i]);
    }
    for (int i = 0; i < N_CONC; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_CONC; i++) {
        ref = greedy_ref(PROMPTS[i], N_TOK, &ref_n);
        CHECK(ca[i].text && !strcmp(ca[i].text, ref), "concurrent %d: got '%s' want '%s'", i,
              ca[i].text ? ca[i].text : "(none)", ref);
        free(ref);
        free(ca[i].text);
    }
    printf("  %d concurrent requests on 4 slots == their lone runs\n", N_CONC);

    /* bad input: 4xx with an error object, and the server keeps serving */
    check_error("malformed JSON", request("POST", "/v1/completions", "{\"prompt\": \"x\""), 400);
    check_error("not an object", request("POST", "/v1/completions", "[1,2]"), 400);
    check_error("invalid UTF-8", request("POST", "/v1/completions", "{\"prompt\":\"\xc3\x28\"}"), 400);
    check_error("missing prompt", request("POST", "/v1/completions", "{\"max_tokens\":3}"), 400);
    check_error("wrong type", request("POST", "/v1/completions", "{\"prompt\":\"x\",\"temperature\":\"hot\"}"), 400);
    check_error("n = 2", request("POST", "/v1/completions", "{\"prompt\":\"x\",\"n\":2}"), 400);
    check_error("max_tokens too large", request("POST", "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":5000}"), 400);
    check_error("bad messages", request("POST", "/v1/chat/completions", "{\"messages\":[{\"content\":\"x\"}]}"), 400);
    check_error("token id out of range", request("POST", "/v1/completions", "{\"prompt\":[1,99999]}"), 400);
    {
        size_t n = 9 * 1024 + 64;
        char *big = malloc(n + 64);
        size_t k = (size_t)sprintf(big, "{\"prompt\":\"");
        while (k < n) k += (size_t)sprintf(big + k, "the king ");
        strcpy(big + k, "\",\"max_tokens\":4}");
        check_error("prompt longer than the context", request("POST", "/v1/completions", big), 400);
        free(big);
    }
    check_error("unknown path", request("GET", "/v2/nothing", NULL), 404);
    check_error("wrong method", request("GET", "/v1/completions", NULL), 405);
    const char huge[] = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n{";
    check_error("huge body", request_raw(huge, sizeof huge - 1), 413);
    const char nolen[] = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n\r\n";
    check_error("POST without length", request_raw(nolen, sizeof nolen - 1), 411);
    const char garbage[] = "HELLO\r\n\r\n";
    check_error("garbage request line", request_raw(garbage, sizeof garbage - 1), 400);
    /* a body that never arrives: 408 after --timeout (1 s here) */
    const char stall[] = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"pro";
    check_error("body never completed", request_raw(stall, sizeof stall - 1), 408);

    /* keep-alive with two pipelined requests on one connection */
    const char two[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n";
    r = request_raw(two, sizeof two - 1);
    char *second = r.raw ? strstr(r.raw + 1, "HTTP/1.1 200") : NULL;
    CHECK(r.status == 200 && second && strstr(second, "\"object\":\"list\""), "pipelined: %s", r.raw);
    resp_free(&r);

    /* a client that disconnects mid-stream: its slot is freed, a concurrent request is exact */
    int64_t cancelled0 = health_field("requests_cancelled");
    int reader_ok = 0;
    pthread_t slow;
    pthread_create(&slow, NULL, slow_reader, &reader_ok);
    ca[0] = (conc_arg){.i = 2};
    pthread_create(&th[0], NULL, conc_main, &ca[0]);
    pthread_join(slow, NULL);
    pthread_join(th[0], NULL);
    ref = greedy_ref(PROMPTS[2], N_TOK, &ref_n);
    CHECK(reader_ok, "the disconnecting client got no stream");
    CHECK(ca[0].text && !strcmp(ca[0].text, ref), "beside a disconnect: got '%s' want '%s'",
          ca[0].text ? ca[0].text : "(none)", ref);
    free(ref);
    free(ca[0].text);
    int64_t busy = -1, cancelled = -1;
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        busy = health_field("slots_processing");
        cancelled = health_field("requests_cancelled");
        if (busy == 0 && cancelled == cancelled0 + 1) break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK(busy == 0 && cancelled == cancelled0 + 1, "after the disconnect: %lld busy, %lld cancelled",
          (long long)busy, (long long)cancelled);
    printf("  disconnect mid-stream: job cancelled, slot freed, neighbour exact\n");

    r = request("GET", "/health", NULL);
    CHECK(r.status == 200, "still serving: %d", r.status);
    resp_free(&r);

    tn_server_stop(g_srv);
    pthread_join(srv_th, NULL);
    tn_server_free(g_srv);
    tn_model_free(g_ref_model);
    return tn_test_done("test_serve");
}
