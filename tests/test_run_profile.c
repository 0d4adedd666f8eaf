/* `tern run --profile / --profile-json`: the profile covers exactly the generated tokens (one
 * decode step each), and its matmul bytes per step equal the bytes of the 2-D weights a decode
 * step reads, summed here from the GGUF's tensor table (every block weight and the output matrix;
 * the token embedding is read one row at a time, so it is not a matmul). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "formats/gguf.h"
#include "testutil.h"

#define MODEL "models/tiny-llama/tiny-llama-Q8_0.gguf"

/* The number after "key": in the first object of `json` that contains `anchor`. */
static double number_after(const char *json, const char *anchor, const char *key) {
    const char *a = strstr(json, anchor);
    if (!a) return -1;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *k = strstr(a, pat);
    return k ? strtod(k + strlen(pat), NULL) : -1;
}

int main(void) {
    char json_path[64], cmd[512];
    snprintf(json_path, sizeof json_path, "/tmp/tern-run-profile-%d.json", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s run -m %s -n 12 --temp 0 -t 1 --ignore-eos --profile --profile-json %s >/dev/null 2>&1",
             tt_tern_bin(), MODEL, json_path);
    CHECK(system(cmd) == 0, "'%s' failed", cmd);
    char *json = tn_test_read_file(json_path, NULL);
    CHECK(json != NULL, "no JSON written to %s", json_path);
    if (json) {
        const double steps = number_after(json, "\"n_steps\"", "n_steps");
        const double tokens = number_after(json, "\"n_tokens\"", "n_tokens");
        CHECK(steps == 12 && tokens == 12, "profile of %g steps / %g tokens, expected 12 generated", steps, tokens);
        uint64_t want = 0;
        tn_gguf *g = tn_gguf_open(MODEL);
        CHECK(g != NULL, "open %s", MODEL);
        for (int64_t i = 0; g && i < tn_gguf_n_tensors(g); i++) {
            const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
            if (t->n_dims == 2 && strcmp(t->name, "token_embd.weight") != 0) want += t->nbytes;
        }
        if (g && !tn_gguf_find_tensor(g, "output.weight")) /* tied: the embedding is the output matrix */
            want += tn_gguf_find_tensor(g, "token_embd.weight")->nbytes;
        tn_gguf_close(g);
        const double got = number_after(json, "\"totals\"", "state_bytes_per_step");
        printf("tern run --profile-json: %g steps, matmul weight bytes per step %.0f, GGUF 2-D weights %llu\n", steps,
               got, (unsigned long long)want);
        CHECK(got == (double)want, "matmul bytes per step %.0f, expected %llu", got, (unsigned long long)want);
        CHECK(number_after(json, "\"totals\"", "ns_per_step") > 0, "matmul time per step");
        free(json);
    }
    unlink(json_path);
    /* the text table goes to stderr with the per-op section */
    snprintf(cmd, sizeof cmd, "%s run -m %s -n 4 --temp 0 -t 1 --profile 2>&1 >/dev/null | grep -c '^per op:'", tt_tern_bin(), MODEL);
    FILE *p = popen(cmd, "r");
    int n = 0;
    CHECK(p && fscanf(p, "%d", &n) == 1 && n == 1, "tern run --profile prints the per-op table");
    if (p) pclose(p);
    return tn_test_done("test_run_profile");
}
