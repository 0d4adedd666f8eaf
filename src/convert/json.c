/* JSON parser (see json.h): recursive descent over RFC 8259 with a depth limit; nodes, strings
 * and item arrays come from an arena owned by the document. */
#include "convert/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define MAX_DEPTH 256

typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    max_align_t data[];
} arena_blk;

struct tn_json_doc {
    arena_blk *arena;
    tn_json *root;
};

typedef struct parser {
    const char *s, *end, *start;
    const char *what;
    tn_json_doc *doc;
    int depth;
    bool failed;
} parser;

static void *alloc(parser *p, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_blk *b = p->doc->arena;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        arena_blk *nb = malloc(sizeof *nb + cap);
        if (!nb) {
            if (!p->failed) tn_set_error("%s: out of memory parsing JSON", p->what);
            p->failed = true;
            return NULL;
        }
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        p->doc->arena = b = nb;
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    return r;
}

static tn_json *fail(parser *p, const char *msg) {
    if (!p->failed)
        tn_set_error("%s: invalid JSON at byte %zu: %s", p->what, (size_t)(p->s - p->start), msg);
    p->failed = true;
    return NULL;
}

static void skip_ws(parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int hex4(const char *s) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string at p->s (on the opening quote). The unescaped form is never longer. */
static const char *parse_string(parser *p, size_t *len) {
    const char *q = ++p->s;
    while (q < p->end && *q != '"') q += (*q == '\\' && q + 1 < p->end) ? 2 : 1;
    if (q >= p->end) return (const char *)fail(p, "unterminated string");
    char *out = alloc(p, (size_t)(q - p->s) + 1);
    if (!out) return NULL;
    size_t n = 0;
    while (p->s < q) {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) return (const char *)fail(p, "control character in string");
        if (c != '\\') {
            out[n++] = (char)c;
            p->s++;
            continue;
        }
        if (p->s + 1 >= q) return (const char *)fail(p, "bad escape");
        char e = p->s[1];
        p->s += 2;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            if (q - p->s < 4) return (const char *)fail(p, "short \\u escape");
            int cp = hex4(p->s);
            if (cp < 0) return (const char *)fail(p, "bad \\u escape");
            p->s += 4;
            uint32_t u = (uint32_t)cp;
            if (u >= 0xd800 && u < 0xdc00 && q - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
                int lo = hex4(p->s + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    u = 0x10000 + ((u - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                    p->s += 6;
                }
            }
            if (u >= 0xd800 && u < 0xe000) u = 0xfffd; /* lone surrogate */
            n += put_utf8(out + n, u);
            break;
        }
        default: return (const char *)fail(p, "bad escape");
        }
    }
    p->s = q + 1;
    out[n] = 0;
    *len = n;
    return out;
}

static tn_json *parse_value(parser *p);

static tn_json *new_node(parser *p, tn_json_type t) {
    tn_json *v = alloc(p, sizeof *v);
    if (v) {
        memset(v, 0, sizeof *v);
        v->type = t;
    }
    return v;
}

/* Arrays and objects collect items in a growing temporary list, then copy it to the arena. */
static tn_json *parse_container(parser *p, bool is_obj) {
    if (++p->depth > MAX_DEPTH) return fail(p, "nested too deeply");
    p->s++;
    tn_json *v = new_node(p, is_obj ? TN_JSON_OBJECT : TN_JSON_ARRAY);
    size_t cap = 8, n = 0;
    tn_json **items = malloc(cap * sizeof *items);
    const char **keys = is_obj ? malloc(cap * sizeof *keys) : NULL;
    if (!v || !items || (is_obj && !keys)) goto oom;
    skip_ws(p);
    if (p->s < p->end && *p->s == (is_obj ? '}' : ']')) {
        p->s++;
    } else {
        for (;;) {
            if (n == cap) {
                cap *= 2;
                tn_json **ni = realloc(items, cap * sizeof *ni);
                if (!ni) goto oom;
                items = ni;
                if (is_obj) {
                    const char **nk = realloc(keys, cap * sizeof *nk);
                    if (!nk) goto oom;
                    keys = nk;
                }
            }
            skip_ws(p);
            if (is_obj) {
                size_t kl;
                if (p->s >= p->end || *p->s != '"') {
                    fail(p, "expected a member name");
                    goto err;
                }
                if (!(keys[n] = parse_string(p, &kl))) goto err;
                skip_ws(p);
                if (p->s >= p->end || *p->s != ':') {
                    fail(p, "expected ':'");
                    goto err;
                }
                p->s++;
            }
            if (!(items[n] = parse_value(p))) goto err;
            n++;
            skip_ws(p);
            if (p->s < p->end && *p->s == ',') {
                p->s++;
                continue;
            }
            if (p->s < p->end && *p->s == (is_obj ? '}' : ']')) {
                p->s++;
                break;
            }
            fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
            goto err;
        }
    }
    v->n = n;
    v->items = alloc(p, (n ? n : 1) * sizeof *items);
    if (is_obj) v->keys = alloc(p, (n ? n : 1) * sizeof *keys);
    if (!v->items || (is_obj && !v->keys)) goto err;
    memcpy(v->items, items, n * sizeof *items);
    if (is_obj) memcpy(v->keys, keys, n * sizeof *keys);
    free(items);
    free(keys);
    p->depth--;
    return v;
oom:
    if (!p->failed) tn_set_error("%s: out of memory parsing JSON", p->what);
    p->failed = true;
err:
    free(items);
    free(keys);
    return NULL;
}

