/* GGUF v3 reader: maps the file, walks the header once with a bounds-checked cursor, validates
 * every field against the file size and keeps an index (kvs, string-array offsets, tensors, hash
 * tables for keys and names) so later lookups never re-parse or trust the file again.
 * Layout (GGUF spec, ggml/docs/gguf.md): magic "GGUF", u32 version, u64 tensor_count, u64
 * kv_count, kvs, tensor infos, padding to general.alignment, data section. All little-endian. */
#include "formats/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/types.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_MAX_NAME 64       /* ggml's GGML_MAX_NAME: names must fit with their NUL */
/* The smallest possible serialized kv (u64 key length + 1 key byte + u32 type + 1 value byte) and
 * tensor info (name length + 1 byte, n_dims, one ne, type, offset). Used to reject counts that
 * could not fit in the file before anything is allocated for them. */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_BYTES 33u

typedef struct gguf_kv {
    const char *key; /* arena copy, NUL-terminated */
    uint32_t type;
    uint32_t arr_type;
    uint64_t arr_len;
    const uint8_t *val; /* scalar bytes, string bytes, or first array element */
    const uint8_t *raw; /* serialized value (after the type field) */
    size_t raw_size;
    const char *str;   /* NUL-terminated copy of a string value */
    uint64_t *str_off; /* string arrays: arr_len + 1 offsets from val of each u64 length field */
} gguf_kv;

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block;

/* Open-addressing index over the names of an array of structs whose first member is the name
 * (gguf_kv.key, tn_gguf_tensor.name). */
typedef struct {
    int64_t *slot; /* array index, or -1 for empty */
    size_t cap;
    const char *base;
    size_t stride;
} name_index;

struct tn_gguf {
    char *path;
    const uint8_t *base;
    size_t size;
    void *map; /* NULL for open_memory */
    uint32_t version;
    size_t alignment;
    size_t data_offset, data_size;
    int64_t n_kv, n_tensors;
    gguf_kv *kvs;
    tn_gguf_tensor *tensors;
    name_index kv_index, t_index;
    arena_block *arena;
};

/* ---- small helpers ---- */

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Bytes of one scalar of a value type; 0 for STRING/ARRAY/unknown. */
static size_t scalar_size(uint32_t t) {
    static const uint8_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t <= TN_GGUF_F64 ? sizes[t] : 0;
}

static const char *type_name(uint32_t t) {
    static const char *const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return t <= TN_GGUF_F64 ? names[t] : "unknown";
}

static bool is_signed_type(uint32_t t) {
    return t == TN_GGUF_I8 || t == TN_GGUF_I16 || t == TN_GGUF_I32 || t == TN_GGUF_I64;
}

/* Reads an integer scalar of type t at p: *neg says whether it is negative, *mag its magnitude
 * (so every source type maps onto every target type's range check without overflow). */
static void read_int(uint32_t t, const uint8_t *p, bool *neg, uint64_t *mag) {
    uint64_t u = 0;
    for (size_t k = 0; k < scalar_size(t); k++)
        u |= (uint64_t)p[k] << (8 * k);
    *neg = false;
    *mag = u;
    if (is_signed_type(t)) {
        unsigned bits = (unsigned)scalar_size(t) * 8;
        if (bits < 64 && (u >> (bits - 1)) & 1) u |= ~(uint64_t)0 << bits; /* sign-extend */
        if (u >> 63) {
            *neg = true;
            *mag = ~u + 1; /* two's complement magnitude; INT64_MIN gives 2^63 */
        }
    }
}

