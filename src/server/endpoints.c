/* The completion endpoints: request body -> prompt tokens -> a scheduler job -> the response,
 * whole or as Server-Sent Events. A client that goes away (failed write, or the socket closed while
 * waiting) cancels its job, which frees the slot for the others. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/api.h"
#include "server/server_internal.h"

#define POLL_MS 100 /* how often a waiting connection checks that its client is still there */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Tokens of the request's prompt (malloc'd, *n of them); NULL with a message on failure. */
static int32_t *prompt_tokens(tn_server *s, const tn_api_req *q, int32_t *n, int *status,
                              char *err, size_t cap) {
    *status = 400;
    if (q->prompt_tokens) {
        int32_t *t = malloc((size_t)q->n_prompt_tokens * sizeof *t);
        if (t) memcpy(t, q->prompt_tokens, (size_t)q->n_prompt_tokens * sizeof *t);
        else snprintf(err, cap, "out of memory"), *status = 500;
        *n = q->n_prompt_tokens;
        return t;
    }
    char *chat_text = NULL;
    const char *text = q->prompt;
    size_t len = q->prompt_len;
    if (q->chat) {
        if (s->family == TN_CHAT_UNKNOWN) {
            snprintf(err, cap, "the model's chat template is not one tern recognises: restart the "
                               "server with --chat-template NAME");
            *status = 501;
            return NULL;
        }
        if (!(chat_text = tn_chat_format(s->family, q->msgs, q->n_msgs, true))) {
            snprintf(err, cap, "%s", tn_last_error());
            return NULL;
        }
        text = chat_text;
        len = strlen(chat_text);
    }
    /* completions: the text as tern run tokenizes it (control-token texts stay text); chat: the
     * template's special tokens must be parsed, as in tern chat */
    bool special = q->chat;
    int32_t k = tn_tokenize(s->model, text, len, NULL, 0, true, special);
    int32_t *t = NULL;
    if (k == INT32_MIN) {
        snprintf(err, cap, "cannot tokenize the prompt: %s", tn_last_error());
    } else {
        k = k < 0 ? -k : k;
        t = malloc((size_t)(k ? k : 1) * sizeof *t);
        if (!t) snprintf(err, cap, "out of memory"), *status = 500;
        else if (k) k = tn_tokenize(s->model, text, len, t, k, true, special);
        *n = k;
    }
    free(chat_text);
    return t;
}

static bool send_buf(int fd, bool chunked, tn_buf *b) {
    bool ok = !b->oom && tn_http_stream_write(fd, chunked, b->p, b->len) == 0;
    b->len = 0;
    return ok;
}

/* Streams the job's text as SSE events until it finishes or the client goes away. Returns
 * whether the client is still there; *fin is the finish state it saw. */
static bool stream_job(tn_server *s, int fd, bool chunked, const tn_api_meta *meta,
                       const tn_api_req *q, tn_job *j, int32_t n_prompt, tn_finish *fin) {
    tn_buf ev = {0}, piece = {0};
    bool ok = true;
    if (meta->chat) { /* OpenAI's first chat chunk: the role, empty content */
        tn_api_chunk_sse(&ev, meta, "", 0, -1, true);
        ok = send_buf(fd, chunked, &ev);
    }
    size_t sent = 0;
    int32_t n_gen = 0;
    tn_sched_lock(s->sched);
    while (ok) {
        while (j->text_len == sent && j->finish == TN_FINISH_NONE) {
            tn_sched_wait(s->sched, j, POLL_MS);
            if (j->text_len == sent && j->finish == TN_FINISH_NONE && tn_http_peer_gone(fd)) {
                ok = false;
                break;
            }
        }
        if (!ok) break;
        piece.len = 0;
        tn_buf_put(&piece, j->text + sent, j->text_len - sent);
        sent = j->text_len;
        *fin = j->finish;
        n_gen = j->n_gen;
        tn_sched_unlock(s->sched);
        if (piece.len) {
            tn_api_chunk_sse(&ev, meta, piece.p, piece.len, -1, false);
            ok = send_buf(fd, chunked, &ev);
        }
        if (ok && *fin == TN_FINISH_ERROR) {
            tn_buf_puts(&ev, "data: ");
            tn_api_error_json(&ev, 500, j->error);
            tn_buf_puts(&ev, "\n\n");
            ok = send_buf(fd, chunked, &ev);
        } else if (ok && *fin != TN_FINISH_NONE) {
            int f = *fin == TN_FINISH_LENGTH ? TN_API_FINISH_LENGTH : TN_API_FINISH_STOP;
            tn_api_chunk_sse(&ev, meta, "", 0, f, false);
            if (q->include_usage) tn_api_usage_sse(&ev, meta, n_prompt, n_gen);
            tn_buf_puts(&ev, "data: [DONE]\n\n");
            ok = send_buf(fd, chunked, &ev) && tn_http_stream_end(fd, chunked) == 0;
        }
        if (*fin != TN_FINISH_NONE) {
            tn_buf_free(&ev);
            tn_buf_free(&piece);
            return ok;
        }
        tn_sched_lock(s->sched);
    }
    tn_sched_unlock(s->sched);
    tn_buf_free(&ev);
    tn_buf_free(&piece);
    return ok;
}

