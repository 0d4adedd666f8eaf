/* OpenAI request parsing and response building (see api.h). */
#include "server/api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/json.h"

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* A member that is present and not null. */
static const tn_json *field(const tn_json *o, const char *key) {
    const tn_json *v = tn_json_get(o, key);
    return v && v->type != TN_JSON_NULL ? v : NULL;
}

static char *dup_str(const tn_json *v) {
    char *s = malloc(v->len + 1);
    if (s) {
        memcpy(s, v->str, v->len);
        s[v->len] = 0;
    }
    return s;
}

/* A number field within [lo, hi]; absent leaves *out alone. */
static int num_field(const tn_json *o, const char *key, double lo, double hi, double *out,
                     char *err, size_t cap) {
    const tn_json *v = field(o, key);
    if (!v) return 0;
    if (v->type != TN_JSON_NUMBER || !isfinite(v->num))
        return fail(err, cap, "'%s' must be a number", key);
    if (v->num < lo || v->num > hi)
        return fail(err, cap, "'%s' must be between %g and %g, got %g", key, lo, hi, v->num);
    *out = v->num;
    return 0;
}

static int int_field(const tn_json *o, const char *key, int64_t lo, int64_t hi, int64_t *out,
                     char *err, size_t cap) {
    const tn_json *v = field(o, key);
    if (!v) return 0;
    int64_t x;
    if (v->type != TN_JSON_NUMBER || !tn_json_get_int(o, key, &x))
        return fail(err, cap, "'%s' must be an integer", key);
    if (x < lo || x > hi)
        return fail(err, cap, "'%s' must be between %lld and %lld, got %lld", key, (long long)lo,
                    (long long)hi, (long long)x);
    *out = x;
    return 0;
}

static int bool_field(const tn_json *o, const char *key, bool *out, char *err, size_t cap) {
    const tn_json *v = field(o, key);
    if (!v) return 0;
    if (v->type != TN_JSON_BOOL) return fail(err, cap, "'%s' must be true or false", key);
    *out = v->boolean;
    return 0;
}

static int parse_prompt(const tn_json *p, tn_api_req *r, char *err, size_t cap) {
    if (!p) return fail(err, cap, "'prompt' is required");
    if (p->type == TN_JSON_ARRAY && p->n == 1 && p->items[0]->type == TN_JSON_STRING)
        p = p->items[0]; /* ["text"]: one prompt */
    if (p->type == TN_JSON_STRING) {
        if (!(r->prompt = dup_str(p))) return fail(err, cap, "out of memory");
        r->prompt_len = p->len;
        return 0;
    }
    if (p->type != TN_JSON_ARRAY)
        return fail(err, cap, "'prompt' must be a string or an array of token ids");
    if (p->n == 0) return fail(err, cap, "'prompt' is empty");
    if (p->n > (1u << 24)) return fail(err, cap, "'prompt' has too many tokens");
    r->prompt_tokens = malloc(p->n * sizeof *r->prompt_tokens);
    if (!r->prompt_tokens) return fail(err, cap, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        const tn_json *t = p->items[i];
        if (t->type == TN_JSON_STRING || t->type == TN_JSON_ARRAY)
            return fail(err, cap, "only one prompt per request is supported");
        if (t->type != TN_JSON_NUMBER || !t->is_int || t->i < 0 || t->i > INT32_MAX)
            return fail(err, cap, "'prompt' token %zu is not a token id", i);
        r->prompt_tokens[i] = (int32_t)t->i;
    }
    r->n_prompt_tokens = (int32_t)p->n;
    return 0;
}

/* content: a string, or an array of parts of which only {"type":"text","text":...} are known */
static char *message_content(const tn_json *c, size_t i, char *err, size_t cap) {
    if (!c) {
        fail(err, cap, "messages[%zu] has no 'content'", i);
        return NULL;
    }
    if (c->type == TN_JSON_STRING) {
        if (memchr(c->str, 0, c->len)) {
            fail(err, cap, "messages[%zu].content contains a NUL character", i);
            return NULL;
        }
        char *s = dup_str(c);
        if (!s) fail(err, cap, "out of memory");
        return s;
    }
    if (c->type != TN_JSON_ARRAY) {
        fail(err, cap, "messages[%zu].content must be a string or an array of text parts", i);
        return NULL;
    }
    tn_buf b = {0};
    for (size_t k = 0; k < c->n; k++) {
        const tn_json *part = c->items[k];
        const char *type = tn_json_get_str(part, "type");
        const tn_json *text = tn_json_get(part, "text");
        if (!type || strcmp(type, "text") || !text || text->type != TN_JSON_STRING ||
            memchr(text->str, 0, text->len)) {
            tn_buf_free(&b);
            fail(err, cap, "messages[%zu].content[%zu]: only text parts are supported", i, k);
            return NULL;
        }
        tn_buf_put(&b, text->str, text->len);
    }
    tn_buf_put(&b, "", 0);
    if (b.oom) {
        tn_buf_free(&b);
        fail(err, cap, "out of memory");
        return NULL;
    }
    return b.p;
}