static char *arena_copy(tn_gguf *g, const uint8_t *s, size_t n) {
    arena_block *b = g->arena;
    if (!b || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > 65536 ? n + 1 : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = g->arena;
        b->used = 0;
        b->cap = cap;
        g->arena = b;
    }
    char *d = b->data + b->used;
    memcpy(d, s, n);
    d[n] = 0;
    b->used += n + 1;
    return d;
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static const char *ix_name(const name_index *ix, int64_t i) {
    return *(const char *const *)(ix->base + (size_t)i * ix->stride);
}

/* The slot holding `name`, or the empty slot where it would go. */
static size_t ix_probe(const name_index *ix, const char *name) {
    size_t h = (size_t)hash_str(name) & (ix->cap - 1);
    while (ix->slot[h] >= 0 && strcmp(ix_name(ix, ix->slot[h]), name) != 0)
        h = (h + 1) & (ix->cap - 1);
    return h;
}

/* Indexes n names: 0 if all are unique, 1 with *dup = the index of a repeated one, -1 if out of
 * memory. */
static int ix_build(name_index *ix, const void *base, size_t stride, int64_t n, int64_t *dup) {
    ix->base = base;
    ix->stride = stride;
    for (ix->cap = 16; ix->cap < (size_t)n * 2;)
        ix->cap *= 2;
    if (!(ix->slot = malloc(ix->cap * sizeof *ix->slot))) return -1;
    memset(ix->slot, 0xff, ix->cap * sizeof *ix->slot);
    for (int64_t i = 0; i < n; i++) {
        size_t h = ix_probe(ix, ix_name(ix, i));
        if (ix->slot[h] >= 0) {
            *dup = i;
            return 1;
        }
        ix->slot[h] = i;
    }
    return 0;
}

static int64_t ix_find(const name_index *ix, const char *name) {
    return ix->slot && name ? ix->slot[ix_probe(ix, name)] : -1;
}

/* ---- bounds-checked cursor ---- */

typedef struct {
    tn_gguf *g;
    size_t pos;
} cursor;

static size_t left(const cursor *c) {
    return c->g->size - c->pos;
}

static int need(cursor *c, uint64_t n, const char *what) {
    if (n > left(c))
        return tn_set_error("%s: truncated: %s needs %" PRIu64 " bytes at offset %zu, but only %zu "
                            "bytes are left in the file",
                            c->g->path, what, n, c->pos, left(c));
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) {
    if (need(c, 4, what)) return -1;
    *v = le32(c->g->base + c->pos);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what) {
    if (need(c, 8, what)) return -1;
    *v = le64(c->g->base + c->pos);
    c->pos += 8;
    return 0;
}

/* A GGUF string: u64 length + bytes. */
static int rd_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what) {
    if (rd_u64(c, len, what)) return -1; /* no snprintf for "length": called per token */
    if (*len > left(c))
        return tn_set_error("%s: %s: string length %" PRIu64 " at offset %zu exceeds the %zu bytes "
                            "left in the file",
                            c->g->path, what, *len, c->pos - 8, left(c));
    *s = c->g->base + c->pos;
    c->pos += (size_t)*len;
    return 0;
}

/* ---- kvs ---- */

static int check_bools(tn_gguf *g, const uint8_t *p, uint64_t n, const char *key) {
    for (uint64_t j = 0; j < n; j++)
        if (p[j] > 1)
            return tn_set_error("%s: kv '%s': bool value %u at element %" PRIu64 " is not 0 or 1",
                                g->path, key, p[j], j);
    return 0;
}

