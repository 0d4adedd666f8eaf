/* `-tp N` of tern run / tern bench (tools/tp_flag.c) while the multi-GPU forward pass does not
 * exist: N > 1 prints the plan and exits 1 with the "not implemented yet" error (never a silent
 * single-GPU run); impossible N exit 1 naming the cause; -tp 1 runs exactly like no flag (same
 * greedy text). The plan's numbers are checked where they are known independently: the tiny
 * model's head/FFN/vocab ranges, Llama-3-70B's per-rank FFN columns and f16 KV bytes per token
 * (80 layers x 2 x 4 KV heads x 128 x 2 bytes = 160 KiB at -tp 2). */
#include <string.h>

#include "check.h"
#include "testutil.h"

static char out[1 << 16];

static int run(const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s", tt_tern_bin(), args);
    return tt_run(cmd, out, sizeof out);
}

int main(void) {
    const char *m = "-m models/tiny-llama/tiny-llama-Q8_0.gguf";
    char args[512];
    snprintf(args, sizeof args, "run %s -tp 2 -n 4", m);
    int rc = run(args);
    CHECK(rc == 1, "run -tp 2: exit %d", rc);
    CHECK(strstr(out, "multi-GPU forward pass is not implemented yet"), "run -tp 2 error:\n%s", out);
    /* rank 1: q heads 4-7, KV heads 2-3, FFN 256-511, vocab 512-1023; 1.5 KiB of f16 KV per
     * token = 6 layers x 2 x 2 heads x 32 x 2 bytes. */
    CHECK(strstr(out, "1     4-7          2-3          256-511          512-1023"), "rank 1 row:\n%s", out);
    CHECK(strstr(out, "1.50 KiB"), "KV per token per rank:\n%s", out);

    snprintf(args, sizeof args, "run %s -tp 3", m);
    rc = run(args);
    CHECK(rc == 1 && strstr(out, "4 KV heads cannot be split over 3 GPUs"), "run -tp 3 (exit %d):\n%s", rc, out);
    rc = run("run -tp 0");
    CHECK(rc == 1 && strstr(out, "-tp must be between 1 and 64"), "run -tp 0 (exit %d):\n%s", rc, out);
    rc = run("bench -tp 2 -m models/tiny-llama/tiny-llama-Q4_K_M.gguf");
    CHECK(rc == 1 && strstr(out, "'blk.0.attn_output.weight' (q4_K, blocks of 256)"),
          "bench -tp 2 on a K-quant with 32-wide heads (exit %d):\n%s", rc, out);
    rc = run("bench -tp 2 --synthetic llama3-70b -w Q4_K_M");
    CHECK(rc == 1 && strstr(out, "14336-28671") && strstr(out, "160.00 KiB") &&
              strstr(out, "not implemented yet"),
          "bench -tp 2 70B plan (exit %d):\n%s", rc, out);

    /* -tp 1 is an ordinary run. */
    static char plain[1 << 16];
    snprintf(args, sizeof args, "run %s -n 12 --temp 0 --no-display-prompt", m);
    int rc_plain = run(args);
    memcpy(plain, out, sizeof plain);
    /* Compare the generated text, not the timing lines after it (stderr is captured too). */
    char *cut = strstr(plain, "\nmodel:");
    if (cut) *cut = 0;
    snprintf(args, sizeof args, "run %s -n 12 --temp 0 --no-display-prompt -tp 1", m);
    rc = run(args);
    if ((cut = strstr(out, "\nmodel:"))) *cut = 0;
    CHECK(rc_plain == 0 && rc == 0 && strlen(out) > 0 && !strcmp(out, plain),
          "-tp 1 (exit %d) vs no flag (exit %d):\n%s\n---\n%s", rc, rc_plain, out, plain);
    return tn_test_done("test_tp_cli");
}
