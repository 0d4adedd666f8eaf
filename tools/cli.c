/* Shared helpers of the tern subcommands (see cli.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "formats/types.h"
#include "kv/kv.h"

#ifndef TN_SOURCE_DIR
#define TN_SOURCE_DIR "."
#endif
#define DEFAULT_MODEL_REL "models/tiny-llama/tiny-llama-Q8_0.gguf"

int cli_str(int argc, char **argv, int *i, const char **out) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "error: %s needs a value\n", argv[*i]);
        return -1;
    }
    *out = argv[++*i];
    return 0;
}

int cli_int(int argc, char **argv, int *i, long lo, long hi, long *out) {
    const char *flag = argv[*i], *v;
    if (cli_str(argc, argv, i, &v)) return -1;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "error: %s expects an integer, got '%s'\n", flag, v);
        return -1;
    }
    if (x < lo || x > hi) {
        fprintf(stderr, "error: %s must be between %ld and %ld, got %ld\n", flag, lo, hi, x);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_float(int argc, char **argv, int *i, double lo, double hi, double *out) {
    const char *flag = argv[*i], *v;
    if (cli_str(argc, argv, i, &v)) return -1;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x != x) {
        fprintf(stderr, "error: %s expects a number, got '%s'\n", flag, v);
        return -1;
    }
    if (x < lo || x > hi) {
        fprintf(stderr, "error: %s must be between %g and %g, got %g\n", flag, lo, hi, x);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_cache_type(const char *name) {
    int t = tn_kv_type_from_name(name);
    if (t < 0) fprintf(stderr, "error: unknown KV cache type '%s' (supported: %s)\n", name, tn_kv_type_names());
    return t;
}

uint64_t cli_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

bool cli_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *cli_default_model(void) {
    static char path[PATH_MAX];
    const char *env = getenv("TERN_MODEL");
    if (env && *env) return env;
    snprintf(path, sizeof path, "%s/%s", TN_SOURCE_DIR, DEFAULT_MODEL_REL);
    if (cli_file_exists(path)) return path;
    /* Relocated tree: look beside the binary (bin/tern -> ../models/...). */
    char exe[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = 0;
            snprintf(path, sizeof path, "%s/%s", exe, DEFAULT_MODEL_REL);
            if (cli_file_exists(path)) return path;
        }
    }
    return DEFAULT_MODEL_REL;
}

double cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

char *cli_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                buf = NULL;
            }
            buf = p;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "error: out of memory reading '%s'\n", path);
        return NULL;
    }
    buf[n] = 0;
    if (size) *size = n;
    return buf;
}

/* Length of the UTF-8 sequence a lead byte starts (1 for invalid leads: passed through). */
static int utf8_len(unsigned char c) {
    if (c < 0xc0) return 1;
    if (c < 0xe0) return 2;
    if (c < 0xf0) return 3;
    if (c < 0xf8) return 4;
    return 1;
}

void cli_stream_write(cli_utf8_stream *s, FILE *out, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (s->n_pending > 0 && (c & 0xc0) != 0x80) cli_stream_flush(s, out); /* broken seq */
        s->pending[s->n_pending++] = (char)c;
        if (s->n_pending >= utf8_len((unsigned char)s->pending[0])) cli_stream_flush(s, out);
    }
    fflush(out);
}

void cli_stream_flush(cli_utf8_stream *s, FILE *out) {
    if (s->n_pending) fwrite(s->pending, 1, (size_t)s->n_pending, out);
    s->n_pending = 0;
}