static int parse_array(cursor *c, gguf_kv *kv) {
    tn_gguf *g = c->g;
    char w[320];
    snprintf(w, sizeof w, "kv '%s' array element type", kv->key);
    if (rd_u32(c, &kv->arr_type, w)) return -1;
    if (kv->arr_type == TN_GGUF_ARRAY)
        return tn_set_error("%s: kv '%s': arrays of arrays are not supported", g->path, kv->key);
    if (kv->arr_type > TN_GGUF_F64)
        return tn_set_error("%s: kv '%s': unknown array element type %u (expected 0..12)", g->path,
                            kv->key, kv->arr_type);
    snprintf(w, sizeof w, "kv '%s' array length", kv->key);
    if (rd_u64(c, &kv->arr_len, w)) return -1;
    uint64_t n = kv->arr_len;
    kv->val = g->base + c->pos;
    if (kv->arr_type == TN_GGUF_STRING) {
        if (n > left(c) / 8) /* each string needs at least its u64 length */
            return tn_set_error("%s: kv '%s': array length %" PRIu64 " is impossible: %zu bytes "
                                "left cannot hold that many strings (8 bytes each at least)",
                                g->path, kv->key, n, left(c));
        kv->str_off = malloc((size_t)(n + 1) * sizeof *kv->str_off);
        if (!kv->str_off) return tn_set_error("%s: out of memory for kv '%s'", g->path, kv->key);
        for (uint64_t j = 0; j < n; j++) {
            const uint8_t *s;
            uint64_t len;
            kv->str_off[j] = (uint64_t)(g->base + c->pos - kv->val);
            if (rd_str(c, &s, &len, "string")) { /* context added only on failure: 150k strings */
                char e[1024];
                snprintf(e, sizeof e, "%s", tn_last_error());
                return tn_set_error("%s (kv '%s' element %" PRIu64 ")", e, kv->key, j);
            }
        }
        kv->str_off[n] = (uint64_t)(g->base + c->pos - kv->val);
        return 0;
    }
    size_t es = scalar_size(kv->arr_type);
    if (n > left(c) / es)
        return tn_set_error("%s: kv '%s': array length %" PRIu64 " of %s needs %s bytes but only "
                            "%zu are left in the file",
                            g->path, kv->key, n, type_name(kv->arr_type),
                            n > UINT64_MAX / es ? "more than 2^64" : "more", left(c));
    c->pos += (size_t)n * es;
    if (kv->arr_type == TN_GGUF_BOOL) return check_bools(g, kv->val, n, kv->key);
    return 0;
}

static int parse_kv(cursor *c, int64_t i, gguf_kv *kv) {
    tn_gguf *g = c->g;
    char w[320];
    const uint8_t *k;
    uint64_t klen;
    snprintf(w, sizeof w, "kv %" PRId64 " key", i);
    if (rd_str(c, &k, &klen, w)) return -1;
    if (klen == 0) return tn_set_error("%s: kv %" PRId64 ": empty key", g->path, i);
    if (memchr(k, 0, (size_t)klen))
        return tn_set_error("%s: kv %" PRId64 ": key contains a NUL byte", g->path, i);
    if (!(kv->key = arena_copy(g, k, (size_t)klen)))
        return tn_set_error("%s: out of memory for kv %" PRId64 " key", g->path, i);
    snprintf(w, sizeof w, "kv '%s' value type", kv->key);
    if (rd_u32(c, &kv->type, w)) return -1;
    kv->raw = g->base + c->pos;
    if (kv->type > TN_GGUF_F64)
        return tn_set_error("%s: kv '%s': unknown value type %u (expected 0..12)", g->path, kv->key,
                            kv->type);
    snprintf(w, sizeof w, "kv '%s' value (%s)", kv->key, type_name(kv->type));
    if (kv->type == TN_GGUF_STRING) {
        uint64_t len;
        if (rd_str(c, &kv->val, &len, w)) return -1;
        if (!(kv->str = arena_copy(g, kv->val, (size_t)len)))
            return tn_set_error("%s: out of memory for kv '%s'", g->path, kv->key);
    } else if (kv->type == TN_GGUF_ARRAY) {
        if (parse_array(c, kv)) return -1;
    } else {
        if (need(c, scalar_size(kv->type), w)) return -1;
        kv->val = g->base + c->pos;
        c->pos += scalar_size(kv->type);
        if (kv->type == TN_GGUF_BOOL && check_bools(g, kv->val, 1, kv->key)) return -1;
    }
    kv->raw_size = (size_t)(g->base + c->pos - kv->raw);
    return 0;
}

/* ---- tensors ---- */

static int check_tensor_shape(tn_gguf *g, tn_gguf_tensor *t, uint32_t type);

