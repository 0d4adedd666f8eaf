/* HTTP/1.1 request parsing and response writing (see http.h). */
#include "server/http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* RFC 9110 token characters (method and header names). */
static bool is_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Does a comma-separated header value contain `tok` (case-insensitive)? */
static bool has_token(const char *v, size_t n, const char *tok) {
    size_t k = strlen(tok);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e - s == k && strncasecmp(v + s, tok, k) == 0) return true;
    }
    return false;
}

static int bad(const char **msg, const char *m, int status) {
    *msg = m;
    return -status;
}

/* Request line: METHOD SP request-target SP HTTP/1.x */
static int parse_request_line(const char *l, size_t n, tn_http_req *r, const char **msg) {
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)l[i])) i++;
    if (i == 0 || i >= sizeof r->method || i >= n || l[i] != ' ')
        return bad(msg, "malformed request line", 400);
    memcpy(r->method, l, i);
    r->method[i] = 0;
    size_t t0 = ++i;
    while (i < n && l[i] != ' ') {
        unsigned char c = (unsigned char)l[i];
        if (c <= 0x20 || c == 0x7f) return bad(msg, "malformed request target", 400);
        i++;
    }
    size_t t1 = i;
    if (t1 == t0 || i >= n) return bad(msg, "malformed request line", 400);
    const char *ver = l + i + 1;
    size_t vn = n - i - 1;
    if (vn != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.' || ver[5] < '0' || ver[5] > '9' ||
        ver[7] < '0' || ver[7] > '9')
        return bad(msg, "malformed HTTP version", 400);
    if (ver[5] != '1') return bad(msg, "only HTTP/1.x is supported", 505);
    r->minor = ver[7] - '0';
    /* absolute-form (http://host/path, RFC 9112 3.2.2): keep the path */
    const char *t = l + t0;
    size_t tn = t1 - t0;
    const char *sch = tn > 7 ? memmem(t, tn, "://", 3) : NULL;
    if (t[0] != '/' && sch && sch - t >= 4 && sch - t <= 5 && strncasecmp(t, "http", 4) == 0) {
        const char *auth = sch + 3;
        size_t rest = tn - (size_t)(auth - t);
        const char *p = memchr(auth, '/', rest);
        if (!p) {
            t = "/";
            tn = 1;
        } else {
            tn = rest - (size_t)(p - auth);
            t = p;
        }
    }
    if (tn == 1 && t[0] == '*') { /* OPTIONS * */
        strcpy(r->path, "*");
        return 0;
    }
    if (t[0] != '/') return bad(msg, "malformed request target", 400);
    const char *q = memchr(t, '?', tn);
    if (q) tn = (size_t)(q - t);
    if (tn >= sizeof r->path) return bad(msg, "request target too long", 414);
    memcpy(r->path, t, tn);
    r->path[tn] = 0;
    return 0;
}