static int parse_messages(const tn_json *m, tn_api_req *r, char *err, size_t cap) {
    if (!m) return fail(err, cap, "'messages' is required");
    if (m->type != TN_JSON_ARRAY) return fail(err, cap, "'messages' must be an array");
    if (m->n == 0) return fail(err, cap, "'messages' is empty");
    if (!(r->msgs = calloc(m->n, sizeof *r->msgs))) return fail(err, cap, "out of memory");
    for (size_t i = 0; i < m->n; i++) {
        const tn_json *msg = m->items[i];
        if (msg->type != TN_JSON_OBJECT) return fail(err, cap, "messages[%zu] must be an object", i);
        const tn_json *role = tn_json_get(msg, "role");
        if (!role || role->type != TN_JSON_STRING || role->len == 0 || memchr(role->str, 0, role->len))
            return fail(err, cap, "messages[%zu].role must be a non-empty string", i);
        r->n_msgs = i + 1; /* so tn_api_req_free frees what is set */
        if (!(r->msgs[i].role = dup_str(role))) return fail(err, cap, "out of memory");
        if (!(r->msgs[i].content = message_content(field(msg, "content"), i, err, cap))) return -1;
    }
    return 0;
}

static int parse_stop(const tn_json *s, tn_api_req *r, char *err, size_t cap) {
    if (!s) return 0;
    const tn_json *const *items = &s;
    size_t n = 1;
    if (s->type == TN_JSON_ARRAY) {
        items = (const tn_json *const *)s->items;
        n = s->n;
    }
    if (n > TN_API_MAX_STOP) return fail(err, cap, "at most %d stop strings", TN_API_MAX_STOP);
    for (size_t i = 0; i < n; i++) {
        const tn_json *v = items[i];
        if (v->type != TN_JSON_STRING) return fail(err, cap, "'stop' must be a string or an array of strings");
        if (v->len > TN_API_MAX_STOP_LEN)
            return fail(err, cap, "stop strings are limited to %d bytes", TN_API_MAX_STOP_LEN);
        if (v->len == 0) continue; /* matches nothing useful */
        if (!(r->stop[r->n_stop] = dup_str(v))) return fail(err, cap, "out of memory");
        r->n_stop++;
    }
    return 0;
}

static int parse_fields(const tn_json *o, bool chat, tn_api_req *r, char *err, size_t cap) {
    if (o->type != TN_JSON_OBJECT) return fail(err, cap, "the request body must be a JSON object");
    const tn_json *model = field(o, "model");
    if (model && model->type != TN_JSON_STRING) return fail(err, cap, "'model' must be a string");
    int rc = chat ? parse_messages(field(o, "messages"), r, err, cap)
                  : parse_prompt(field(o, "prompt"), r, err, cap);
    if (rc) return rc;
    int64_t n = 1, mt = -1, top_k = r->sp.top_k, seed = -1;
    double temp = r->sp.temp, top_p = r->sp.top_p, min_p = r->sp.min_p, rp = r->sp.repeat_penalty;
    if (int_field(o, "n", 1, INT32_MAX, &n, err, cap)) return -1;
    if (n != 1) return fail(err, cap, "only n = 1 is supported");
    /* max_completion_tokens is the chat API's newer name; -1 = until the context share ends */
    if (int_field(o, "max_tokens", -1, INT32_MAX, &mt, err, cap) ||
        int_field(o, "max_completion_tokens", -1, INT32_MAX, &mt, err, cap) ||
        num_field(o, "temperature", 0, 100, &temp, err, cap) ||
        num_field(o, "top_p", 0, 1, &top_p, err, cap) ||
        int_field(o, "top_k", -1, INT32_MAX, &top_k, err, cap) ||
        num_field(o, "min_p", 0, 1, &min_p, err, cap) ||
        num_field(o, "repeat_penalty", 0.01, 100, &rp, err, cap) ||
        int_field(o, "seed", INT64_MIN, INT64_MAX, &seed, err, cap) ||
        bool_field(o, "stream", &r->stream, err, cap) || parse_stop(field(o, "stop"), r, err, cap))
        return -1;
    const tn_json *so = field(o, "stream_options");
    if (so && so->type != TN_JSON_OBJECT) return fail(err, cap, "'stream_options' must be an object");
    if (so && bool_field(so, "include_usage", &r->include_usage, err, cap)) return -1;
    r->max_tokens = mt;
    r->sp.temp = (float)temp;
    r->sp.top_p = (float)top_p;
    r->sp.top_k = (int32_t)top_k;
    r->sp.min_p = (float)min_p;
    r->sp.repeat_penalty = (float)rp;
    /* seed -1 (llama.cpp) or absent: the server's default */
    if (field(o, "seed") && seed != -1) {
        r->sp.seed = (uint64_t)seed;
        r->seed_set = true;
    }
    return 0;
}