static int parse_tensor_info(cursor *c, int64_t i, tn_gguf_tensor *t) {
    tn_gguf *g = c->g;
    char w[320];
    const uint8_t *s;
    uint64_t len;
    snprintf(w, sizeof w, "tensor %" PRId64 " name", i);
    if (rd_str(c, &s, &len, w)) return -1;
    if (len == 0) return tn_set_error("%s: tensor %" PRId64 ": empty name", g->path, i);
    if (len >= GGUF_MAX_NAME)
        return tn_set_error("%s: tensor %" PRId64 " name '%.40s...' is %" PRIu64 " bytes long, "
                            "expected at most %d",
                            g->path, i, (const char *)s, len, GGUF_MAX_NAME - 1);
    if (memchr(s, 0, (size_t)len))
        return tn_set_error("%s: tensor %" PRId64 " name contains a NUL byte", g->path, i);
    if (!(t->name = arena_copy(g, s, (size_t)len)))
        return tn_set_error("%s: out of memory for tensor names", g->path);
    uint32_t nd;
    snprintf(w, sizeof w, "tensor '%s' n_dims", t->name);
    if (rd_u32(c, &nd, w)) return -1;
    if (nd < 1 || nd > TN_GGUF_MAX_DIMS)
        return tn_set_error("%s: tensor '%s': n_dims %u is out of range, expected 1..%d", g->path,
                            t->name, nd, TN_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int d = 0; d < TN_GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        snprintf(w, sizeof w, "tensor '%s' ne[%u]", t->name, d);
        if (rd_u64(c, &ne, w)) return -1;
        if (ne > INT64_MAX)
            return tn_set_error("%s: tensor '%s': ne[%u] = %" PRIu64 " is out of range (negative "
                                "as int64), expected 0..2^63-1",
                                g->path, t->name, d, ne);
        t->ne[d] = (int64_t)ne;
    }
    snprintf(w, sizeof w, "tensor '%s' type", t->name);
    uint32_t type;
    if (rd_u32(c, &type, w)) return -1;
    snprintf(w, sizeof w, "tensor '%s' offset", t->name);
    if (rd_u64(c, &t->offset, w)) return -1;
    return check_tensor_shape(g, t, type);
}

/* Shape/type/size checks that need no file position; sets t->type and t->nbytes. */
static int check_tensor_shape(tn_gguf *g, tn_gguf_tensor *t, uint32_t type) {
    const tn_type_info *ti = type > INT32_MAX ? NULL : tn_type_get((int)type);
    if (!ti) return tn_set_error("%s: tensor '%s': unknown type %u", g->path, t->name, type);
    t->type = (int)type;
    if (t->ne[0] % ti->block_size)
        return tn_set_error("%s: tensor '%s': ne[0] = %" PRId64 " is not a multiple of the block "
                            "size %d of type %s",
                            g->path, t->name, t->ne[0], ti->block_size, ti->name);
    /* Bytes, overflow-checked. check_tensor_range later caps them at the file size, which also
     * keeps the element count far below 2^63 (no type packs 8 elements in a byte), as ggml needs.
     */
    uint64_t nb = (uint64_t)(t->ne[0] / ti->block_size);
    bool ovf = __builtin_mul_overflow(nb, (uint64_t)ti->type_size, &nb);
    for (int d = 1; d < TN_GGUF_MAX_DIMS; d++)
        ovf |= __builtin_mul_overflow(nb, (uint64_t)t->ne[d], &nb);
    if (ovf || nb > SIZE_MAX)
        return tn_set_error("%s: tensor '%s': shape [%" PRId64 ", %" PRId64 ", %" PRId64
                            ", %" PRId64 "] of type %s: byte size overflows 64 bits",
                            g->path, t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ti->name);
    t->nbytes = (size_t)nb;
    return 0;
}

static int check_tensor_range(tn_gguf *g, tn_gguf_tensor *t) {
    if (t->offset % g->alignment)
        return tn_set_error("%s: tensor '%s': offset %" PRIu64
                            " is not a multiple of alignment %zu",
                            g->path, t->name, t->offset, g->alignment);
    if (t->offset > g->data_size || t->nbytes > g->data_size - t->offset)
        return tn_set_error("%s: tensor '%s': data at offset %" PRIu64 " + %zu bytes extends past "
                            "the end of the file (the data section at %zu holds %zu bytes)",
                            g->path, t->name, t->offset, t->nbytes, g->data_offset, g->data_size);
    t->data = g->base + g->data_offset + t->offset;
    return 0;
}

