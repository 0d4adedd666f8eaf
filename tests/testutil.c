/* Test helpers (see testutil.h). The JSON reader understands only what the reference files use:
 * "key": [int, int, ...] and "key": number. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *after_key(const char *json, const char *key) {
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

int32_t *tt_json_int_array(const char *json, const char *key, int *n) {
    const char *p = after_key(json, key);
    if (!p || *p != '[') return NULL;
    p++;
    int cap = 1024, k = 0;
    int32_t *a = malloc(sizeof(int32_t) * (size_t)cap);
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ',') p++;
        if (*p == ']') break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            free(a);
            return NULL;
        }
        if (k == cap) a = realloc(a, sizeof(int32_t) * (size_t)(cap *= 2));
        a[k++] = (int32_t)v;
        p = end;
    }
    *n = k;
    return a;
}

double tt_json_number(const char *json, const char *key) {
    const char *p = after_key(json, key);
    if (!p) return NAN;
    char *end;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

float *tt_read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *a = malloc(n * sizeof(float));
    if (fread(a, sizeof(float), n, f) != n) {
        free(a);
        a = NULL;
    }
    fclose(f);
    return a;
}

int tt_run(const char *cmd, char *out, size_t cap) {
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = 0, got;
    char sink[4096];
    while ((got = fread(n + 1 < cap ? out + n : sink, 1, n + 1 < cap ? cap - 1 - n : sizeof sink, p)) > 0)
        if (n + 1 < cap) n += got;
    if (cap) out[n] = 0;
    int st = pclose(p);
    if (st == -1) return -1;
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

const char *tt_tern_bin(void) {
    const char *b = getenv("TERN_BIN");
    return b && *b ? b : "build/tern";
}

double tt_max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= m)) m = e; /* NaN propagates as the maximum */
    }
    return m;
}
