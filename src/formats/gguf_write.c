/* GGUF v3 writer: collects kvs (kept serialized, in insertion order) and borrowed tensor data,
 * then writes header, padding and data to PATH.tmp and renames it into place, so readers never see
 * a half-written file. Layout as in gguf.c; each tensor's data is padded to the alignment, the
 * same way llama.cpp lays files out, so copying a llama.cpp file kv by kv and tensor by tensor
 * reproduces it byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/types.h"

#define MAX_NAME 64 /* ggml's GGML_MAX_NAME, including the NUL */

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *val; /* serialized value: what follows the type field in the file */
    size_t size;
} wkv;

typedef struct {
    char *name;
    int type, n_dims;
    int64_t ne[TN_GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
    tn_gguf_fill_fn fill; /* when set, produces the data at write time (data is NULL) */
    void *fill_user;
} wtensor;

struct tn_gguf_writer {
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *ts;
    size_t n_t, cap_t;
};

static size_t elem_size(tn_gguf_type t) {
    static const uint8_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return (unsigned)t <= TN_GGUF_F64 ? sizes[t] : 0;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

tn_gguf_writer *tn_gguf_writer_new(void) {
    tn_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) tn_set_error("gguf writer: out of memory");
    return w;
}

void tn_gguf_writer_free(tn_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->ts[i].name);
    free(w->kvs);
    free(w->ts);
    free(w);
}

/* Stores key = (type, serialized value); takes ownership of val. A key that is already set gets
 * the new value in its old position, as gguf_set_* does in ggml. */
static int set_kv(tn_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t size) {
    if (!w || !key || !*key) {
        free(val);
        return tn_set_error("gguf writer: empty or NULL key");
    }
    if (!val) return tn_set_error("gguf writer: out of memory for kv '%s'", key);
    if (strcmp(key, "general.alignment") == 0) {
        uint32_t a = size == 4 ? (uint32_t)val[0] | (uint32_t)val[1] << 8 | (uint32_t)val[2] << 16 |
                                     (uint32_t)val[3] << 24
                               : 0;
        if (type != TN_GGUF_U32 || a == 0 || (a & (a - 1))) {
            free(val);
            return tn_set_error("gguf writer: general.alignment must be a u32 power of two");
        }
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, key) == 0) {
            free(w->kvs[i].val);
            w->kvs[i].type = type;
            w->kvs[i].val = val;
            w->kvs[i].size = size;
            return 0;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *p = realloc(w->kvs, cap * sizeof *p);
        if (!p) {
            free(val);
            return tn_set_error("gguf writer: out of memory for kv '%s'", key);
        }
        w->kvs = p;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(val);
        return tn_set_error("gguf writer: out of memory for kv '%s'", key);
    }
    w->kvs[w->n_kv++] = (wkv){k, type, val, size};
    return 0;
}

static int set_scalar(tn_gguf_writer *w, const char *key, tn_gguf_type t, uint64_t bits) {
    size_t n = elem_size(t);
    uint8_t *v = malloc(n);
    if (v) put_le(v, bits, (int)n);
    return set_kv(w, key, t, v, n);
}

int tn_gguf_writer_set_u32(tn_gguf_writer *w, const char *key, uint32_t v) {
    return set_scalar(w, key, TN_GGUF_U32, v);
}

int tn_gguf_writer_set_i32(tn_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, TN_GGUF_I32, (uint32_t)v);
}

int tn_gguf_writer_set_u64(tn_gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, TN_GGUF_U64, v);
}

int tn_gguf_writer_set_f32(tn_gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, TN_GGUF_F32, bits);
}

int tn_gguf_writer_set_bool(tn_gguf_writer *w, const char *key, bool v) {
    return set_scalar(w, key, TN_GGUF_BOOL, v ? 1 : 0);
}