/* Sorting by offset makes overlap a property of neighbours: O(n log n) instead of O(n^2). A merge
 * sort on indices, because qsort has no context argument and the tensors would have to be reached
 * through a static. */
static void sort_indices(int64_t *idx, int64_t *tmp, int64_t n, const tn_gguf_tensor *t) {
    if (n < 2) return;
    int64_t h = n / 2;
    sort_indices(idx, tmp, h, t);
    sort_indices(idx + h, tmp, n - h, t);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = t[idx[j]].offset < t[idx[i]].offset ? idx[j++] : idx[i++];
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
}

static int check_overlaps(tn_gguf *g) {
    int64_t n = g->n_tensors;
    if (n < 2) return 0;
    int64_t *idx = malloc((size_t)n * 2 * sizeof *idx);
    if (!idx) return tn_set_error("%s: out of memory checking tensor ranges", g->path);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    sort_indices(idx, idx + n, n, g->tensors);
    const tn_gguf_tensor *prev = NULL;
    int rc = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        const tn_gguf_tensor *t = &g->tensors[idx[i]];
        if (t->nbytes == 0) continue;
        if (prev && prev->offset + prev->nbytes > t->offset)
            rc =
                tn_set_error("%s: tensor '%s' (bytes %" PRIu64 "..%" PRIu64 " of the data section) "
                             "overlaps tensor '%s' (bytes %" PRIu64 "..%" PRIu64 ")",
                             g->path, t->name, t->offset, t->offset + t->nbytes, prev->name,
                             prev->offset, prev->offset + prev->nbytes);
        prev = t;
    }
    free(idx);
    return rc;
}

/* ---- top level ---- */

static int parse_alignment(tn_gguf *g) {
    g->alignment = TN_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = tn_gguf_find_key(g, "general.alignment");
    if (i < 0) return 0;
    const gguf_kv *kv = &g->kvs[i];
    if (kv->type != TN_GGUF_U32)
        return tn_set_error("%s: general.alignment has type %s, expected u32", g->path,
                            type_name(kv->type));
    uint32_t a = le32(kv->val);
    if (a == 0 || (a & (a - 1)))
        return tn_set_error("%s: general.alignment = %u is not a power of two", g->path, a);
    g->alignment = a;
    return 0;
}

