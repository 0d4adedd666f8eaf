/* SentencePiece tokenizer.model reader: the vocabulary part of the ModelProto protobuf
 * (sentencepiece_model.proto: ModelProto field 1 = repeated SentencePiece {1: piece string,
 * 2: score float, 3: type enum}). Everything else in the file (trainer and normalizer specs) is
 * skipped, but still walked with bounds checks. */
#ifndef TN_CONVERT_SPM_MODEL_H
#define TN_CONVERT_SPM_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* SentencePiece.Type values as in the proto; GGUF's tokenizer.ggml.token_type uses the same
 * numbers. */
enum {
    TN_SPM_NORMAL = 1,
    TN_SPM_UNKNOWN = 2,
    TN_SPM_CONTROL = 3,
    TN_SPM_USER_DEFINED = 4,
    TN_SPM_UNUSED = 5,
    TN_SPM_BYTE = 6,
};

typedef struct tn_spm_piece {
    char *piece; /* NUL-terminated copy (pieces never contain NUL) */
    size_t len;
    float score;
    int type;
} tn_spm_piece;

typedef struct tn_spm_model {
    tn_spm_piece *pieces;
    int64_t n;
} tn_spm_model;

/* Parses the protobuf bytes data[0..size). 0, or -1 with an error naming `what`. */
int tn_spm_model_parse(const void *data, size_t size, const char *what, tn_spm_model *out);
int tn_spm_model_load(const char *path, tn_spm_model *out);
void tn_spm_model_free(tn_spm_model *m);

#endif
