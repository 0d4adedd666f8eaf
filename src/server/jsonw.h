/* Growable byte buffer with a JSON string writer, and a strict UTF-8 check: what the server
 * needs to build responses. Out of memory is sticky (oom set, later appends ignored) so builders
 * can append freely and check once at the end. */
#ifndef TN_SERVER_JSONW_H
#define TN_SERVER_JSONW_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tn_buf {
    char *p; /* NUL-terminated when non-NULL */
    size_t len, cap;
    bool oom;
} tn_buf;

void tn_buf_put(tn_buf *b, const char *s, size_t n);
void tn_buf_puts(tn_buf *b, const char *s);
void tn_buf_printf(tn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a quoted JSON string. Bytes that are not well-formed UTF-8 (generated text
 * can contain partial characters from byte tokens) become U+FFFD, so the output is always valid
 * JSON. */
void tn_buf_json_str(tn_buf *b, const char *s, size_t n);
void tn_buf_free(tn_buf *b);

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no surrogates,
 * at most U+10FFFF), or 0 if the bytes there are not one. */
size_t tn_utf8_seq_len(const unsigned char *s, size_t n);
bool tn_utf8_valid(const char *s, size_t n);

#endif