static int grow(void **arr, int64_t *cap, int64_t need_n, size_t elem) {
    if (need_n <= *cap) return 0;
    int64_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

static int parse(tn_gguf *g) {
    cursor c = {g, 0};
    uint64_t n_t, n_kv;
    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0) {
        if (g->size < 4)
            return tn_set_error("%s: file is %zu bytes, too small for the GGUF magic", g->path,
                                g->size);
        return tn_set_error("%s: bad magic 0x%08x, expected 0x%08x ('GGUF'): not a GGUF file",
                            g->path, le32(g->base), GGUF_MAGIC);
    }
    c.pos = 4;
    if (rd_u32(&c, &g->version, "version")) return -1;
    if (g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version >> 16)
            return tn_set_error("%s: unsupported version 0x%08x (a big-endian GGUF file?): only "
                                "little-endian version 3 is supported",
                                g->path, g->version);
        return tn_set_error("%s: unsupported version %u, expected 3 (re-convert the file with a "
                            "current llama.cpp)",
                            g->path, g->version);
    }
    if (rd_u64(&c, &n_t, "tensor_count") || rd_u64(&c, &n_kv, "kv_count")) return -1;
    if (n_kv > left(&c) / MIN_KV_BYTES)
        return tn_set_error("%s: kv_count %" PRIu64
                            " is impossible: the %zu bytes left cannot hold "
                            "that many key/value pairs (%u bytes each at least)",
                            g->path, n_kv, left(&c), MIN_KV_BYTES);
    if (n_t > (left(&c) - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return tn_set_error("%s: tensor_count %" PRIu64 " is impossible: the %zu bytes left cannot "
                            "hold that many tensor infos (%u bytes each at least)",
                            g->path, n_t, left(&c), MIN_TENSOR_BYTES);

    /* Arrays grow as entries are actually parsed, so a lying count costs nothing. */
    int64_t cap = 0;
    for (int64_t i = 0; i < (int64_t)n_kv; i++) {
        if (grow((void **)&g->kvs, &cap, i + 1, sizeof *g->kvs))
            return tn_set_error("%s: out of memory for %" PRIu64 " kvs", g->path, n_kv);
        g->n_kv = i + 1;
        if (parse_kv(&c, i, &g->kvs[i])) return -1;
    }
    int64_t dup = 0;
    int rc = ix_build(&g->kv_index, g->kvs, sizeof *g->kvs, g->n_kv, &dup);
    if (rc < 0) return tn_set_error("%s: out of memory", g->path);
    if (rc > 0)
        return tn_set_error("%s: duplicate key '%s' (kv %" PRId64 " and kv %" PRId64 ")", g->path,
                            g->kvs[dup].key, ix_find(&g->kv_index, g->kvs[dup].key), dup);
    if (parse_alignment(g)) return -1;

    int64_t tcap = 0;
    for (int64_t i = 0; i < (int64_t)n_t; i++) {
        if (grow((void **)&g->tensors, &tcap, i + 1, sizeof *g->tensors))
            return tn_set_error("%s: out of memory for %" PRIu64 " tensors", g->path, n_t);
        g->n_tensors = i + 1;
        if (parse_tensor_info(&c, i, &g->tensors[i])) return -1;
    }
    rc = ix_build(&g->t_index, g->tensors, sizeof *g->tensors, g->n_tensors, &dup);
    if (rc < 0) return tn_set_error("%s: out of memory", g->path);
    if (rc > 0)
        return tn_set_error(
            "%s: duplicate tensor name '%s' (tensor %" PRId64 " and tensor %" PRId64 ")", g->path,
            g->tensors[dup].name, ix_find(&g->t_index, g->tensors[dup].name), dup);

    /* The data section starts at the next multiple of the alignment. A file without tensors may
     * end right after the header (llama.cpp writes vocab-only files that way). */
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    g->data_offset = c.pos + pad;
    g->data_size = g->size > g->data_offset ? g->size - g->data_offset : 0;
    if (g->n_tensors > 0 && g->data_offset > g->size)
        return tn_set_error("%s: truncated: the header ends at %zu but the data section should "
                            "start at %zu (alignment %zu), past the end of the file (%zu bytes)",
                            g->path, c.pos, g->data_offset, g->alignment, g->size);
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (check_tensor_range(g, &g->tensors[i])) return -1;
    return check_overlaps(g);
}

static tn_gguf *open_image(const void *data, size_t size, const char *name, void *map) {
    tn_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(name ? name : "<memory>"))) {
        free(g);
        if (map) munmap(map, size);
        tn_set_error("%s: out of memory", name ? name : "<memory>");
        return NULL;
    }
    g->base = data;
    g->size = size;
    g->map = map;
    if (!data && size) {
        tn_set_error("%s: NULL data", g->path);
        tn_gguf_close(g);
        return NULL;
    }
    if (parse(g)) {
        tn_gguf_close(g);
        return NULL;
    }
    return g;
}

tn_gguf *tn_gguf_open_memory(const void *data, size_t size, const char *name) {
    return open_image(data, size, name, NULL);
}

