/* tn_quantize_file: reads a GGUF, converts each tensor to the type tn_quant_plan chose (rows
 * split among threads: dequantize to f32, then tn_quantize_row), copies the metadata and writes
 * the result through the GGUF writer (PATH.tmp, then rename). Converted tensors are held in
 * memory until the file is written; unchanged ones are copied straight from the mapping. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/types.h"
#include "quantize/quantize.h"

typedef struct conv_job {
    const tn_gguf_tensor *t;
    int new_type;
    int64_t n_per_row, r0, r1;
    size_t src_row, dst_row;
    void *dst;
    int rc;
    char err[256];
} conv_job;

static void *convert_rows(void *arg) {
    conv_job *j = arg;
    float *f = malloc(sizeof(float) * (size_t)j->n_per_row);
    if (!f) {
        j->rc = -1;
        snprintf(j->err, sizeof j->err, "out of memory");
        return NULL;
    }
    for (int64_t r = j->r0; r < j->r1 && !j->rc; r++) {
        const char *src = (const char *)j->t->data + (size_t)r * j->src_row;
        char *dst = (char *)j->dst + (size_t)r * j->dst_row;
        if (tn_dequantize_row(j->t->type, src, f, j->n_per_row) ||
            tn_quantize_row(j->new_type, f, dst, j->n_per_row)) {
            j->rc = -1;
            snprintf(j->err, sizeof j->err, "%s", tn_last_error());
        }
    }
    free(f);
    return NULL;
}

/* Converts tensor t to new_type into dst using n_threads threads. */
static int convert_tensor(const tn_gguf_tensor *t, int new_type, void *dst, int n_threads) {
    int64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t src_row = tn_row_size(t->type, t->ne[0]), dst_row = tn_row_size(new_type, t->ne[0]);
    /* small tensors are not worth a thread each */
    int64_t min_rows = 16;
    int nt = n_threads;
    if (nt > n_rows / min_rows) nt = (int)(n_rows / min_rows);
    if (nt < 1) nt = 1;
    if (nt > 256) nt = 256;
    conv_job jobs[256];
    pthread_t th[256];
    bool started[256] = {false};
    for (int i = 0; i < nt; i++) {
        jobs[i] = (conv_job){.t = t,
                             .new_type = new_type,
                             .n_per_row = t->ne[0],
                             .r0 = n_rows * i / nt,
                             .r1 = n_rows * (i + 1) / nt,
                             .src_row = src_row,
                             .dst_row = dst_row,
                             .dst = dst};
        if (i > 0) started[i] = pthread_create(&th[i], NULL, convert_rows, &jobs[i]) == 0;
        if (i > 0 && !started[i]) convert_rows(&jobs[i]); /* no thread: do it here */
    }
    convert_rows(&jobs[0]);
    int rc = 0;
    for (int i = 0; i < nt; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        if (jobs[i].rc && !rc) rc = tn_set_error("%s: %s", t->name, jobs[i].err);
    }
    return rc;
}

static void on_write(void *user, uint64_t done, uint64_t total) {
    const tn_quantize_params *p = user;
    p->progress(p->user, "write", done, total);
}

static bool is_plain_float(int type) {
    return type == TN_TYPE_F32 || type == TN_TYPE_F16 || type == TN_TYPE_BF16;
}

int tn_quantize_file(const char *in_path, const char *out_path, const tn_quantize_params *p) {
    if (!p || !p->mix) return tn_set_error("quantize: no target type");
    if (!strcmp(in_path, out_path))
        return tn_set_error("the output '%s' is the input file; choose another name", out_path);
    if (!p->overwrite && access(out_path, F_OK) == 0)
        return tn_set_error("'%s' already exists (use --force to replace it)", out_path);
    tn_gguf *g = tn_gguf_open(in_path);
    if (!g) return -1;
    int64_t nt = tn_gguf_n_tensors(g);
    int *types = malloc(sizeof(int) * (size_t)(nt > 0 ? nt : 1));
    void **bufs = calloc((size_t)(nt > 0 ? nt : 1), sizeof(void *));
    tn_gguf_writer *w = NULL;
    int rc = -1, n_fallback = 0, n_threads = p->n_threads;
    if (n_threads <= 0) n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads <= 0) n_threads = 1;
    uint32_t split_count = 0;
    if (!types || !bufs) {
        tn_set_error("out of memory");
        goto done;
    }
    if (tn_gguf_get_u32(g, "split.count", &split_count) == 0 && split_count > 1) {
        tn_set_error("%s is one part of a %u-part split model; merge it first", in_path,
                     split_count);
        goto done;
    }
    if (tn_quant_plan(g, p->mix, types, &n_fallback)) goto done;
    uint64_t total = 0, done_bytes = 0;
    for (int64_t i = 0; i < nt; i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        if (types[i] == t->type) continue;
        const tn_type_info *src = tn_type_get(t->type), *dst = tn_type_get(types[i]);
        if (!dst || !dst->can_quantize) {
            tn_set_error("%s: tern cannot produce %s (needed for tensor %s)", in_path,
                         tn_type_name(types[i]), t->name);
            goto done;
        }
        if (!is_plain_float(t->type) && !p->allow_requantize) {
            tn_set_error("%s: tensor %s is already %s; requantizing loses quality (use "
                         "--allow-requantize to do it anyway)",
                         in_path, t->name, tn_type_name(t->type));
            goto done;
        }
        if (!src || !src->can_dequantize) {
            tn_set_error("%s: tensor %s has type %s, which tern cannot read", in_path, t->name,
                         tn_type_name(t->type));
            goto done;
        }
        total += t->nbytes;
    }
    if (!(w = tn_gguf_writer_new()) || tn_gguf_writer_copy_kv(w, g) ||
        tn_gguf_writer_set_u32(w, "general.quantization_version", 2) ||
        tn_gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->mix->ftype))
        goto done;
    for (int64_t i = 0; i < nt; i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        const void *data = t->data;
        size_t nbytes = t->nbytes;
        if (types[i] != t->type) {
            int64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
            nbytes = tn_row_size(types[i], t->ne[0]) * (size_t)n_rows;
            if (!(bufs[i] = malloc(nbytes ? nbytes : 1))) {
                tn_set_error("out of memory for tensor %s (%zu bytes)", t->name, nbytes);
                goto done;
            }
            if (convert_tensor(t, types[i], bufs[i], n_threads)) goto done;
            data = bufs[i];
            done_bytes += t->nbytes;
            if (p->progress) p->progress(p->user, t->name, done_bytes, total);
        }
        if (tn_gguf_writer_add_tensor(w, t->name, types[i], t->n_dims, t->ne, data, nbytes))
            goto done;
    }
    if (tn_gguf_writer_write(w, out_path, p->progress ? on_write : NULL, (void *)p)) goto done;
    rc = 0;
done:
    tn_gguf_writer_free(w);
    for (int64_t i = 0; bufs && i < nt; i++)
        free(bufs[i]);
    free(bufs);
    free(types);
    tn_gguf_close(g);
    return rc;
}
