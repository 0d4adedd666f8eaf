/* libFuzzer target for the GGUF reader (and, for inputs that parse, the writer): opens the input
 * with tn_gguf_open_memory and touches every kv, array element and tensor byte range through the
 * public API, so ASan/UBSan see any read the validation let through. Properties checked (abort()
 * = a finding): a rejected input leaves an error naming the file; lookups find what iteration
 * returns; tensor data lies inside the input and is aligned; and writing the parsed file back out
 * (copy_kv + add_tensor) gives a file that re-opens with the same kvs and tensor bytes.
 * Build and run with tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/gguf.h"

static volatile uint64_t sink;

static size_t elem_size(tn_gguf_type t) {
    static const uint8_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return (unsigned)t <= TN_GGUF_F64 ? sizes[t] : 0;
}

static void touch_kvs(const tn_gguf *g) {
    uint64_t acc = 0;
    for (int64_t i = 0; i < tn_gguf_n_kv(g); i++) {
        const char *key = tn_gguf_kv_key(g, i);
        if (!key || tn_gguf_find_key(g, key) != i) abort();
        acc += strlen(key);
        size_t rs = 0;
        const uint8_t *raw = tn_gguf_kv_raw(g, i, &rs);
        if (rs) acc += raw[0] + raw[rs - 1];
        tn_gguf_type t = tn_gguf_kv_type(g, i);
        if (t == TN_GGUF_ARRAY) {
            uint64_t n = tn_gguf_arr_len(g, i);
            tn_gguf_type at = tn_gguf_arr_type(g, i);
            if (at == TN_GGUF_STRING) {
                for (uint64_t j = 0; j < n; j++) {
                    uint64_t len = 0;
                    const char *s = tn_gguf_arr_str(g, i, j, &len);
                    if (!s) abort();
                    if (len) acc += (uint8_t)s[0] + (uint8_t)s[len - 1];
                }
                if (tn_gguf_arr_str(g, i, n, NULL)) abort();
            } else {
                const uint8_t *d = tn_gguf_arr_data(g, i);
                size_t bytes = (size_t)n * elem_size(at);
                if (!d) abort();
                if (bytes) acc += d[0] + d[bytes - 1];
            }
        }
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        float f;
        bool b;
        const char *s;
        int32_t *arr = NULL;
        uint64_t n;
        if (tn_gguf_get_u32(g, key, &u32) == 0) acc += u32;
        if (tn_gguf_get_i32(g, key, &i32) == 0) acc += (uint32_t)i32;
        if (tn_gguf_get_u64(g, key, &u64) == 0) acc += u64;
        if (tn_gguf_get_f32(g, key, &f) == 0) acc += f == f;
        if (tn_gguf_get_bool(g, key, &b) == 0) acc += b;
        if (tn_gguf_get_str(g, key, &s) == 0) acc += strlen(s);
        if (tn_gguf_get_arr_i32(g, key, &arr, &n) == 0) {
            if (n) acc += (uint32_t)arr[0] + (uint32_t)arr[n - 1];
            free(arr);
        }
    }
    sink += acc;
}

static void touch_tensors(const tn_gguf *g, const uint8_t *data, size_t size) {
    uint64_t acc = 0;
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        if (!t || tn_gguf_find_tensor(g, t->name) != t) abort();
        if (t->offset % tn_gguf_alignment(g)) abort();
        const uint8_t *p = t->data;
        if (t->nbytes && (p < data || p + t->nbytes > data + size)) abort();
        if (t->nbytes) acc += p[0] + p[t->nbytes - 1];
        acc += strlen(t->name) + (uint64_t)t->ne[0];
    }
    sink += acc;
}

/* Writes g back out and checks the copy re-opens with the same kvs and tensor data. */
static void round_trip(const tn_gguf *g) {
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/fuzz_gguf_%d.gguf", (int)getpid());
    tn_gguf_writer *w = tn_gguf_writer_new();
    if (tn_gguf_writer_copy_kv(w, g)) abort();
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        if (tn_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes))
            abort();
    }
    int rc = tn_gguf_writer_write(w, path, NULL, NULL);
    tn_gguf_writer_free(w);
    if (rc) return; /* e.g. no /dev/shm: the writer's I/O is not what is being fuzzed */
    tn_gguf *c = tn_gguf_open(path);
    if (!c) {
        fprintf(stderr, "re-open failed: %s\n", tn_last_error());
        abort();
    }
    if (tn_gguf_n_kv(c) != tn_gguf_n_kv(g) || tn_gguf_n_tensors(c) != tn_gguf_n_tensors(g))
        abort();
    for (int64_t i = 0; i < tn_gguf_n_kv(g); i++) {
        size_t n1, n2;
        const void *r1 = tn_gguf_kv_raw(g, i, &n1), *r2 = tn_gguf_kv_raw(c, i, &n2);
        if (strcmp(tn_gguf_kv_key(g, i), tn_gguf_kv_key(c, i)) || n1 != n2 || memcmp(r1, r2, n1))
            abort();
    }
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *a = tn_gguf_tensor_at(g, i), *b = tn_gguf_tensor_at(c, i);
        if (strcmp(a->name, b->name) || a->nbytes != b->nbytes || a->type != b->type ||
            memcmp(a->ne, b->ne, sizeof a->ne) || (a->nbytes && memcmp(a->data, b->data, a->nbytes)))
            abort();
    }
    tn_gguf_close(c);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tn_clear_error();
    tn_gguf *g = tn_gguf_open_memory(data, size, "fuzz-input");
    if (!g) {
        if (!strstr(tn_last_error(), "fuzz-input")) {
            fprintf(stderr, "error does not name the file: %s\n", tn_last_error());
            abort();
        }
        return 0;
    }
    touch_kvs(g);
    touch_tensors(g, data, size);
    round_trip(g);
    tn_gguf_close(g);
    return 0;
}