tn_gguf *tn_gguf_open(const char *path) {
    if (!path) {
        tn_set_error("tn_gguf_open: NULL path");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tn_set_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        tn_set_error("%s: not a regular file (or cannot stat it)", path);
    else if (st.st_size < 4)
        tn_set_error("%s: file is %lld bytes, too small for the GGUF magic", path,
                     (long long)st.st_size);
    else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        tn_set_error("%s: mmap of %lld bytes failed: %s", path, (long long)st.st_size,
                     strerror(errno));
    close(fd); /* the mapping keeps the file alive */
    return map == MAP_FAILED ? NULL : open_image(map, (size_t)st.st_size, path, map);
}

void tn_gguf_close(tn_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++)
        free(g->kvs[i].str_off);
    free(g->kvs);
    free(g->tensors);
    free(g->kv_index.slot);
    free(g->t_index.slot);
    while (g->arena) {
        arena_block *n = g->arena->next;
        free(g->arena);
        g->arena = n;
    }
    if (g->map) munmap(g->map, g->size);
    free(g->path);
    free(g);
}

/* ---- accessors ---- */

const char *tn_gguf_path(const tn_gguf *g) {
    return g->path;
}
uint32_t tn_gguf_version(const tn_gguf *g) {
    return g->version;
}
size_t tn_gguf_alignment(const tn_gguf *g) {
    return g->alignment;
}
size_t tn_gguf_file_size(const tn_gguf *g) {
    return g->size;
}
int64_t tn_gguf_n_kv(const tn_gguf *g) {
    return g->n_kv;
}

int64_t tn_gguf_find_key(const tn_gguf *g, const char *key) {
    return ix_find(&g->kv_index, key);
}

static const gguf_kv *kv_at(const tn_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kvs[i] : NULL;
}

const char *tn_gguf_kv_key(const tn_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->key : NULL;
}

tn_gguf_type tn_gguf_kv_type(const tn_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? (tn_gguf_type)kv->type : (tn_gguf_type)-1;
}

tn_gguf_type tn_gguf_arr_type(const tn_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == TN_GGUF_ARRAY ? (tn_gguf_type)kv->arr_type : (tn_gguf_type)-1;
}

uint64_t tn_gguf_arr_len(const tn_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == TN_GGUF_ARRAY ? kv->arr_len : 0;
}

const void *tn_gguf_arr_data(const tn_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == TN_GGUF_ARRAY && kv->arr_type != TN_GGUF_STRING ? kv->val : NULL;
}

const char *tn_gguf_arr_str(const tn_gguf *g, int64_t i, uint64_t j, uint64_t *len) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != TN_GGUF_ARRAY || kv->arr_type != TN_GGUF_STRING || j >= kv->arr_len)
        return NULL;
    if (len) *len = kv->str_off[j + 1] - kv->str_off[j] - 8;
    return (const char *)kv->val + kv->str_off[j] + 8;
}

const void *tn_gguf_kv_raw(const tn_gguf *g, int64_t i, size_t *size) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv) return NULL;
    if (size) *size = kv->raw_size;
    return kv->raw;
}

#define INT_TYPES (0x3fu | 1u << TN_GGUF_U64 | 1u << TN_GGUF_I64)

/* The kv of `key` if its type is in the `ok` bitmask; else NULL with *rc = 1 if absent (no
 * error) or -1 (error set) if present with another type. */
static const gguf_kv *lookup(const tn_gguf *g, const char *key, unsigned ok, const char *want,
                             int *rc) {
    int64_t i = tn_gguf_find_key(g, key);
    *rc = i < 0 ? 1 : 0;
    if (i < 0) return NULL;
    if (ok >> g->kvs[i].type & 1) return &g->kvs[i];
    *rc = tn_set_error("%s: kv '%s' has type %s, expected %s", g->path, key,
                       type_name(g->kvs[i].type), want);
    return NULL;
}

/* Integer value of key as sign + magnitude, checked against the target's range. */
static int get_int(const tn_gguf *g, const char *key, uint64_t neg_max, uint64_t pos_max,
                   const char *what, bool *neg, uint64_t *mag) {
    int rc;
    const gguf_kv *kv = lookup(g, key, INT_TYPES, "an integer", &rc);
    if (!kv) return rc;
    read_int(kv->type, kv->val, neg, mag);
    if (*neg ? *mag > neg_max : *mag > pos_max)
        return tn_set_error("%s: kv '%s' = %s%" PRIu64 " does not fit in %s", g->path, key,
                            *neg ? "-" : "", *mag, what);
    return 0;
}

