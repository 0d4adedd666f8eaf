/* Tokenizer speed: encodes (and decodes) a text file with a GGUF file's vocabulary, single
 * thread, several repetitions, and prints load time and the best / median throughput in MB/s
 * (MB = 10^6 bytes of input text), by wall clock and by the thread's CPU time (the latter is
 * what to compare on a shared, busy machine). Built by hand, not by the Makefile:
 *   make BUILD=build-x build-x/libtern.a
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc -o build-x/bench_tokenizer bench/bench_tokenizer.c \
 *      build-x/libtern.a -lm -lpthread -lpcre2-8
 *   build-x/bench_tokenizer [model.gguf] [text] [reps] [pre]
 * pre: a tokenizer.ggml.pre value to use instead of the file's (a byte-level BPE vocabulary is
 * re-written with it to a temporary file first), for pre-tokenizers without a vocabulary file of
 * their own (llama-bpe, qwen2). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/tokenizer.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) {
    return clock_s(CLOCK_MONOTONIC);
}
static double cpu_now(void) {
    return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "models/tiny-llama/tiny-llama-Q8_0.gguf";
    const char *path = argc > 2 ? argv[2] : "tests/data/text/tinyshakespeare-val.txt";
    int reps = argc > 3 ? atoi(argv[3]) : 20;
    if (reps < 1 || reps > 1000) reps = 20;

    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    fclose(f);

    char tmp_path[] = "/tmp/bench-tok-XXXXXX";
    if (argc > 4) {
        tn_gguf *src = tn_gguf_open(model);
        int fd = mkstemp(tmp_path);
        tn_gguf_writer *w = tn_gguf_writer_new();
        if (!src || fd < 0 || !w || tn_gguf_writer_copy_kv(w, src) ||
            tn_gguf_writer_set_str(w, "tokenizer.ggml.pre", argv[4]) ||
            tn_gguf_writer_write(w, tmp_path, NULL, NULL)) {
            fprintf(stderr, "cannot re-write %s with pre %s: %s\n", model, argv[4], tn_last_error());
            return 1;
        }
        close(fd);
        tn_gguf_writer_free(w);
        tn_gguf_close(src);
        printf("(pre-tokenizer %s instead of the file's)\n", argv[4]);
    }
    double t0 = now();
    tn_gguf *g = tn_gguf_open(argc > 4 ? tmp_path : model);
    if (argc > 4) remove(tmp_path); /* the mapping stays valid */
    tn_vocab *v = g ? tn_vocab_load(g) : NULL;
    double t_load = now() - t0;
    if (!v) {
        fprintf(stderr, "%s\n", tn_last_error());
        return 1;
    }

    int32_t n = tn_vocab_encode(v, text, (size_t)len, false, false, NULL, 0);
    n = n < 0 ? -n : n;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    char *out = malloc((size_t)len + 16);
    double *enc = malloc((size_t)reps * sizeof *enc), *dec = malloc((size_t)reps * sizeof *dec);
    double *enc_cpu = malloc((size_t)reps * sizeof *enc_cpu);
    int32_t got = 0, dlen = 0;
    for (int r = 0; r < reps; r++) {
        t0 = now();
        double c0 = cpu_now();
        got = tn_vocab_encode(v, text, (size_t)len, false, false, ids, n);
        enc_cpu[r] = cpu_now() - c0;
        enc[r] = now() - t0;
        t0 = now();
        dlen = tn_vocab_detokenize(v, ids, got, false, true, out, (int32_t)len + 16);
        dec[r] = now() - t0;
    }
    qsort(enc, (size_t)reps, sizeof *enc, cmp_double);
    qsort(enc_cpu, (size_t)reps, sizeof *enc_cpu, cmp_double);
    qsort(dec, (size_t)reps, sizeof *dec, cmp_double);
    const double mb = (double)len / 1e6;
    printf("model %s (%d tokens), vocab load %.2f ms\n", model, tn_vocab_n_tokens(v), 1e3 * t_load);
    printf("text %s: %ld bytes -> %d tokens (%.2f bytes/token), round trip %s\n", path, len, got,
           (double)len / got,
           dlen == len && memcmp(out, text, (size_t)len) == 0 ? "exact" : "DIFFERS");
    printf("encode: best %.2f ms = %.2f MB/s, median %.2f ms = %.2f MB/s (%d reps, 1 thread)\n",
           1e3 * enc[0], mb / enc[0], 1e3 * enc[reps / 2], mb / enc[reps / 2], reps);
    printf("encode (thread CPU time): best %.2f ms = %.2f MB/s, median %.2f ms = %.2f MB/s\n",
           1e3 * enc_cpu[0], mb / enc_cpu[0], 1e3 * enc_cpu[reps / 2], mb / enc_cpu[reps / 2]);
    printf("decode: best %.2f ms = %.2f MB/s, median %.2f ms = %.2f MB/s\n", 1e3 * dec[0],
           mb / dec[0], 1e3 * dec[reps / 2], mb / dec[reps / 2]);
    free(enc);
    free(enc_cpu);
    free(dec);
    free(out);
    free(ids);
    free(text);
    tn_vocab_free(v);
    tn_gguf_close(g);
    return 0;
}