int tn_http_parse_head(const char *buf, size_t len, tn_http_req *r, const char **msg) {
    /* RFC 9112 2.2: a server should ignore at least one empty line before the request line */
    size_t start = 0;
    while (start < len && start < 4 && (buf[start] == '\r' || buf[start] == '\n')) start++;
    /* find the end of the head: an empty line (CRLF CRLF, or bare LF as RFC 9112 allows) */
    size_t end = 0;
    for (size_t i = start; i < len; i++) {
        if (buf[i] != '\n') continue;
        if (i + 1 < len && buf[i + 1] == '\n') {
            end = i + 2;
            break;
        }
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
            end = i + 3;
            break;
        }
    }
    if (!end) return len > TN_HTTP_MAX_HEAD ? bad(msg, "request head too large", 431) : 0;
    if (end > TN_HTTP_MAX_HEAD) return bad(msg, "request head too large", 431);
    memset(r, 0, sizeof *r);
    r->head_len = end;
    bool conn_close = false, conn_keep = false;
    size_t line = start;
    for (int k = 0; line < end; k++) {
        const char *nl = memchr(buf + line, '\n', end - line);
        size_t ln = (size_t)(nl - (buf + line));
        const char *l = buf + line;
        line += ln + 1;
        if (ln && l[ln - 1] == '\r') ln--;
        if (memchr(l, '\r', ln) || memchr(l, 0, ln)) return bad(msg, "stray CR or NUL in the head", 400);
        if (k == 0) {
            int rc = parse_request_line(l, ln, r, msg);
            if (rc) return rc;
            continue;
        }
        if (ln == 0) break; /* the empty line */
        if (l[0] == ' ' || l[0] == '\t') return bad(msg, "obsolete header line folding", 400);
        size_t c = 0;
        while (c < ln && is_tchar((unsigned char)l[c])) c++;
        if (c == 0 || c >= ln || l[c] != ':') return bad(msg, "malformed header line", 400);
        const char *v = l + c + 1;
        size_t vn = ln - c - 1;
        while (vn && (*v == ' ' || *v == '\t')) v++, vn--;
        while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) vn--;
        if (c == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
            unsigned long long x = 0;
            if (vn == 0 || vn > 18) return bad(msg, "bad Content-Length", 400);
            for (size_t i = 0; i < vn; i++) {
                if (v[i] < '0' || v[i] > '9') return bad(msg, "bad Content-Length", 400);
                x = x * 10 + (unsigned)(v[i] - '0');
            }
            if (r->has_length && x != r->content_length)
                return bad(msg, "conflicting Content-Length headers", 400);
            r->has_length = true;
            r->content_length = x;
        } else if (c == 17 && strncasecmp(l, "Transfer-Encoding", 17) == 0) {
            r->has_transfer_encoding = true;
        } else if (c == 10 && strncasecmp(l, "Connection", 10) == 0) {
            if (has_token(v, vn, "close")) conn_close = true;
            if (has_token(v, vn, "keep-alive")) conn_keep = true;
        } else if (c == 6 && strncasecmp(l, "Expect", 6) == 0) {
            if (vn == 12 && strncasecmp(v, "100-continue", 12) == 0) r->expect_continue = true;
            else return bad(msg, "unsupported Expect header", 417);
        }
    }
    r->keep_alive = r->minor >= 1 ? !conn_close : (conn_keep && !conn_close);
    if (r->minor == 0) r->expect_continue = false;
    return 1;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Receives more bytes into the buffer before the deadline. 1: got some; 0: peer closed;
 * -1: error; -2: timed out. */
static int recv_more(tn_http_conn *c, size_t want, long long deadline) {
    if (c->cap - c->len < want + 1) {
        size_t cap = c->cap ? c->cap : 8192;
        while (cap - c->len < want + 1) cap *= 2;
        char *p = realloc(c->buf, cap);
        if (!p) return -1;
        c->buf = p;
        c->cap = cap;
    }
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return -2;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left > 1000000 ? 1000000 : left));
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return -1;
        if (pr == 0) continue; /* re-check the deadline */
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n < 0) return -1;
        if (n == 0) return 0;
        c->len += (size_t)n;
        c->buf[c->len] = 0;
        return 1;
    }
}

int tn_http_read_request(tn_http_conn *c, size_t max_body, tn_http_req *r, char **body,
                         size_t *body_len, const char **msg) {
    long long deadline = now_ms() + c->timeout_ms;
    int rc;
    bool started = c->len > 0;
    while ((rc = tn_http_parse_head(c->buf ? c->buf : "", c->len, r, msg)) == 0) {
        int got = recv_more(c, 4096, deadline);
        if (got == -2 && started) return *msg = "timed out reading the request", 408;
        if (got <= 0) return -1;
        if (!started) deadline = now_ms() + c->timeout_ms; /* the request's own time starts now */
        started = true;
    }
    if (rc < 0) return -rc;
    if (r->has_transfer_encoding)
        return *msg = "request bodies must have a Content-Length (chunked coding is not supported)", 411;
    unsigned long long n = r->has_length ? r->content_length : 0;
    if (!r->has_length && (!strcmp(r->method, "POST") || !strcmp(r->method, "PUT")))
        return *msg = "a POST body needs a Content-Length header", 411;
    if (n > max_body) return *msg = "request body too large", 413;
    if (r->expect_continue && c->len < r->head_len + n) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (tn_http_send_all(c->fd, cont, sizeof cont - 1)) return -1;
    }
    while (c->len < r->head_len + n) {
        int got = recv_more(c, (size_t)(r->head_len + n - c->len), deadline);
        if (got == -2) return *msg = "timed out reading the request body", 408;
        if (got <= 0) return -1;
    }
    /* NUL-terminate the body in place, keeping the byte it covers for a pipelined request */
    if (c->cap < c->len + 2) {
        char *p = realloc(c->buf, c->len + 2);
        if (!p) return -1;
        c->buf = p;
        c->cap = c->len + 2;
    }
    *body = c->buf + r->head_len;
    *body_len = (size_t)n;
    return 0;
}

