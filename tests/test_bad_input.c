/* Bad input to `tern run`: every case must end with a clear message and a non-zero exit code,
 * never a crash or a sanitizer report. Corrupt models are made by patching a copy of a bundled
 * GGUF in place (same length), so the test does not depend on the GGUF writer. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"

static const char *SRC = "models/tiny-llama/tiny-llama-Q4_0.gguf";
static char out[1 << 16];

static void expect_error(const char *what, const char *args, const char *needle) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s run %s", tt_tern_bin(), args);
    int rc = tt_run(cmd, out, sizeof out);
    CHECK(rc > 0 && rc < 128, "%s: exit code %d (want 1..127)\n%s", what, rc, out);
    CHECK(strstr(out, needle) != NULL, "%s: message lacks '%s':\n%s", what, needle, out);
    CHECK(!strstr(out, "Sanitizer") && !strstr(out, "runtime error"), "%s: sanitizer report:\n%s",
          what, out);
    printf("  %-28s -> exit %d: %.*s\n", what, rc, (int)strcspn(out, "\n"), out);
}

/* Writes a copy of SRC to path with `len` bytes (0 = all), optionally patching bytes. */
static char *copy_model(const char *tag, size_t len, size_t *size_out) {
    size_t size;
    char *buf = tn_test_read_file(SRC, &size);
    if (!buf) return NULL;
    if (len && len < size) size = len;
    *size_out = size;
    (void)tag;
    return buf;
}

static void write_file(const char *path, const char *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
}

/* Offset of the first occurrence of a byte string, or -1. */
static long find(const char *buf, size_t n, const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(buf + i, s, k) == 0) return (long)i;
    return -1;
}

int main(void) {
    char dir[] = "/tmp/tern-bad-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], args[512];
    size_t n;

    expect_error("missing file", "-m /nonexistent/model.gguf -n 4", "/nonexistent/model.gguf");
    expect_error("-n -5", "-n -5", "-n");
    expect_error("unknown flag", "--frobnicate", "frobnicate");
    expect_error("missing flag value", "-m", "-m");
    expect_error("non-numeric -c", "-c abc", "-c");
    expect_error("unknown cache type", "-ctk q9_9", "q9_9");
    expect_error("prompt too long", "-c 16 -p \"Now is the winter of our discontent made glorious "
                 "summer by this sun of York; and all the clouds that lour'd upon our house\"",
                 "context");

    /* Truncations at several sizes (the GGUF reader's own test truncates at every field). */
    size_t cuts[] = {0, 3, 8, 23, 100, 4000, 40000, 1000000};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char *buf = copy_model("trunc", cuts[i] ? cuts[i] : 1, &n);
        snprintf(path, sizeof path, "%s/trunc-%zu.gguf", dir, cuts[i]);
        write_file(path, buf, cuts[i]);
        snprintf(args, sizeof args, "-m %s -n 2", path);
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu bytes", cuts[i]);
        expect_error(what, args, path);
        free(buf);
    }

    /* Garbage tensor count (bytes 8..15 of the header). */
    char *buf = copy_model("count", 0, &n);
    memset(buf + 8, 0x7f, 8);
    snprintf(path, sizeof path, "%s/count.gguf", dir);
    write_file(path, buf, n);
    snprintf(args, sizeof args, "-m %s -n 2", path);
    expect_error("garbage tensor count", args, "tensor");
    free(buf);

    /* Unknown architecture: general.architecture = "llamb". */
    buf = copy_model("arch", 0, &n);
    long k = find(buf, n, "general.architecture");
    CHECK(k > 0, "key not found");
    long v = find(buf + k, n - (size_t)k, "llama");
    buf[k + v + 4] = 'b';
    snprintf(path, sizeof path, "%s/arch.gguf", dir);
    write_file(path, buf, n);
    snprintf(args, sizeof args, "-m %s -n 2", path);
    expect_error("unknown architecture", args, "llamb");
    free(buf);

    /* Missing tensor: rename blk.0.ffn_up.weight. */
    buf = copy_model("missing", 0, &n);
    k = find(buf, n, "blk.0.ffn_up.weight");
    CHECK(k > 0, "tensor name not found");
    buf[k + strlen("blk.0.ffn_up.weight") - 1] = 'x';
    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    write_file(path, buf, n);
    snprintf(args, sizeof args, "-m %s -n 2", path);
    expect_error("missing tensor", args, "blk.0.ffn_up.weight");
    free(buf);

    /* Unknown tensor type: the type field after output_norm.weight's name, dims and shape. */
    buf = copy_model("type", 0, &n);
    k = find(buf, n, "output_norm.weight");
    CHECK(k > 0, "tensor name not found");
    long p = k + (long)strlen("output_norm.weight");
    uint32_t n_dims;
    memcpy(&n_dims, buf + p, 4);
    uint32_t bad = 99;
    memcpy(buf + p + 4 + 8 * n_dims, &bad, 4);
    snprintf(path, sizeof path, "%s/type.gguf", dir);
    write_file(path, buf, n);
    snprintf(args, sizeof args, "-m %s -n 2", path);
    expect_error("unknown tensor type", args, "type");
    free(buf);

    /* Not a GGUF at all. */
    snprintf(path, sizeof path, "%s/text.gguf", dir);
    write_file(path, "hello, this is not a model\n", 27);
    snprintf(args, sizeof args, "-m %s -n 2", path);
    expect_error("not a GGUF file", args, path);

    snprintf(args, sizeof args, "rm -rf %s", dir);
    CHECK(system(args) == 0, "cleanup");
    return tn_test_done("test_bad_input");
}