int tn_gguf_writer_set_str(tn_gguf_writer *w, const char *key, const char *v) {
    if (!v) return tn_set_error("gguf writer: NULL string for kv '%s'", key ? key : "(null)");
    size_t n = strlen(v);
    uint8_t *val = malloc(8 + n);
    if (val) {
        put_le(val, n, 8);
        memcpy(val + 8, v, n);
    }
    return set_kv(w, key, TN_GGUF_STRING, val, 8 + n);
}

int tn_gguf_writer_set_arr(tn_gguf_writer *w, const char *key, tn_gguf_type type, const void *data,
                           uint64_t n) {
    size_t es = elem_size(type);
    if (es == 0)
        return tn_set_error("gguf writer: kv '%s': set_arr takes a numeric element type, not %d",
                            key ? key : "(null)", (int)type);
    if (n > (SIZE_MAX - 12) / es || (n && !data))
        return tn_set_error("gguf writer: kv '%s': bad array (%" PRIu64 " elements)",
                            key ? key : "(null)", n);
    uint8_t *val = malloc(12 + n * es);
    if (val) {
        put_le(val, (uint32_t)type, 4);
        put_le(val + 4, n, 8);
        if (n) memcpy(val + 12, data, n * es);
    }
    return set_kv(w, key, TN_GGUF_ARRAY, val, 12 + n * es);
}

int tn_gguf_writer_set_arr_str(tn_gguf_writer *w, const char *key, const char *const *strs,
                               const uint64_t *lens, uint64_t n) {
    if (n && !strs) return tn_set_error("gguf writer: kv '%s': NULL strings", key ? key : "(null)");
    size_t size = 12;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t len = lens ? lens[j] : (strs[j] ? strlen(strs[j]) : 0);
        if ((!strs[j] && len) || len > SIZE_MAX - 8 - size)
            return tn_set_error("gguf writer: kv '%s': bad string %" PRIu64, key ? key : "(null)",
                                j);
        size += 8 + (size_t)len;
    }
    uint8_t *val = malloc(size);
    if (val) {
        put_le(val, TN_GGUF_STRING, 4);
        put_le(val + 4, n, 8);
        size_t p = 12;
        for (uint64_t j = 0; j < n; j++) {
            size_t len = (size_t)(lens ? lens[j] : (strs[j] ? strlen(strs[j]) : 0));
            put_le(val + p, len, 8);
            if (len) memcpy(val + p + 8, strs[j], len);
            p += 8 + len;
        }
    }
    return set_kv(w, key, TN_GGUF_ARRAY, val, size);
}

int tn_gguf_writer_copy_kv(tn_gguf_writer *w, const tn_gguf *src) {
    if (!w || !src) return tn_set_error("gguf writer: copy_kv with NULL argument");
    for (int64_t i = 0; i < tn_gguf_n_kv(src); i++) {
        size_t size;
        const void *raw = tn_gguf_kv_raw(src, i, &size);
        uint8_t *val = malloc(size ? size : 1);
        if (val) memcpy(val, raw, size);
        /* The source was validated on open, so its general.alignment (if any) is a u32 power of
         * two and set_kv accepts it: the copy keeps the source's alignment. */
        if (set_kv(w, tn_gguf_kv_key(src, i), (uint32_t)tn_gguf_kv_type(src, i), val, size))
            return -1;
    }
    return 0;
}

