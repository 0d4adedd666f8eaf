/* HTTP/1.1 for the server (RFC 9112), the subset an API server needs: request heads parsed from a
 * buffer (a pure function, fuzzed by tests/fuzz/fuzz_serve.c), bodies framed by Content-Length
 * only, reads with a deadline, keep-alive and pipelining, plain and chunked responses.
 * Anything outside the subset gets a 4xx/5xx status rather than a guess. */
#ifndef TN_SERVER_HTTP_H
#define TN_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define TN_HTTP_MAX_HEAD 16384 /* request line + headers */

typedef struct tn_http_req {
    char method[16];
    char path[2048]; /* origin-form path without the query string */
    int minor;       /* HTTP/1.minor */
    bool keep_alive;
    bool expect_continue;
    bool has_length;
    unsigned long long content_length;
    bool has_transfer_encoding; /* request bodies in chunked coding are not supported */
    size_t head_len;            /* bytes of the request line and headers incl. the empty line */
} tn_http_req;

/* Parses the request head at buf[0..len). Returns 1 when the head is complete (r filled),
 * 0 if more bytes are needed, or a negative HTTP status (-400, -431, -505) with *msg set. */
int tn_http_parse_head(const char *buf, size_t len, tn_http_req *r, const char **msg);

/* One client connection: received bytes not yet consumed (for pipelined requests). */
typedef struct tn_http_conn {
    int fd;
    char *buf;
    size_t len, cap;
    int timeout_ms; /* for a whole request, and for an idle keep-alive connection */
} tn_http_conn;

/* Reads the next request. Returns 0 with the head in *r and the body in *body (borrowed from the
 * connection, NUL-terminated, valid until the next read); -1 if the connection closed, failed or
 * idled out before a request began (send nothing); or an HTTP error status (400, 408, 411, 413,
 * 431, 505) with *msg: the caller answers it and closes the connection. Sends "100 Continue" when
 * the client asks for it and the body is acceptable. */
int tn_http_read_request(tn_http_conn *c, size_t max_body, tn_http_req *r, char **body,
                         size_t *body_len, const char **msg);
/* Drops the request just read from the buffer (keeps pipelined bytes after it). */
void tn_http_consume(tn_http_conn *c, const tn_http_req *r);
void tn_http_conn_free(tn_http_conn *c);

/* Writes all bytes (no SIGPIPE); 0, or -1 if the peer is gone or the send timed out. */
int tn_http_send_all(int fd, const void *p, size_t n);
const char *tn_http_reason(int status);
/* A complete response with Content-Length. extra_headers: "Name: value\r\n" lines or NULL. */
int tn_http_respond(int fd, int status, const char *content_type, const char *body, size_t n,
                    bool keep_alive, const char *extra_headers);
/* Server-Sent Events: headers, then chunks, then the end. chunked: HTTP/1.1 chunked coding (the
 * connection may stay open); otherwise the stream ends by closing the connection. */
int tn_http_stream_begin(int fd, bool chunked, bool keep_alive);
int tn_http_stream_write(int fd, bool chunked, const char *p, size_t n);
int tn_http_stream_end(int fd, bool chunked);
/* True if the peer has closed or reset the connection (checked without blocking or consuming). */
bool tn_http_peer_gone(int fd);

#endif