void tn_http_consume(tn_http_conn *c, const tn_http_req *r) {
    size_t used = r->head_len + (size_t)(r->has_length ? r->content_length : 0);
    if (used > c->len) used = c->len;
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    if (c->buf) c->buf[c->len] = 0;
}

void tn_http_conn_free(tn_http_conn *c) {
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

int tn_http_send_all(int fd, const void *p, size_t n) {
    const char *s = p;
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1; /* EAGAIN here means SO_SNDTIMEO expired: a stuck client */
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

const char *tn_http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* CORS: browsers' front ends (and llama.cpp's web UI) call the API from other origins. */
#define COMMON_HEADERS "Server: tern\r\nAccess-Control-Allow-Origin: *\r\n"

int tn_http_respond(int fd, int status, const char *content_type, const char *body, size_t n,
                    bool keep_alive, const char *extra_headers) {
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\n" COMMON_HEADERS "%s%s%sContent-Length: %zu\r\n"
                      "Connection: %s\r\n\r\n",
                      status, tn_http_reason(status), content_type ? "Content-Type: " : "",
                      content_type ? content_type : "", content_type ? "\r\n" : "", n,
                      keep_alive ? "keep-alive" : "close");
    if (hn < 0 || (size_t)hn >= sizeof head) return -1;
    if (extra_headers) { /* insert before the final CRLF */
        size_t en = strlen(extra_headers);
        if ((size_t)hn + en >= sizeof head) return -1;
        memmove(head + hn - 2 + en, head + hn - 2, 3);
        memcpy(head + hn - 2, extra_headers, en);
        hn += (int)en;
    }
    if (tn_http_send_all(fd, head, (size_t)hn)) return -1;
    return n ? tn_http_send_all(fd, body, n) : 0;
}

int tn_http_stream_begin(int fd, bool chunked, bool keep_alive) {
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\n" COMMON_HEADERS "Content-Type: text/event-stream\r\n"
                      "Cache-Control: no-cache\r\n%sConnection: %s\r\n\r\n",
                      chunked ? "Transfer-Encoding: chunked\r\n" : "",
                      chunked && keep_alive ? "keep-alive" : "close");
    return tn_http_send_all(fd, head, (size_t)hn);
}

int tn_http_stream_write(int fd, bool chunked, const char *p, size_t n) {
    if (n == 0) return 0; /* a zero-size chunk would end the body */
    if (chunked) {
        char h[32];
        int hn = snprintf(h, sizeof h, "%zx\r\n", n);
        if (tn_http_send_all(fd, h, (size_t)hn) || tn_http_send_all(fd, p, n) ||
            tn_http_send_all(fd, "\r\n", 2))
            return -1;
        return 0;
    }
    return tn_http_send_all(fd, p, n);
}

int tn_http_stream_end(int fd, bool chunked) {
    return chunked ? tn_http_send_all(fd, "0\r\n\r\n", 5) : 0;
}

bool tn_http_peer_gone(int fd) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0) return false;
    if (pfd.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return true;
    if (pfd.revents & POLLIN) { /* data or EOF: peek to tell them apart */
        char ch;
        ssize_t n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    return false;
}