static int add_tensor(tn_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                      const void *data, size_t nbytes, tn_gguf_fill_fn fill, void *fill_user) {
    if (!w || !name) return tn_set_error("gguf writer: add_tensor with NULL argument");
    size_t len = strlen(name);
    if (len == 0 || len >= MAX_NAME)
        return tn_set_error("gguf writer: tensor name '%s' is %zu bytes long, expected 1..%d", name,
                            len, MAX_NAME - 1);
    const tn_type_info *ti = tn_type_get(type);
    if (!ti) return tn_set_error("gguf writer: tensor '%s': unknown type %d", name, type);
    if (n_dims < 1 || n_dims > TN_GGUF_MAX_DIMS || !ne)
        return tn_set_error("gguf writer: tensor '%s': n_dims %d, expected 1..%d", name, n_dims,
                            TN_GGUF_MAX_DIMS);
    wtensor t = {
        .type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}, .data = data, .nbytes = nbytes};
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0) return tn_set_error("gguf writer: tensor '%s': ne[%d] < 0", name, d);
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % ti->block_size)
        return tn_set_error("gguf writer: tensor '%s': ne[0] = %" PRId64
                            " is not a multiple of the block size %d of %s",
                            name, t.ne[0], ti->block_size, ti->name);
    uint64_t expect = (uint64_t)(t.ne[0] / ti->block_size);
    bool ovf = __builtin_mul_overflow(expect, (uint64_t)ti->type_size, &expect);
    for (int d = 1; d < TN_GGUF_MAX_DIMS; d++)
        ovf |= __builtin_mul_overflow(expect, (uint64_t)t.ne[d], &expect);
    if (ovf || expect != nbytes)
        return tn_set_error("gguf writer: tensor '%s': %zu bytes given, but shape [%" PRId64
                            ", %" PRId64 ", %" PRId64 ", %" PRId64 "] of %s needs %" PRIu64 "%s",
                            name, nbytes, t.ne[0], t.ne[1], t.ne[2], t.ne[3], ti->name, expect,
                            ovf ? " (overflow)" : "");
    if (nbytes && !data && !fill) return tn_set_error("gguf writer: tensor '%s': NULL data", name);
    t.fill = fill;
    t.fill_user = fill_user;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->ts[i].name, name) == 0)
            return tn_set_error("gguf writer: duplicate tensor name '%s'", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *p = realloc(w->ts, cap * sizeof *p);
        if (!p) return tn_set_error("gguf writer: out of memory for tensor '%s'", name);
        w->ts = p;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name)))
        return tn_set_error("gguf writer: out of memory for tensor '%s'", name);
    w->ts[w->n_t++] = t;
    return 0;
}

int tn_gguf_writer_add_tensor(tn_gguf_writer *w, const char *name, int type, int n_dims,
                              const int64_t *ne, const void *data, size_t nbytes) {
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, NULL, NULL);
}

int tn_gguf_writer_add_tensor_fill(tn_gguf_writer *w, const char *name, int type, int n_dims,
                                   const int64_t *ne, size_t nbytes, tn_gguf_fill_fn fill,
                                   void *user) {
    if (!fill) return tn_set_error("gguf writer: tensor '%s': NULL fill function", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, NULL, nbytes, fill, user);
}

/* ---- output ---- */

typedef struct {
    int fd;
    const char *path;
    uint64_t done, total;
    tn_progress_fn progress;
    void *user;
    size_t n;
    uint8_t buf[1 << 16];
} out_file;

static int write_all(out_file *o, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t k = write(o->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return tn_set_error("%s: write failed: %s", o->path, strerror(errno));
        p += k;
        n -= (size_t)k;
        o->done += (uint64_t)k;
    }
    if (o->progress) o->progress(o->user, o->done, o->total);
    return 0;
}

static int flush(out_file *o) {
    size_t n = o->n;
    o->n = 0;
    return n ? write_all(o, o->buf, n) : 0;
}

/* Small pieces go through the buffer; large ones (tensor data) are written directly in chunks so
 * the progress callback keeps ticking. */
static int out(out_file *o, const void *data, size_t n) {
    const uint8_t *p = data;
    if (n > sizeof o->buf - o->n) {
        if (flush(o)) return -1;
        while (n >= sizeof o->buf) {
            size_t k = n < ((size_t)1 << 24) ? n : ((size_t)1 << 24);
            if (write_all(o, p, k)) return -1;
            p += k;
            n -= k;
        }
    }
    memcpy(o->buf + o->n, p, n);
    o->n += n;
    return 0;
}

static int out_le(out_file *o, uint64_t v, int n) {
    uint8_t b[8];
    put_le(b, v, n);
    return out(o, b, (size_t)n);
}

static int out_str(out_file *o, const char *s) {
    size_t n = strlen(s);
    return out_le(o, n, 8) || out(o, s, n);
}

