/* safetensors reader (see safetensors.h). A checkpoint is one file or shards named by an index;
 * every file is mapped read-only and its header validated entry by entry before any tensor is
 * handed out, so a truncated download or a hand-edited header fails with the file and tensor
 * named instead of reading past the mapping. */
#include "convert/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert/json.h"
#include "core/error.h"

/* The format caps the header at 100 MB; anything larger is a corrupt length field. */
#define MAX_HEADER ((uint64_t)100 << 20)

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
    tn_json_doc *header; /* tensor names point into it */
} st_file;

struct tn_st {
    st_file *files;
    int n_files;
    tn_st_tensor *tensors;
    int64_t n_tensors, cap_tensors;
};

static const struct {
    const char *name;
    tn_st_dtype dtype;
    size_t size;
} dtypes[] = {
    {"F32", TN_ST_F32, 4},   {"F16", TN_ST_F16, 2},         {"BF16", TN_ST_BF16, 2},
    {"F64", TN_ST_F64, 8},   {"I64", TN_ST_I64, 8},         {"I32", TN_ST_I32, 4},
    {"I16", TN_ST_I16, 2},   {"I8", TN_ST_I8, 1},           {"U8", TN_ST_U8, 1},
    {"BOOL", TN_ST_BOOL, 1}, {"F8_E4M3", TN_ST_F8_E4M3, 1}, {"F8_E5M2", TN_ST_F8_E5M2, 1},
};

const char *tn_st_dtype_name(tn_st_dtype t) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == t) return dtypes[i].name;
    return "?";
}

size_t tn_st_dtype_size(tn_st_dtype t) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == t) return dtypes[i].size;
    return 0;
}

static int push_tensor(tn_st *st, const tn_st_tensor *t) {
    if (st->n_tensors == st->cap_tensors) {
        int64_t cap = st->cap_tensors ? st->cap_tensors * 2 : 256;
        tn_st_tensor *p = realloc(st->tensors, (size_t)cap * sizeof *p);
        if (!p) return tn_set_error("safetensors: out of memory");
        st->tensors = p;
        st->cap_tensors = cap;
    }
    st->tensors[st->n_tensors++] = *t;
    return 0;
}

/* Validates one header entry {"dtype", "shape", "data_offsets"} against the data section. */
static int parse_entry(st_file *f, const char *name, const tn_json *e, const uint8_t *data,
                       uint64_t data_size, tn_st_tensor *t) {
    const char *dt = tn_json_get_str(e, "dtype");
    const tn_json *shape = tn_json_get(e, "shape"), *offs = tn_json_get(e, "data_offsets");
    if (!dt || !shape || shape->type != TN_JSON_ARRAY || !offs || offs->type != TN_JSON_ARRAY)
        return tn_set_error("%s: tensor '%s': header entry needs \"dtype\", \"shape\" and "
                            "\"data_offsets\"",
                            f->path, name);
    memset(t, 0, sizeof *t);
    t->name = name;
    t->file = f->path;
    size_t es = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dt, dtypes[i].name)) {
            t->dtype = dtypes[i].dtype;
            es = dtypes[i].size;
        }
    if (!es) return tn_set_error("%s: tensor '%s': unknown dtype '%s'", f->path, name, dt);
    if (shape->n > TN_ST_MAX_DIMS)
        return tn_set_error("%s: tensor '%s': %zu dimensions, at most %d supported", f->path, name,
                            shape->n, TN_ST_MAX_DIMS);
    t->n_dims = (int)shape->n;
    uint64_t n = 1;
    for (size_t d = 0; d < shape->n; d++) {
        const tn_json *v = shape->items[d];
        if (v->type != TN_JSON_NUMBER || !v->is_int || v->i < 0)
            return tn_set_error("%s: tensor '%s': shape[%zu] is not a non-negative integer",
                                f->path, name, d);
        t->shape[d] = v->i;
        if (__builtin_mul_overflow(n, (uint64_t)v->i, &n))
            return tn_set_error("%s: tensor '%s': shape overflows", f->path, name);
    }
    uint64_t nbytes;
    if (n > INT64_MAX || __builtin_mul_overflow(n, (uint64_t)es, &nbytes))
        return tn_set_error("%s: tensor '%s': shape overflows", f->path, name);
    t->n_elements = (int64_t)n;
    const tn_json *b = offs->n == 2 ? offs->items[0] : NULL, *en = offs->n == 2 ? offs->items[1] : NULL;
    if (!b || !en || b->type != TN_JSON_NUMBER || en->type != TN_JSON_NUMBER || !b->is_int ||
        !en->is_int || b->i < 0 || en->i < b->i)
        return tn_set_error("%s: tensor '%s': data_offsets must be [begin, end] with "
                            "0 <= begin <= end",
                            f->path, name);
    uint64_t beg = (uint64_t)b->i, end = (uint64_t)en->i;
    if (end > data_size)
        return tn_set_error("%s: tensor '%s': data [%" PRIu64 ", %" PRIu64 ") extends past the "
                            "end of the file (%" PRIu64 " bytes of data; truncated download?)",
                            f->path, name, beg, end, data_size);
    if (end - beg != nbytes)
        return tn_set_error("%s: tensor '%s': data_offsets span %" PRIu64 " bytes, but %s of "
                            "%" PRIu64 " elements needs %" PRIu64,
                            f->path, name, end - beg, dt, n, nbytes);
    t->data = data + beg;
    t->nbytes = (size_t)nbytes;
    return 0;
}