int tn_gguf_get_u32(const tn_gguf *g, const char *key, uint32_t *out) {
    bool neg;
    uint64_t m;
    int rc = get_int(g, key, 0, UINT32_MAX, "u32", &neg, &m);
    if (rc == 0) *out = (uint32_t)m;
    return rc;
}

int tn_gguf_get_i32(const tn_gguf *g, const char *key, int32_t *out) {
    bool neg;
    uint64_t m;
    int rc = get_int(g, key, (uint64_t)INT32_MAX + 1, INT32_MAX, "i32", &neg, &m);
    if (rc == 0) *out = neg ? (int32_t)(-(int64_t)m) : (int32_t)m;
    return rc;
}

int tn_gguf_get_u64(const tn_gguf *g, const char *key, uint64_t *out) {
    bool neg;
    uint64_t m;
    int rc = get_int(g, key, 0, UINT64_MAX, "u64", &neg, &m);
    if (rc == 0) *out = m;
    return rc;
}

int tn_gguf_get_f32(const tn_gguf *g, const char *key, float *out) {
    int rc;
    const gguf_kv *kv = lookup(g, key, 1u << TN_GGUF_F32 | 1u << TN_GGUF_F64, "f32 or f64", &rc);
    if (!kv) return rc;
    uint32_t u32 = le32(kv->val);
    uint64_t u64 = kv->type == TN_GGUF_F64 ? le64(kv->val) : 0;
    double d;
    memcpy(&d, &u64, 8);
    if (kv->type == TN_GGUF_F32)
        memcpy(out, &u32, 4);
    else
        *out = (float)d;
    return 0;
}

int tn_gguf_get_bool(const tn_gguf *g, const char *key, bool *out) {
    int rc;
    const gguf_kv *kv = lookup(g, key, 1u << TN_GGUF_BOOL, "bool", &rc);
    if (kv) *out = kv->val[0] != 0;
    return rc;
}

int tn_gguf_get_str(const tn_gguf *g, const char *key, const char **out) {
    int rc;
    const gguf_kv *kv = lookup(g, key, 1u << TN_GGUF_STRING, "string", &rc);
    if (kv) *out = kv->str;
    return rc;
}

int tn_gguf_get_arr_i32(const tn_gguf *g, const char *key, int32_t **out, uint64_t *n) {
    int rc;
    const gguf_kv *kv = lookup(g, key, 1u << TN_GGUF_ARRAY, "array", &rc);
    if (!kv) return rc;
    if (!(INT_TYPES >> kv->arr_type & 1))
        return tn_set_error("%s: kv '%s' is an array of %s, expected an array of integers", g->path,
                            key, type_name(kv->arr_type));
    int32_t *v = malloc(kv->arr_len ? (size_t)kv->arr_len * sizeof *v : 1);
    if (!v) return tn_set_error("%s: out of memory reading kv '%s'", g->path, key);
    size_t es = scalar_size(kv->arr_type);
    for (uint64_t j = 0; j < kv->arr_len; j++) {
        bool neg;
        uint64_t m;
        read_int(kv->arr_type, kv->val + j * es, &neg, &m);
        if (neg ? m > (uint64_t)INT32_MAX + 1 : m > INT32_MAX) {
            free(v);
            return tn_set_error("%s: kv '%s': element %" PRIu64 " = %s%" PRIu64
                                " does not fit in i32",
                                g->path, key, j, neg ? "-" : "", m);
        }
        v[j] = neg ? (int32_t)(-(int64_t)m) : (int32_t)m;
    }
    *out = v;
    *n = kv->arr_len;
    return 0;
}

/* ---- tensors ---- */

int64_t tn_gguf_n_tensors(const tn_gguf *g) {
    return g->n_tensors;
}

const tn_gguf_tensor *tn_gguf_tensor_at(const tn_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const tn_gguf_tensor *tn_gguf_find_tensor(const tn_gguf *g, const char *name) {
    int64_t i = ix_find(&g->t_index, name);
    return i >= 0 ? &g->tensors[i] : NULL;
}
