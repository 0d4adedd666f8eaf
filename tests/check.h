/* Minimal test harness: each tests/test_*.c is one program made of checks. CHECK* macros record a
 * failure with file:line and go on; tn_test_done() prints the program's tally and returns the exit
 * code. Paths to bundled data come from tn_test_path() (relative to the repository root, which the
 * runner makes the working directory). */
#ifndef TN_TESTS_CHECK_H
#define TN_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int tn_checks_run, tn_checks_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        tn_checks_run++;                                                                           \
        if (!(cond)) {                                                                             \
            tn_checks_failed++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* |a - b| <= tol */
#define CHECK_NEAR(a, b, tol, what)                                                                \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        CHECK(fabs(a_ - b_) <= (tol), "%s: %.9g vs %.9g (tol %.3g)", what, a_, b_, (double)(tol)); \
    } while (0)

static inline int tn_test_done(const char *name) {
    printf("%s: %d checks, %d failed\n", name, tn_checks_run, tn_checks_failed);
    return tn_checks_failed ? 1 : 0;
}

/* Reads a whole file into a malloc'd buffer (NUL-terminated); NULL on failure. */
static inline char *tn_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (size) *size = (size_t)n;
    }
    return buf;
}

#endif
