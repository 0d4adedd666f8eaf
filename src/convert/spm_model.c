/* Minimal protobuf wire-format walker for SentencePiece models (see spm_model.h). Wire format:
 * each field is a varint key (field number << 3 | wire type) followed by a varint (type 0), 8
 * bytes (1), a varint length and that many bytes (2) or 4 bytes (5); groups (3, 4) are not used
 * by sentencepiece and are rejected. */
#include "convert/spm_model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    const uint8_t *p, *end;
    const char *what;
} reader;

static int varint(reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return tn_set_error("%s: truncated varint", r->what);
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return tn_set_error("%s: varint longer than 10 bytes", r->what);
}

/* Reads one field header and its payload; for wire type 2 *sub gets the payload range, for
 * types 0/1/5 *val gets the value. */
static int field(reader *r, uint32_t *num, int *wt, uint64_t *val, reader *sub) {
    uint64_t key;
    if (varint(r, &key)) return -1;
    *num = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0: return varint(r, val);
    case 1:
    case 5: {
        size_t n = *wt == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) return tn_set_error("%s: truncated field %u", r->what, *num);
        *val = 0;
        for (size_t i = 0; i < n; i++) *val |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return 0;
    }
    case 2: {
        uint64_t len;
        if (varint(r, &len)) return -1;
        if (len > (uint64_t)(r->end - r->p))
            return tn_set_error("%s: field %u claims %llu bytes, %zu left", r->what, *num,
                                (unsigned long long)len, (size_t)(r->end - r->p));
        *sub = (reader){r->p, r->p + len, r->what};
        r->p += len;
        return 0;
    }
    default: return tn_set_error("%s: unsupported protobuf wire type %d (field %u)", r->what, *wt, *num);
    }
}

static int parse_piece(reader *r, tn_spm_piece *pc, int64_t index) {
    pc->type = TN_SPM_NORMAL; /* proto default */
    bool have_piece = false;
    while (r->p < r->end) {
        uint32_t num;
        int wt;
        uint64_t val = 0;
        reader sub = {0};
        if (field(r, &num, &wt, &val, &sub)) return -1;
        if (num == 1 && wt == 2) {
            size_t n = (size_t)(sub.end - sub.p);
            if (memchr(sub.p, 0, n)) return tn_set_error("%s: piece %lld contains a NUL byte", r->what, (long long)index);
            free(pc->piece);
            if (!(pc->piece = malloc(n + 1))) return tn_set_error("%s: out of memory", r->what);
            memcpy(pc->piece, sub.p, n);
            pc->piece[n] = 0;
            pc->len = n;
            have_piece = true;
        } else if (num == 2 && wt == 5) {
            uint32_t bits = (uint32_t)val;
            memcpy(&pc->score, &bits, 4);
        } else if (num == 3 && wt == 0) {
            if (val < TN_SPM_NORMAL || val > TN_SPM_BYTE)
                return tn_set_error("%s: piece %lld has unknown type %llu", r->what, (long long)index,
                                    (unsigned long long)val);
            pc->type = (int)val;
        } else if (num <= 3) {
            return tn_set_error("%s: piece %lld: field %u has wire type %d", r->what, (long long)index, num, wt);
        }
    }
    if (!have_piece) return tn_set_error("%s: piece %lld has no text", r->what, (long long)index);
    return 0;
}

int tn_spm_model_parse(const void *data, size_t size, const char *what, tn_spm_model *out) {
    memset(out, 0, sizeof *out);
    reader r = {data, (const uint8_t *)data + size, what};
    int64_t cap = 0;
    while (r.p < r.end) {
        uint32_t num;
        int wt;
        uint64_t val;
        reader sub = {0};
        if (field(&r, &num, &wt, &val, &sub)) goto fail;
        if (num != 1) continue; /* trainer_spec, normalizer_spec, ... */
        if (wt != 2) {
            tn_set_error("%s: field 1 (pieces) has wire type %d, expected 2", what, wt);
            goto fail;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 1024;
            tn_spm_piece *p = realloc(out->pieces, (size_t)cap * sizeof *p);
            if (!p) {
                tn_set_error("%s: out of memory", what);
                goto fail;
            }
            out->pieces = p;
        }
        tn_spm_piece *pc = &out->pieces[out->n++];
        memset(pc, 0, sizeof *pc);
        if (parse_piece(&sub, pc, out->n - 1)) goto fail;
    }
    if (out->n == 0) {
        tn_set_error("%s: no vocabulary pieces (not a SentencePiece model?)", what);
        goto fail;
    }
    return 0;
fail:
    tn_spm_model_free(out);
    return -1;
}

int tn_spm_model_load(const char *path, tn_spm_model *out) {
    FILE *f = fopen(path, "rb");
    if (!f) return tn_set_error("cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *nb = cap > ((size_t)1 << 30) ? NULL : realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    bool err = !buf || ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return tn_set_error("cannot read '%s'", path);
    }
    int rc = tn_spm_model_parse(buf, n, path, out);
    free(buf);
    return rc;
}

void tn_spm_model_free(tn_spm_model *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++) free(m->pieces[i].piece);
    free(m->pieces);
    m->pieces = NULL;
    m->n = 0;
}
