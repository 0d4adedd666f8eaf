/* A small JSON reader for the converter's inputs (config.json, safetensors headers, the shard
 * index, tokenizer.json / tokenizer_config.json): parses a whole document into a tree of nodes
 * that all live in one allocation block and are freed together. Strings are unescaped to UTF-8
 * (\uXXXX with surrogate pairs) and NUL-terminated; object member order is kept. Input is
 * untrusted: nesting depth is limited and every error names the byte offset. */
#ifndef TN_CONVERT_JSON_H
#define TN_CONVERT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TN_JSON_NULL,
    TN_JSON_BOOL,
    TN_JSON_NUMBER,
    TN_JSON_STRING,
    TN_JSON_ARRAY,
    TN_JSON_OBJECT,
} tn_json_type;

typedef struct tn_json tn_json;
struct tn_json {
    tn_json_type type;
    bool boolean;
    bool is_int;  /* number written without fraction/exponent and fits in int64 */
    int64_t i;    /* the integer value when is_int */
    double num;   /* NUMBER */
    const char *str; /* STRING (NUL-terminated; may contain NULs: see len) */
    size_t len;
    size_t n;              /* ARRAY / OBJECT: number of items */
    tn_json **items;       /* ARRAY values / OBJECT values */
    const char **keys;     /* OBJECT keys (NUL-terminated) */
};

typedef struct tn_json_doc tn_json_doc;

/* Parses text[0..len). NULL with an error (naming `what` and the offset) on failure. */
tn_json_doc *tn_json_parse(const char *text, size_t len, const char *what);
/* Reads and parses a file. */
tn_json_doc *tn_json_parse_file(const char *path);
void tn_json_free(tn_json_doc *d);
const tn_json *tn_json_root(const tn_json_doc *d);

/* Member of an object (NULL if absent or obj is not an object). */
const tn_json *tn_json_get(const tn_json *obj, const char *key);
/* Typed member lookups: return false if absent or of another type. */
bool tn_json_get_int(const tn_json *obj, const char *key, int64_t *out);
bool tn_json_get_num(const tn_json *obj, const char *key, double *out);
bool tn_json_get_bool(const tn_json *obj, const char *key, bool *out);
const char *tn_json_get_str(const tn_json *obj, const char *key); /* NULL if absent */

#endif