static int out_zeros(out_file *o, size_t n) {
    static const uint8_t zeros[256];
    for (size_t k; n; n -= k)
        if (out(o, zeros, k = n < sizeof zeros ? n : sizeof zeros)) return -1;
    return 0;
}

static size_t pad_to(size_t x, size_t a) {
    return (a - x % a) % a;
}

static int write_body(const tn_gguf_writer *w, out_file *o, size_t align, size_t header) {
    if (out(o, "GGUF", 4) || out_le(o, 3, 4) || out_le(o, w->n_t, 8) || out_le(o, w->n_kv, 8))
        return -1;
    for (size_t i = 0; i < w->n_kv; i++)
        if (out_str(o, w->kvs[i].key) || out_le(o, w->kvs[i].type, 4) ||
            out(o, w->kvs[i].val, w->kvs[i].size))
            return -1;
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->ts[i];
        if (out_str(o, t->name) || out_le(o, (uint64_t)t->n_dims, 4)) return -1;
        for (int d = 0; d < t->n_dims; d++)
            if (out_le(o, (uint64_t)t->ne[d], 8)) return -1;
        if (out_le(o, (uint64_t)t->type, 4) || out_le(o, off, 8)) return -1;
        off += t->nbytes + pad_to(t->nbytes, align);
    }
    if (w->n_t && out_zeros(o, pad_to(header, align))) return -1;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->ts[i];
        if (t->fill) { /* one tensor's data in memory at a time */
            void *buf = malloc(t->nbytes ? t->nbytes : 1);
            if (!buf) return tn_set_error("%s: out of memory for tensor '%s'", o->path, t->name);
            int rc = t->fill(t->fill_user, i, buf, t->nbytes) ? -1 : out(o, buf, t->nbytes);
            free(buf);
            if (rc) return -1;
        } else if (out(o, t->data, t->nbytes)) {
            return -1;
        }
        if (out_zeros(o, pad_to(t->nbytes, align))) return -1;
    }
    return flush(o);
}

int tn_gguf_writer_write(tn_gguf_writer *w, const char *path, tn_progress_fn progress, void *user) {
    if (!w || !path) return tn_set_error("gguf writer: write with NULL argument");
    size_t align = TN_GGUF_DEFAULT_ALIGNMENT;
    size_t header = 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, "general.alignment") == 0) /* checked by set_kv */
            align = (size_t)w->kvs[i].val[0] | (size_t)w->kvs[i].val[1] << 8 |
                    (size_t)w->kvs[i].val[2] << 16 | (size_t)w->kvs[i].val[3] << 24;
        header += 8 + strlen(w->kvs[i].key) + 4 + w->kvs[i].size;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        header += 8 + strlen(w->ts[i].name) + 4 + 8 * (size_t)w->ts[i].n_dims + 4 + 8;
        total += w->ts[i].nbytes + pad_to(w->ts[i].nbytes, align);
    }
    total += header + (w->n_t ? pad_to(header, align) : 0);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    out_file *o = calloc(1, sizeof *o);
    if (!tmp || !o) {
        free(tmp);
        free(o);
        return tn_set_error("%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    *o = (out_file){.fd = -1, .path = tmp, .total = total, .progress = progress, .user = user};
    int rc = -1;
    o->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        tn_set_error("%s: cannot create: %s", tmp, strerror(errno));
    } else if (write_body(w, o, align, header) == 0) {
        if (o->done != total)
            tn_set_error("%s: wrote %" PRIu64 " bytes, expected %" PRIu64, tmp, o->done, total);
        else if (fsync(o->fd) != 0)
            tn_set_error("%s: fsync failed: %s", tmp, strerror(errno));
        else
            rc = 0;
    }
    if (o->fd >= 0 && close(o->fd) != 0 && rc == 0)
        rc = tn_set_error("%s: close failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = tn_set_error("%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (rc != 0 && o->fd >= 0) unlink(tmp);
    free(tmp);
    free(o);
    return rc;
}
