/* `tern bench` internals shared by its files: one result row (a test on one model with one set of
 * settings), the output printers (bench_output.c), the sweep plot (bench_svg.c) and the machine
 * facts (bench_sys.c). */
#ifndef TN_TOOLS_BENCH_H
#define TN_TOOLS_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct bench_result {
    /* model */
    char model_filename[512];
    char model_type[128]; /* "llama 8B Q4_0" */
    uint64_t model_size, model_n_params;
    char backend[16];
    /* settings */
    int n_threads, n_batch, n_ubatch, n_gpu_layers, flash_attn;
    int type_k, type_v;
    int n_prompt, n_gen, n_depth;
    int n_reps;
    char test_time[32]; /* ISO 8601, UTC */
    /* timings */
    double *samples_ns;
    int n_samples;
    double avg_ns, stddev_ns, avg_ts, stddev_ts;
    /* generation tests: bytes read per generated token (weights + KV cache) and the rate */
    double bytes_per_token, gbps, bw_pct, peak_gbps;
    char *profile_json; /* --profile: tn_profile_json() of the timed steps, or NULL */
    char *profile_text;
} bench_result;

/* Which optional columns / fields the markdown table shows. */
typedef struct bench_columns {
    bool ngl, n_batch, n_ubatch, type_k, type_v, fa;
} bench_columns;

typedef enum { BENCH_MD, BENCH_JSON, BENCH_JSONL, BENCH_CSV } bench_format;

typedef struct bench_printer {
    bench_format fmt;
    bench_columns cols;
    FILE *out;
    int n_printed;
    const char *build_commit, *cpu_info;
} bench_printer;

/* "pp512", "tg128", "pp512+tg128", with " @ d8192" when there is a depth. */
void bench_test_name(const bench_result *r, char *buf, size_t size);
void bench_print_begin(bench_printer *p);
void bench_print_result(bench_printer *p, const bench_result *r);
void bench_print_end(bench_printer *p);

/* Writes the sweep plot: one panel per (swept setting, test), tokens/s against the setting's
 * values, one polyline per combination of the other settings. `swept` names fields of
 * bench_result ("n_threads", "n_batch", "n_ubatch", "type_k", "type_v", "n_gpu_layers"). */
int bench_write_svg(const char *path, const bench_result *r, int n, const char *const *swept,
                    int n_swept);

/* Machine facts. */
double bench_copy_bandwidth_gbps(int n_threads); /* memcpy, (read + written) bytes / s */
const char *bench_cpu_info(void);                /* /proc/cpuinfo model name */
const char *bench_build_commit(void);            /* git HEAD of the source tree, or "unknown" */
int bench_n_cpus(void);

#endif
