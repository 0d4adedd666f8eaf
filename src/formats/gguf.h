/* GGUF v3 reader (memory-mapped, validated) and writer.
 *
 * Files come from strangers: tn_gguf_open() checks the magic, version, every count, string and
 * array length, tensor name, shape, type, offset, alignment and byte range against the file size
 * before anything is used. Errors (via tn_last_error) name the file, the field and what was
 * expected. Everything returned by a reader function is borrowed from the tn_gguf and lives until
 * tn_gguf_close(). */
#ifndef TN_FORMATS_GGUF_H
#define TN_FORMATS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, numbered as in the GGUF spec. */
typedef enum {
    TN_GGUF_U8 = 0,
    TN_GGUF_I8 = 1,
    TN_GGUF_U16 = 2,
    TN_GGUF_I16 = 3,
    TN_GGUF_U32 = 4,
    TN_GGUF_I32 = 5,
    TN_GGUF_F32 = 6,
    TN_GGUF_BOOL = 7,
    TN_GGUF_STRING = 8,
    TN_GGUF_ARRAY = 9,
    TN_GGUF_U64 = 10,
    TN_GGUF_I64 = 11,
    TN_GGUF_F64 = 12,
} tn_gguf_type;

#define TN_GGUF_MAX_DIMS 4
#define TN_GGUF_DEFAULT_ALIGNMENT 32

typedef struct tn_gguf_tensor {
    const char *name; /* NUL-terminated */
    int type;         /* tn_type (formats/types.h) */
    int n_dims;
    int64_t ne[TN_GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
    uint64_t offset;              /* relative to the start of the data section */
    size_t nbytes;
    const void *data; /* points into the mapping */
} tn_gguf_tensor;

typedef struct tn_gguf tn_gguf;

tn_gguf *tn_gguf_open(const char *path);
/* Parses a GGUF image already in memory (borrowed; must outlive the result). `name` is used in
 * error messages. Used by tests and fuzzers. */
tn_gguf *tn_gguf_open_memory(const void *data, size_t size, const char *name);
void tn_gguf_close(tn_gguf *g);

const char *tn_gguf_path(const tn_gguf *g);
uint32_t tn_gguf_version(const tn_gguf *g);
size_t tn_gguf_alignment(const tn_gguf *g);
size_t tn_gguf_file_size(const tn_gguf *g);

/* ---- metadata ---- */
int64_t tn_gguf_n_kv(const tn_gguf *g);
int64_t tn_gguf_find_key(const tn_gguf *g, const char *key); /* -1 if absent */
const char *tn_gguf_kv_key(const tn_gguf *g, int64_t i);
tn_gguf_type tn_gguf_kv_type(const tn_gguf *g, int64_t i);
tn_gguf_type tn_gguf_arr_type(const tn_gguf *g, int64_t i); /* element type of an array kv */
uint64_t tn_gguf_arr_len(const tn_gguf *g, int64_t i);
/* Raw little-endian element data of a numeric array (may be unaligned: read with memcpy). */
const void *tn_gguf_arr_data(const tn_gguf *g, int64_t i);
/* j-th string of a string array; *len gets its byte length. The string is NOT NUL-terminated. */
const char *tn_gguf_arr_str(const tn_gguf *g, int64_t i, uint64_t j, uint64_t *len);
/* The kv's value exactly as serialized in the file (the bytes after its u32 type field; for an
 * array: element type, count and elements). Borrowed from the mapping. Used to copy kvs verbatim. */
const void *tn_gguf_kv_raw(const tn_gguf *g, int64_t i, size_t *size);

/* Typed getters by key. Return 0 on success, 1 if the key is absent (out untouched, no error
 * set), -1 if present with an incompatible type or out-of-range value (error set, naming the key).
 * Integer getters accept any integer type whose value fits. get_f32 accepts F32 and F64. */
int tn_gguf_get_u32(const tn_gguf *g, const char *key, uint32_t *out);
int tn_gguf_get_i32(const tn_gguf *g, const char *key, int32_t *out);
int tn_gguf_get_u64(const tn_gguf *g, const char *key, uint64_t *out);
int tn_gguf_get_f32(const tn_gguf *g, const char *key, float *out);
int tn_gguf_get_bool(const tn_gguf *g, const char *key, bool *out);
/* String value: NUL-terminated copy owned by g. */
int tn_gguf_get_str(const tn_gguf *g, const char *key, const char **out);
/* Array of integers (any integer element type) converted to int32; *n gets the length.
 * *out is owned by the caller (free()). */
int tn_gguf_get_arr_i32(const tn_gguf *g, const char *key, int32_t **out, uint64_t *n);

/* ---- tensors ---- */
int64_t tn_gguf_n_tensors(const tn_gguf *g);
const tn_gguf_tensor *tn_gguf_tensor_at(const tn_gguf *g, int64_t i);
const tn_gguf_tensor *tn_gguf_find_tensor(const tn_gguf *g, const char *name); /* NULL if absent */

/* ---- writer ----
 * Collects metadata and tensors, then writes a GGUF v3 file. Tensor data is borrowed until
 * tn_gguf_writer_write() returns. Writes to PATH.tmp and renames on success, so a failure leaves
 * no half-written file behind. */
typedef struct tn_gguf_writer tn_gguf_writer;
typedef void (*tn_progress_fn)(void *user, uint64_t done, uint64_t total);

tn_gguf_writer *tn_gguf_writer_new(void);
void tn_gguf_writer_free(tn_gguf_writer *w);
int tn_gguf_writer_set_u32(tn_gguf_writer *w, const char *key, uint32_t v);
int tn_gguf_writer_set_i32(tn_gguf_writer *w, const char *key, int32_t v);
int tn_gguf_writer_set_u64(tn_gguf_writer *w, const char *key, uint64_t v);
int tn_gguf_writer_set_f32(tn_gguf_writer *w, const char *key, float v);
int tn_gguf_writer_set_bool(tn_gguf_writer *w, const char *key, bool v);
int tn_gguf_writer_set_str(tn_gguf_writer *w, const char *key, const char *v);
/* Numeric array of `n` elements of `type` (raw little-endian bytes copied). */
int tn_gguf_writer_set_arr(tn_gguf_writer *w, const char *key, tn_gguf_type type, const void *data,
                           uint64_t n);
int tn_gguf_writer_set_arr_str(tn_gguf_writer *w, const char *key, const char *const *strs,
                               const uint64_t *lens, uint64_t n);
/* Copies every kv of `src` (except general.alignment handling stays consistent). */
int tn_gguf_writer_copy_kv(tn_gguf_writer *w, const tn_gguf *src);
int tn_gguf_writer_add_tensor(tn_gguf_writer *w, const char *name, int type, int n_dims,
                              const int64_t *ne, const void *data, size_t nbytes);
/* A tensor whose data is produced at write time, one tensor in memory at a time (converters):
 * fill(user, index of the tensor in the writer, dst, nbytes) writes exactly nbytes to dst and
 * returns 0, or returns -1 with an error set, which aborts the write (nothing is left behind). */
typedef int (*tn_gguf_fill_fn)(void *user, size_t index, void *dst, size_t nbytes);
int tn_gguf_writer_add_tensor_fill(tn_gguf_writer *w, const char *name, int type, int n_dims,
                                   const int64_t *ne, size_t nbytes, tn_gguf_fill_fn fill,
                                   void *user);
int tn_gguf_writer_write(tn_gguf_writer *w, const char *path, tn_progress_fn progress, void *user);

#endif
