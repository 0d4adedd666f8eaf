/* libFuzzer target for the server's request parsing (src/server): byte 0 of an input picks what
 * the rest is fed to:
 *   0: tn_http_parse_head (request line and headers);
 *   1: tn_api_parse of a /v1/completions body;
 *   2: tn_api_parse of a /v1/chat/completions body, then the ChatML and Llama 3 renderings;
 *   3: tn_buf_json_str (the response string writer) on arbitrary bytes.
 * Properties (abort on failure, so libFuzzer keeps the input): a complete head lies inside the
 * input, has a method and a path starting with '/' (or "*"), and parses the same from its own
 * bytes alone; a rejected head has a 4xx/5xx status and a message; a rejected body has a message;
 * the writer's output is valid UTF-8 that parses back as a JSON string equal to the input when the
 * input is valid UTF-8. ASan + UBSan catch memory and arithmetic errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template.h"
#include "convert/json.h"
#include "server/api.h"
#include "server/http.h"
#include "server/jsonw.h"

static void fail(const char *why) {
    fprintf(stderr, "fuzz_serve: %s\n", why);
    abort();
}

static void http_case(const char *s, size_t n) {
    tn_http_req r;
    const char *msg = NULL;
    int rc = tn_http_parse_head(s, n, &r, &msg);
    if (rc < 0) {
        if (rc > -400 || rc < -599 || !msg || !*msg) fail("bad rejection");
        return;
    }
    if (rc == 0) return;
    if (r.head_len == 0 || r.head_len > n || r.head_len > TN_HTTP_MAX_HEAD) fail("head_len out of range");
    if (!r.method[0] || (r.path[0] != '/' && strcmp(r.path, "*"))) fail("no method or path");
    tn_http_req r2;
    if (tn_http_parse_head(s, r.head_len, &r2, &msg) != 1 || memcmp(&r, &r2, sizeof r))
        fail("head parses differently from its own bytes");
}

static void body_case(const char *s, size_t n, bool chat) {
    tn_api_req q;
    char err[512] = "";
    tn_sampler_params d = tn_sampler_default_params();
    if (tn_api_parse(s, n, chat, &d, &q, err, sizeof err)) {
        if (!err[0]) fail("rejected body without a message");
    } else {
        if (chat && (!q.msgs || !q.n_msgs)) fail("chat without messages");
        if (!chat && !q.prompt && !q.prompt_tokens) fail("completion without a prompt");
        if (q.n_stop < 0 || q.n_stop > TN_API_MAX_STOP) fail("stop count");
        if (chat) {
            tn_chat_family fams[] = {TN_CHAT_CHATML, TN_CHAT_LLAMA3, TN_CHAT_GEMMA};
            for (int i = 0; i < 3; i++) free(tn_chat_format(fams[i], q.msgs, q.n_msgs, true));
        }
    }
    tn_api_req_free(&q);
}

static void writer_case(const char *s, size_t n) {
    tn_buf b = {0};
    tn_buf_json_str(&b, s, n);
    if (b.oom) return;
    if (!tn_utf8_valid(b.p, b.len)) fail("writer output is not UTF-8");
    tn_json_doc *d = tn_json_parse(b.p, b.len, "writer");
    if (!d || tn_json_root(d)->type != TN_JSON_STRING) fail("writer output is not a JSON string");
    const tn_json *v = tn_json_root(d);
    if (tn_utf8_valid(s, n) && (v->len != n || memcmp(v->str, s, n))) fail("round trip changed text");
    tn_json_free(d);
    tn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: http_case(s, n); break;
    case 1: body_case(s, n, false); break;
    case 2: body_case(s, n, true); break;
    default: writer_case(s, n); break;
    }
    return 0;
}
