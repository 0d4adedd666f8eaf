/* Reader for Hugging Face safetensors checkpoints: a single model.safetensors or shards listed in
 * model.safetensors.index.json. Files are memory-mapped; every header entry (dtype, shape,
 * data_offsets) is checked against the file size before use. Layout: u64 little-endian header
 * length N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}, then the data section the offsets are relative to. */
#ifndef TN_CONVERT_SAFETENSORS_H
#define TN_CONVERT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TN_ST_F32,
    TN_ST_F16,
    TN_ST_BF16,
    TN_ST_F64,
    TN_ST_I64,
    TN_ST_I32,
    TN_ST_I16,
    TN_ST_I8,
    TN_ST_U8,
    TN_ST_BOOL,
    TN_ST_F8_E4M3,
    TN_ST_F8_E5M2,
} tn_st_dtype;

#define TN_ST_MAX_DIMS 8

typedef struct tn_st_tensor {
    const char *name;
    tn_st_dtype dtype;
    int n_dims;
    int64_t shape[TN_ST_MAX_DIMS]; /* row-major, shape[n_dims-1] is contiguous */
    int64_t n_elements;
    const void *data; /* in the mapping */
    size_t nbytes;
    const char *file; /* the shard it is in */
} tn_st_tensor;

typedef struct tn_st tn_st;

/* Opens DIR/model.safetensors.index.json (and its shards) if present, else DIR/model.safetensors.
 * NULL with an error naming the file on failure. */
tn_st *tn_st_open_dir(const char *dir);
/* Opens one safetensors file. */
tn_st *tn_st_open_file(const char *path);
void tn_st_close(tn_st *st);

int64_t tn_st_n_tensors(const tn_st *st);
/* Tensors in file order (shard by shard, each in header order). */
const tn_st_tensor *tn_st_tensor_at(const tn_st *st, int64_t i);
const tn_st_tensor *tn_st_find(const tn_st *st, const char *name); /* NULL if absent */
const char *tn_st_dtype_name(tn_st_dtype t);
size_t tn_st_dtype_size(tn_st_dtype t);

#endif
