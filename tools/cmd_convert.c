/* `tern convert HF_DIR OUT.gguf [--outtype f32|f16|bf16|q8_0]`: a Hugging Face checkpoint folder
 * to GGUF, with a progress bar on stderr. The work is done by src/convert/. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "convert/convert.h"
#include "formats/types.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: tern convert [options] HF_DIR OUT.gguf\n"
            "  HF_DIR holds config.json, model.safetensors (or model.safetensors.index.json and\n"
            "  its shards) and tokenizer.model or tokenizer.json (+ tokenizer_config.json)\n"
            "  --outtype TYPE   f32, f16, bf16, q8_0 or auto (default: bf16 for a bf16\n"
            "                   checkpoint, else f16); norms and other 1-D tensors stay f32\n"
            "  --name NAME      general.name (default: from the folder name)\n"
            "  --force          replace OUT.gguf if it exists\n"
            "  -h, --help       this text\n"
            "architectures: %s\n",
            tn_convert_supported());
}

typedef struct bar_state {
    double t0;
    int last_pct;
} bar_state;

static void progress(void *user, uint64_t done, uint64_t total) {
    bar_state *b = user;
    double frac = total ? (double)done / (double)total : 1.0;
    int pct = (int)(frac * 1000);
    if (pct == b->last_pct) return; /* redraw only when the bar moves */
    b->last_pct = pct;
    int width = 30, fill = (int)(frac * width + 0.5);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : ' ';
    bar[width] = 0;
    fprintf(stderr, "\rconvert [%s] %5.1f%%  %8.2f / %.2f MiB", bar, 100 * frac, done / 1048576.0,
            total / 1048576.0);
    if (done == total) fprintf(stderr, "\n");
    fflush(stderr);
}

/* The GGUF writer writes OUT.tmp and renames it at the end; an interrupt must not leave it. */
static char tmp_path[4096];

static void on_signal(int sig) {
    if (tmp_path[0]) unlink(tmp_path); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

int cmd_convert(int argc, char **argv) {
    const char *pos[2] = {0};
    int n_pos = 0;
    tn_convert_params p = {.outtype = TN_CONVERT_AUTO};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--force") || !strcmp(a, "-f")) {
            p.overwrite = true;
        } else if (!strcmp(a, "--outtype")) {
            const char *t;
            if (cli_str(argc, argv, &i, &t)) return 1;
            if (!strcmp(t, "auto")) p.outtype = TN_CONVERT_AUTO;
            else if (!strcmp(t, "f32")) p.outtype = TN_TYPE_F32;
            else if (!strcmp(t, "f16")) p.outtype = TN_TYPE_F16;
            else if (!strcmp(t, "bf16")) p.outtype = TN_TYPE_BF16;
            else if (!strcmp(t, "q8_0")) p.outtype = TN_TYPE_Q8_0;
            else {
                fprintf(stderr, "error: --outtype '%s': expected f32, f16, bf16, q8_0 or auto\n", t);
                return 1;
            }
        } else if (!strcmp(a, "--name")) {
            if (cli_str(argc, argv, &i, &p.name)) return 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "error: unknown option '%s' (see tern convert --help)\n", a);
            return 1;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "error: too many arguments ('%s')\n", a);
            return 1;
        }
    }
    if (n_pos != 2) {
        fprintf(stderr, "error: expected HF_DIR OUT.gguf\n");
        usage(stderr);
        return 1;
    }
    p.hf_dir = pos[0];
    p.out_path = pos[1];
    bar_state bs = {.t0 = cli_now_ms(), .last_pct = -1};
    p.progress = progress;
    p.user = &bs;
    fprintf(stderr, "convert: %s -> %s\n", p.hf_dir, p.out_path);
    if (strlen(p.out_path) + 5 <= sizeof tmp_path) {
        snprintf(tmp_path, sizeof tmp_path, "%s.tmp", p.out_path);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
    if (tn_convert(&p)) {
        fprintf(stderr, "%serror: %s\n", bs.last_pct >= 0 ? "\n" : "", tn_last_error());
        return 1;
    }
    fprintf(stderr, "convert: done in %.1f s\n", (cli_now_ms() - bs.t0) / 1e3);
    return 0;
}