static tn_json *parse_number(parser *p) {
    const char *b = p->s;
    bool is_int = true;
    if (p->s < p->end && *p->s == '-') p->s++;
    if (p->s >= p->end || *p->s < '0' || *p->s > '9') return fail(p, "unexpected character");
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    if (p->s < p->end && *p->s == '.') {
        is_int = false;
        p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return fail(p, "bad number");
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        is_int = false;
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-')) p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return fail(p, "bad number");
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    char buf[64];
    size_t n = (size_t)(p->s - b);
    if (n >= sizeof buf) {
        /* very long literal: still a number, just parse it from a heap copy */
        char *h = malloc(n + 1);
        if (!h) return fail(p, "out of memory");
        memcpy(h, b, n);
        h[n] = 0;
        tn_json *v = new_node(p, TN_JSON_NUMBER);
        if (v) v->num = strtod(h, NULL);
        free(h);
        return v;
    }
    memcpy(buf, b, n);
    buf[n] = 0;
    tn_json *v = new_node(p, TN_JSON_NUMBER);
    if (!v) return NULL;
    v->num = strtod(buf, NULL);
    if (is_int) {
        errno = 0;
        long long x = strtoll(buf, NULL, 10);
        if (!errno) {
            v->is_int = true;
            v->i = x;
        }
    }
    return v;
}

static bool match(parser *p, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, lit, n) != 0) return false;
    p->s += n;
    return true;
}

static tn_json *parse_value(parser *p) {
    skip_ws(p);
    if (p->s >= p->end) return fail(p, "unexpected end of input");
    char c = *p->s;
    if (c == '{' || c == '[') return parse_container(p, c == '{');
    if (c == '"') {
        tn_json *v = new_node(p, TN_JSON_STRING);
        if (v && !(v->str = parse_string(p, &v->len))) return NULL;
        return v;
    }
    if (match(p, "true") || match(p, "false")) {
        tn_json *v = new_node(p, TN_JSON_BOOL);
        if (v) v->boolean = p->s[-1] == 'e' && p->s[-2] == 'u';
        return v;
    }
    if (match(p, "null")) return new_node(p, TN_JSON_NULL);
    return parse_number(p);
}

tn_json_doc *tn_json_parse(const char *text, size_t len, const char *what) {
    tn_json_doc *d = calloc(1, sizeof *d);
    if (!d) {
        tn_set_error("out of memory");
        return NULL;
    }
    parser p = {.s = text, .end = text + len, .start = text, .what = what, .doc = d};
    /* a UTF-8 byte order mark is allowed in front */
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) p.s += 3;
    d->root = parse_value(&p);
    if (d->root) {
        skip_ws(&p);
        if (p.s != p.end) d->root = fail(&p, "trailing characters after the document");
    }
    if (!d->root) {
        tn_json_free(d);
        return NULL;
    }
    return d;
}

tn_json_doc *tn_json_parse_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        tn_set_error("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                tn_set_error("out of memory reading '%s'", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        tn_set_error("cannot read '%s'", path);
        return NULL;
    }
    tn_json_doc *d = tn_json_parse(buf, n, path);
    free(buf);
    return d;
}

void tn_json_free(tn_json_doc *d) {
    if (!d) return;
    for (arena_blk *b = d->arena, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    free(d);
}

const tn_json *tn_json_root(const tn_json_doc *d) { return d->root; }

const tn_json *tn_json_get(const tn_json *o, const char *key) {
    if (!o || o->type != TN_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return o->items[i];
    return NULL;
}

bool tn_json_get_int(const tn_json *o, const char *key, int64_t *out) {
    const tn_json *v = tn_json_get(o, key);
    if (!v || v->type != TN_JSON_NUMBER) return false;
    if (v->is_int) *out = v->i;
    else if (v->num == floor(v->num) && fabs(v->num) < 9e15) *out = (int64_t)v->num;
    else return false;
    return true;
}

bool tn_json_get_num(const tn_json *o, const char *key, double *out) {
    const tn_json *v = tn_json_get(o, key);
    if (!v || v->type != TN_JSON_NUMBER) return false;
    *out = v->num;
    return true;
}

bool tn_json_get_bool(const tn_json *o, const char *key, bool *out) {
    const tn_json *v = tn_json_get(o, key);
    if (!v || v->type != TN_JSON_BOOL) return false;
    *out = v->boolean;
    return true;
}

const char *tn_json_get_str(const tn_json *o, const char *key) {
    const tn_json *v = tn_json_get(o, key);
    return v && v->type == TN_JSON_STRING ? v->str : NULL;
}