static int open_file(tn_st *st, const char *path) {
    st_file *nf = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *nf);
    if (!nf) return tn_set_error("safetensors: out of memory");
    st->files = nf;
    st_file *f = &st->files[st->n_files];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) return tn_set_error("safetensors: out of memory");
    st->n_files++; /* from here on tn_st_close cleans up */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tn_set_error("cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return tn_set_error("'%s' is not a regular file", path);
    }
    f->size = (size_t)sb.st_size;
    if (f->size < 8) {
        close(fd);
        return tn_set_error("%s: %zu bytes, too short for a safetensors header", path, f->size);
    }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return tn_set_error("cannot map '%s': %s", path, strerror(errno));
    }
    const uint8_t *p = f->map;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)p[i] << (8 * i);
    if (hlen > MAX_HEADER || hlen > f->size - 8)
        return tn_set_error("%s: header length %" PRIu64 " does not fit in the %zu-byte file "
                            "(truncated or not a safetensors file)",
                            path, hlen, f->size);
    if (!(f->header = tn_json_parse((const char *)p + 8, (size_t)hlen, path))) return -1;
    const tn_json *root = tn_json_root(f->header);
    if (root->type != TN_JSON_OBJECT)
        return tn_set_error("%s: the header is not a JSON object", path);
    const uint8_t *data = p + 8 + hlen;
    uint64_t data_size = f->size - 8 - hlen;
    for (size_t i = 0; i < root->n; i++) {
        if (!strcmp(root->keys[i], "__metadata__")) continue;
        tn_st_tensor t;
        if (parse_entry(f, root->keys[i], root->items[i], data, data_size, &t) ||
            push_tensor(st, &t))
            return -1;
    }
    return 0;
}

tn_st *tn_st_open_file(const char *path) {
    tn_st *st = calloc(1, sizeof *st);
    if (!st) {
        tn_set_error("safetensors: out of memory");
        return NULL;
    }
    if (open_file(st, path)) {
        tn_st_close(st);
        return NULL;
    }
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The index maps tensor names to shard files; every shard it names must exist and hold the
 * tensors the index puts there. */
static int open_index(tn_st *st, const char *dir, const char *index_path) {
    tn_json_doc *doc = tn_json_parse_file(index_path);
    if (!doc) return -1;
    int rc = -1;
    const char **names = NULL;
    char *path = NULL;
    const tn_json *map = tn_json_get(tn_json_root(doc), "weight_map");
    if (!map || map->type != TN_JSON_OBJECT || map->n == 0) {
        tn_set_error("%s: no \"weight_map\" object", index_path);
        goto out;
    }
    names = malloc(map->n * sizeof *names);
    if (!names) {
        tn_set_error("safetensors: out of memory");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < map->n; i++) {
        const tn_json *v = map->items[i];
        if (v->type != TN_JSON_STRING || !v->len || strchr(v->str, '/') || !strcmp(v->str, "..")) {
            tn_set_error("%s: weight_map['%s'] is not a file name in the checkpoint folder",
                         index_path, map->keys[i]);
            goto out;
        }
        names[n++] = v->str;
    }
    qsort(names, n, sizeof *names, cmp_str);
    size_t dl = strlen(dir);
    for (size_t i = 0; i < n; i++) {
        if (i && !strcmp(names[i], names[i - 1])) continue;
        free(path);
        if (!(path = malloc(dl + strlen(names[i]) + 2))) {
            tn_set_error("safetensors: out of memory");
            goto out;
        }
        sprintf(path, "%s/%s", dir, names[i]);
        if (access(path, F_OK) != 0) {
            tn_set_error("%s lists shard '%s', which is missing (%s)", index_path, names[i],
                         path);
            goto out;
        }
        if (open_file(st, path)) goto out;
    }
    for (size_t i = 0; i < map->n; i++) {
        const tn_st_tensor *t = tn_st_find(st, map->keys[i]);
        const char *base = t ? strrchr(t->file, '/') : NULL;
        if (!t || strcmp(base ? base + 1 : t->file, map->items[i]->str) != 0) {
            tn_set_error("%s: tensor '%s' is not in shard '%s'", index_path, map->keys[i],
                         map->items[i]->str);
            goto out;
        }
    }
    rc = 0;
out:
    free(path);
    free(names);
    tn_json_free(doc);
    return rc;
}

tn_st *tn_st_open_dir(const char *dir) {
    tn_st *st = calloc(1, sizeof *st);
    char *path = malloc(strlen(dir) + 64);
    if (!st || !path) {
        free(st);
        free(path);
        tn_set_error("safetensors: out of memory");
        return NULL;
    }
    int rc;
    sprintf(path, "%s/model.safetensors.index.json", dir);
    if (access(path, F_OK) == 0) {
        rc = open_index(st, dir, path);
    } else {
        sprintf(path, "%s/model.safetensors", dir);
        if (access(path, F_OK) != 0)
            rc = tn_set_error("%s: no model.safetensors or model.safetensors.index.json", dir);
        else
            rc = open_file(st, path);
    }
    free(path);
    if (rc == 0) {
        /* a name in two shards would make the checkpoint ambiguous */
        for (int64_t i = 0; i < st->n_tensors && rc == 0; i++) {
            const tn_st_tensor *f = tn_st_find(st, st->tensors[i].name);
            if (f != &st->tensors[i])
                rc = tn_set_error("%s: tensor '%s' appears in both %s and %s", dir, f->name,
                                  f->file, st->tensors[i].file);
        }
    }
    if (rc) {
        tn_st_close(st);
        return NULL;
    }
    return st;
}

void tn_st_close(tn_st *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
        tn_json_free(st->files[i].header);
        free(st->files[i].path);
    }
    free(st->files);
    free(st->tensors);
    free(st);
}

int64_t tn_st_n_tensors(const tn_st *st) { return st->n_tensors; }

const tn_st_tensor *tn_st_tensor_at(const tn_st *st, int64_t i) {
    return i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const tn_st_tensor *tn_st_find(const tn_st *st, const char *name) {
    for (int64_t i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}