int tn_api_parse(const char *body, size_t len, bool chat, const tn_sampler_params *defaults,
                 tn_api_req *r, char *err, size_t cap) {
    memset(r, 0, sizeof *r);
    r->chat = chat;
    r->sp = *defaults;
    r->max_tokens = -1;
    if (!tn_utf8_valid(body, len)) return fail(err, cap, "the request body is not valid UTF-8");
    tn_json_doc *d = tn_json_parse(body, len, "request body");
    if (!d) return fail(err, cap, "%s", tn_last_error());
    int rc = parse_fields(tn_json_root(d), chat, r, err, cap);
    tn_json_free(d);
    return rc;
}

void tn_api_req_free(tn_api_req *r) {
    free(r->prompt);
    free(r->prompt_tokens);
    for (size_t i = 0; i < r->n_msgs; i++) {
        free((char *)r->msgs[i].role);
        free((char *)r->msgs[i].content);
    }
    free(r->msgs);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}

static void head(tn_buf *b, const tn_api_meta *m, bool chunk) {
    tn_buf_puts(b, "{\"id\":");
    tn_buf_json_str(b, m->id, strlen(m->id));
    tn_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":",
                  m->chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion",
                  m->created);
    tn_buf_json_str(b, m->model, strlen(m->model));
}

static const char *finish_name(int f) { return f == TN_API_FINISH_LENGTH ? "\"length\"" : "\"stop\""; }

static void usage(tn_buf *b, int32_t n_prompt, int32_t n_gen) {
    tn_buf_printf(b, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}",
                  n_prompt, n_gen, n_prompt + n_gen);
}

void tn_api_completion_json(tn_buf *b, const tn_api_meta *m, const char *text, size_t n,
                            tn_api_finish finish, int32_t n_prompt, int32_t n_gen) {
    head(b, m, false);
    tn_buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (m->chat) {
        tn_buf_puts(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        tn_buf_json_str(b, text, n);
        tn_buf_puts(b, "}");
    } else {
        tn_buf_puts(b, "\"text\":");
        tn_buf_json_str(b, text, n);
        tn_buf_puts(b, ",\"logprobs\":null");
    }
    tn_buf_printf(b, ",\"finish_reason\":%s}],", finish_name(finish));
    usage(b, n_prompt, n_gen);
    tn_buf_puts(b, "}");
}

void tn_api_chunk_sse(tn_buf *b, const tn_api_meta *m, const char *text, size_t n, int finish,
                      bool role) {
    tn_buf_puts(b, "data: ");
    head(b, m, true);
    tn_buf_puts(b, ",\"choices\":[{\"index\":0,");
    if (m->chat) {
        tn_buf_puts(b, "\"delta\":{");
        if (role) tn_buf_puts(b, "\"role\":\"assistant\"");
        if (n || (role && finish < 0)) {
            if (role) tn_buf_puts(b, ",");
            tn_buf_puts(b, "\"content\":");
            tn_buf_json_str(b, text, n);
        }
        tn_buf_puts(b, "}");
    } else {
        tn_buf_puts(b, "\"text\":");
        tn_buf_json_str(b, text, n);
        tn_buf_puts(b, ",\"logprobs\":null");
    }
    tn_buf_printf(b, ",\"finish_reason\":%s}]}\n\n", finish < 0 ? "null" : finish_name(finish));
}

void tn_api_usage_sse(tn_buf *b, const tn_api_meta *m, int32_t n_prompt, int32_t n_gen) {
    tn_buf_puts(b, "data: ");
    head(b, m, true);
    tn_buf_puts(b, ",\"choices\":[],");
    usage(b, n_prompt, n_gen);
    tn_buf_puts(b, "}\n\n");
}

void tn_api_error_json(tn_buf *b, int status, const char *msg) {
    const char *type = status == 404   ? "not_found_error"
                       : status == 501 ? "not_supported_error"
                       : status == 503 ? "unavailable_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    tn_buf_puts(b, "{\"error\":{\"message\":");
    tn_buf_json_str(b, msg, strlen(msg));
    tn_buf_printf(b, ",\"type\":\"%s\",\"code\":%d}}", type, status);
}
