/* Reports of the per-op profiler (profile.h): a readable table and a JSON object, both per decode
 * step (micro-batch), with each op's achieved GB/s and GFLOP/s as shares of the machine's peaks. */
#include <stdlib.h>
#include <string.h>

#include "runtime/profile.h"

/* Op names in the order the per-op totals are reported. */
static const char *const ops[] = {"matmul", "attention", "rope_store", "rmsnorm", "embed", "add",
                                  "swiglu", "get_rows", "read", "begin", "end"};

static int by_time_desc(const void *a, const void *b) {
    double x = ((const tn_profile_row *)a)->ns, y = ((const tn_profile_row *)b)->ns;
    return (x < y) - (x > y);
}

/* Rows sorted by total time, descending; caller frees. */
static tn_profile_row *sorted_rows(const tn_profile *p) {
    int n = tn_profile_n_rows(p);
    tn_profile_row *r = malloc(sizeof *r * (size_t)(n > 0 ? n : 1));
    if (!r) return NULL;
    for (int i = 0; i < n; i++) r[i] = *tn_profile_row_at(p, i);
    qsort(r, (size_t)n, sizeof *r, by_time_desc);
    return r;
}

static void print_row(FILE *f, const tn_profile_row *r, double steps, double step_ns,
                      double peak_gbps, double peak_gflops) {
    double ns = r->ns / steps, bytes = (r->state_bytes + r->act_bytes) / steps;
    double gbps = ns > 0 ? bytes / ns : 0, gflops = ns > 0 ? r->flops / steps / ns : 0;
    char label[64];
    snprintf(label, sizeof label, "%s%s%s", r->op, r->what[0] ? " " : "", r->what);
    fprintf(f, "%-26s %8.1f %10.2f %6.1f%% %11.3f %11.3f %8.2f", label, (double)r->calls / steps,
            ns / 1e3, step_ns > 0 ? 100.0 * ns / step_ns : 0.0, r->state_bytes / steps / 1e6,
            r->act_bytes / steps / 1e6, gbps);
    if (peak_gbps > 0) fprintf(f, " %6.1f%%", 100.0 * gbps / peak_gbps);
    fprintf(f, " %9.2f", gflops);
    if (peak_gflops > 0) fprintf(f, " %6.1f%%", 100.0 * gflops / peak_gflops);
    fputc('\n', f);
}

void tn_profile_print(const tn_profile *p, FILE *f, double peak_gbps, double peak_gflops) {
    double steps = (double)tn_profile_n_steps(p);
    if (steps <= 0) {
        fprintf(f, "profile: no steps recorded\n");
        return;
    }
    double step_ns = tn_profile_step_ns(p) / steps;
    tn_profile_row all = tn_profile_total(p, NULL);
    fprintf(f,
            "profile: %llu steps, %.1f tokens/step, %.3f ms/step wall, %.3f ms/step in ops (%.1f%%)\n",
            (unsigned long long)tn_profile_n_steps(p), (double)tn_profile_n_tokens(p) / steps,
            step_ns / 1e6, all.ns / steps / 1e6, step_ns > 0 ? 100.0 * all.ns / steps / step_ns : 0);
    fprintf(f, "%-26s %8s %10s %7s %11s %11s %8s", "op", "calls", "us/step", "share",
            "state MB", "act MB", "GB/s");
    if (peak_gbps > 0) fprintf(f, " %7s", "%BW");
    fprintf(f, " %9s", "GFLOP/s");
    if (peak_gflops > 0) fprintf(f, " %7s", "%FLOP");
    fputc('\n', f);
    tn_profile_row *rows = sorted_rows(p);
    for (int i = 0; rows && i < tn_profile_n_rows(p); i++)
        print_row(f, &rows[i], steps, step_ns, peak_gbps, peak_gflops);
    free(rows);
    fprintf(f, "per op:\n");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        tn_profile_row t = tn_profile_total(p, ops[i]);
        if (t.calls) print_row(f, &t, steps, step_ns, peak_gbps, peak_gflops);
    }
    print_row(f, &all, steps, step_ns, peak_gbps, peak_gflops);
    if (peak_gbps > 0)
        fprintf(f, "%%BW: achieved (state + act) bytes/s over %.1f GB/s; state = weights and KV cache\n",
                peak_gbps);
}

static void json_row(FILE *f, const tn_profile_row *r, double steps, double peak_gbps,
                     double peak_gflops) {
    double gbps = r->ns > 0 ? (r->state_bytes + r->act_bytes) / r->ns : 0;
    double gflops = r->ns > 0 ? r->flops / r->ns : 0;
    fprintf(f,
            "{\"op\": \"%s\", \"what\": \"%s\", \"calls\": %llu, \"ns\": %.0f, \"state_bytes\": %.0f, "
            "\"act_bytes\": %.0f, \"flops\": %.0f, \"ns_per_step\": %.1f, "
            "\"state_bytes_per_step\": %.1f, \"gbps\": %.3f, \"gflops\": %.3f",
            r->op, r->what, (unsigned long long)r->calls, r->ns, r->state_bytes, r->act_bytes,
            r->flops, r->ns / steps, r->state_bytes / steps, gbps, gflops);
    if (peak_gbps > 0) fprintf(f, ", \"bw_pct\": %.2f", 100.0 * gbps / peak_gbps);
    if (peak_gflops > 0) fprintf(f, ", \"flop_pct\": %.2f", 100.0 * gflops / peak_gflops);
    fputc('}', f);
}

void tn_profile_json(const tn_profile *p, FILE *f, double peak_gbps, double peak_gflops) {
    double steps = (double)tn_profile_n_steps(p);
    if (steps <= 0) steps = 1;
    tn_profile_row all = tn_profile_total(p, NULL);
    fprintf(f,
            "{\"n_steps\": %llu, \"n_tokens\": %llu, \"step_ns\": %.0f, \"ops_ns\": %.0f, "
            "\"peak_gbps\": %.3f, \"peak_gflops\": %.3f, \"rows\": [",
            (unsigned long long)tn_profile_n_steps(p), (unsigned long long)tn_profile_n_tokens(p),
            tn_profile_step_ns(p), all.ns, peak_gbps, peak_gflops);
    tn_profile_row *rows = sorted_rows(p);
    for (int i = 0; rows && i < tn_profile_n_rows(p); i++) {
        if (i) fputs(", ", f);
        json_row(f, &rows[i], steps, peak_gbps, peak_gflops);
    }
    free(rows);
    fputs("], \"totals\": [", f);
    bool first = true;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        tn_profile_row t = tn_profile_total(p, ops[i]);
        if (!t.calls) continue;
        if (!first) fputs(", ", f);
        first = false;
        json_row(f, &t, steps, peak_gbps, peak_gflops);
    }
    fputs("]}", f);
}
