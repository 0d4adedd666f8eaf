/* `tern quantize IN.gguf OUT.gguf TYPE [threads]`: llama-quantize's mixes (Q4_K_M, Q8_0, ...)
 * with a progress bar on stderr. The work is done by src/quantize/. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "quantize/quantize.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tern quantize [options] IN.gguf OUT.gguf TYPE [THREADS]\n"
               "  --force              replace OUT.gguf if it exists\n"
               "  --allow-requantize   accept input tensors that are already quantized\n"
               "  --dry-run            print the type each tensor would get, write nothing\n"
               "  -h, --help           this text\n"
               "TYPE (llama.cpp's mixes; sensitive tensors get more bits, 1-D tensors stay f32):\n");
    int n;
    const tn_quant_mix *m = tn_quant_mix_all(&n);
    for (int i = 0; i < n; i++) fprintf(f, "  %-8s %s\n", m[i].name, m[i].desc);
}

typedef struct bar_state {
    double t0;
    const char *last_stage;
} bar_state;

static void progress(void *user, const char *stage, uint64_t done, uint64_t total) {
    bar_state *b = user;
    bool writing = !strcmp(stage, "write");
    double frac = total ? (double)done / (double)total : 1.0;
    int width = 30, fill = (int)(frac * width + 0.5);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : ' ';
    bar[width] = 0;
    fprintf(stderr, "\r%-9s [%s] %5.1f%%  %-40.40s", writing ? "writing" : "quantize", bar,
            100 * frac, writing ? "" : stage);
    if (writing && done == total) fprintf(stderr, "\n");
    b->last_stage = stage;
    fflush(stderr);
}

static int dry_run(const char *in, const tn_quant_mix *mix) {
    tn_gguf *g = tn_gguf_open(in);
    if (!g) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        return 1;
    }
    int64_t nt = tn_gguf_n_tensors(g);
    int *types = malloc(sizeof(int) * (size_t)(nt > 0 ? nt : 1)), nf = 0;
    if (!types || tn_quant_plan(g, mix, types, &nf)) {
        fprintf(stderr, "error: %s\n", types ? tn_last_error() : "out of memory");
        free(types);
        tn_gguf_close(g);
        return 1;
    }
    uint64_t before = 0, after = 0;
    for (int64_t i = 0; i < nt; i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        size_t nb = tn_row_size(types[i], t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        printf("%-40s %-7s -> %-7s %10zu -> %10zu bytes\n", t->name, tn_type_name(t->type),
               tn_type_name(types[i]), t->nbytes, nb);
        before += t->nbytes;
        after += nb;
    }
    printf("total: %.2f MiB -> %.2f MiB%s\n", before / 1048576.0, after / 1048576.0,
           nf ? " (some tensors fell back to another type: row length)" : "");
    free(types);
    tn_gguf_close(g);
    return 0;
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[4] = {0};
    int n_pos = 0;
    bool force = false, requant = false, dry = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--force") || !strcmp(a, "-f")) {
            force = true;
        } else if (!strcmp(a, "--allow-requantize")) {
            requant = true;
        } else if (!strcmp(a, "--dry-run")) {
            dry = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "error: unknown option '%s' (see tern quantize --help)\n", a);
            return 1;
        } else if (n_pos < 4) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "error: too many arguments ('%s')\n", a);
            return 1;
        }
    }
    if (n_pos < 3 && !(dry && n_pos == 2)) {
        fprintf(stderr, "error: expected IN.gguf OUT.gguf TYPE\n");
        usage(stderr);
        return 1;
    }
    const char *in = pos[0], *out = dry && n_pos == 2 ? NULL : pos[1];
    const char *type_name = dry && n_pos == 2 ? pos[1] : pos[2];
    const tn_quant_mix *mix = tn_quant_mix_find(type_name);
    if (!mix) {
        fprintf(stderr, "error: unknown type '%s'; one of:", type_name);
        int n;
        const tn_quant_mix *m = tn_quant_mix_all(&n);
        for (int i = 0; i < n; i++) fprintf(stderr, " %s", m[i].name);
        fprintf(stderr, "\n");
        return 1;
    }
    if (dry) return dry_run(in, mix);
    long threads = 0;
    if (n_pos == 4) {
        char *end;
        threads = strtol(pos[3], &end, 10);
        if (*end || end == pos[3] || threads < 1 || threads > 1024) {
            fprintf(stderr, "error: THREADS must be an integer between 1 and 1024, got '%s'\n",
                    pos[3]);
            return 1;
        }
    }
    bar_state bs = {.t0 = cli_now_ms()};
    tn_quantize_params p = {.mix = mix, .n_threads = (int)threads, .allow_requantize = requant,
                            .overwrite = force, .progress = progress, .user = &bs};
    fprintf(stderr, "quantize: %s -> %s as %s\n", in, out, mix->name);
    if (tn_quantize_file(in, out, &p)) {
        fprintf(stderr, "\nerror: %s\n", tn_last_error());
        return 1;
    }
    tn_gguf *a = tn_gguf_open(in), *b = tn_gguf_open(out);
    if (a && b)
        fprintf(stderr, "quantize: %.2f MiB -> %.2f MiB in %.1f s\n",
                tn_gguf_file_size(a) / 1048576.0, tn_gguf_file_size(b) / 1048576.0,
                (cli_now_ms() - bs.t0) / 1e3);
    tn_gguf_close(a);
    tn_gguf_close(b);
    return 0;
}