/* Waits for a whole result; false if the client went away first. */
static bool wait_job(tn_server *s, int fd, tn_job *j) {
    bool ok = true;
    tn_sched_lock(s->sched);
    while (j->finish == TN_FINISH_NONE) {
        tn_sched_wait(s->sched, j, POLL_MS);
        if (j->finish == TN_FINISH_NONE && tn_http_peer_gone(fd)) {
            ok = false;
            break;
        }
    }
    tn_sched_unlock(s->sched);
    return ok;
}

bool srv_completion(tn_server *s, int fd, const tn_http_req *r, const char *body, size_t len,
                    bool chat, bool keep_alive) {
    double t0 = now_ms();
    char err[512];
    tn_api_req q;
    int32_t *toks = NULL, n_prompt = 0;
    int status = 400;
    if (tn_api_parse(body, len, chat, &s->p.sampling, &q, err, sizeof err)) {
        tn_api_req_free(&q);
        srv_log(s, "%s %s 400 (%s)", r->method, r->path, err);
        return srv_send_error(s, fd, 400, err, keep_alive);
    }
    if (!q.seed_set && !s->p.seed_set) q.sp.seed = srv_random(s) & 0xffffffffu;
    if (!(toks = prompt_tokens(s, &q, &n_prompt, &status, err, sizeof err))) {
        tn_api_req_free(&q);
        srv_log(s, "%s %s %d (%s)", r->method, r->path, status, err);
        return srv_send_error(s, fd, status, err, keep_alive);
    }
    tn_job j;
    tn_job_init(&j);
    j.prompt = toks;
    j.n_prompt = n_prompt;
    j.max_tokens = q.max_tokens;
    j.sp = q.sp;
    j.stop = q.stop;
    j.n_stop = q.n_stop;
    if ((status = tn_sched_submit(s->sched, &j, err, sizeof err)) != 0) {
        srv_log(s, "%s %s %d (%s)", r->method, r->path, status, err);
        bool k = srv_send_error(s, fd, status, err, keep_alive);
        tn_job_destroy(&j);
        free(toks);
        tn_api_req_free(&q);
        return k;
    }
    char id[48];
    snprintf(id, sizeof id, "%s-%016llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)srv_random(s));
    tn_api_meta meta = {.chat = chat, .id = id, .created = (long long)time(NULL), .model = s->model_id};
    bool alive;
    tn_finish fin = TN_FINISH_NONE;
    if (q.stream) {
        bool chunked = r->minor >= 1; /* HTTP/1.0 clients read to the end of the connection */
        keep_alive = keep_alive && chunked;
        alive = tn_http_stream_begin(fd, chunked, keep_alive) == 0 &&
                stream_job(s, fd, chunked, &meta, &q, &j, n_prompt, &fin);
        status = 200;
    } else {
        alive = wait_job(s, fd, &j);
        fin = j.finish;
        if (alive && fin == TN_FINISH_ERROR) {
            status = 500;
            alive = srv_send_error(s, fd, 500, j.error, keep_alive);
        } else if (alive) {
            tn_buf b = {0};
            tn_api_completion_json(&b, &meta, j.text ? j.text : "", j.text_len,
                                   fin == TN_FINISH_LENGTH ? TN_API_FINISH_LENGTH : TN_API_FINISH_STOP,
                                   n_prompt, j.n_gen);
            status = b.oom ? 500 : 200;
            if (b.oom) keep_alive = srv_send_error(s, fd, 500, "out of memory", false);
            else alive = tn_http_respond(fd, 200, "application/json", b.p, b.len, keep_alive, NULL) == 0;
            tn_buf_free(&b);
        }
    }
    if (!alive || fin == TN_FINISH_NONE) tn_sched_cancel(s->sched, &j); /* frees the slot */
    srv_log(s, "%s %s %d%s prompt=%d gen=%d %.0f ms%s", r->method, r->path, status,
            q.stream ? " stream" : "", n_prompt, j.n_gen, now_ms() - t0,
            alive ? "" : " (client gone: cancelled)");
    tn_job_destroy(&j);
    free(toks);
    tn_api_req_free(&q);
    return alive && keep_alive;
}
