/* `tern bench` output: a markdown table like llama-bench's (plus GB/s and % of the copy bandwidth
 * for generation tests), and JSON / JSONL / CSV records whose field names are llama-bench's so
 * existing scripts read both. Rows are printed as soon as each test finishes. */
#include <string.h>

#include "bench.h"
#include "formats/types.h"
#include "kv/kv.h"

void bench_test_name(const bench_result *r, char *buf, size_t size) {
    if (r->n_prompt > 0 && r->n_gen > 0)
        snprintf(buf, size, "pp%d+tg%d", r->n_prompt, r->n_gen);
    else if (r->n_prompt > 0)
        snprintf(buf, size, "pp%d", r->n_prompt);
    else
        snprintf(buf, size, "tg%d", r->n_gen);
    if (r->n_depth > 0) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, " @ d%d", r->n_depth);
    }
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void csv_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* ---- markdown ---- */

typedef struct md_col {
    const char *name;
    int width;
    bool right;
} md_col;

static int md_columns(const bench_printer *p, md_col *c) {
    int n = 0;
    c[n++] = (md_col){"model", 30, false};
    c[n++] = (md_col){"size", 10, true};
    c[n++] = (md_col){"params", 10, true};
    c[n++] = (md_col){"backend", 7, false};
    if (p->cols.ngl) c[n++] = (md_col){"ngl", 3, true};
    c[n++] = (md_col){"threads", 7, true};
    if (p->cols.n_batch) c[n++] = (md_col){"n_batch", 7, true};
    if (p->cols.n_ubatch) c[n++] = (md_col){"n_ubatch", 8, true};
    if (p->cols.type_k) c[n++] = (md_col){"type_k", 6, false};
    if (p->cols.type_v) c[n++] = (md_col){"type_v", 6, false};
    if (p->cols.fa) c[n++] = (md_col){"fa", 2, true};
    c[n++] = (md_col){"test", 15, true};
    c[n++] = (md_col){"t/s", 20, true};
    c[n++] = (md_col){"GB/s", 8, true};
    c[n++] = (md_col){"BW %", 6, true};
    return n;
}

static void md_cell(FILE *f, const md_col *c, const char *v) {
    fprintf(f, c->right ? " %*s |" : " %-*s |", c->width, v);
}

static void fmt_size(char *b, size_t n, double bytes) {
    if (bytes >= 1024.0 * 1024 * 1024)
        snprintf(b, n, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else
        snprintf(b, n, "%.2f MiB", bytes / (1024.0 * 1024));
}

static void fmt_params(char *b, size_t n, double params) {
    if (params >= 1e9)
        snprintf(b, n, "%.2f B", params / 1e9);
    else
        snprintf(b, n, "%.2f M", params / 1e6);
}

static void md_header(bench_printer *p) {
    md_col c[16];
    int n = md_columns(p, c);
    fputc('|', p->out);
    for (int i = 0; i < n; i++) md_cell(p->out, &c[i], c[i].name);
    fputs("\n|", p->out);
    for (int i = 0; i < n; i++) {
        char dash[64];
        int w = c[i].width < 60 ? c[i].width : 60;
        memset(dash, '-', (size_t)w);
        dash[w] = 0;
        if (c[i].right) dash[w - 1] = ':';
        fprintf(p->out, " %s |", dash);
    }
    fputc('\n', p->out);
}

static void md_row(bench_printer *p, const bench_result *r) {
    md_col c[16];
    int n = md_columns(p, c);
    char v[160];
    fputc('|', p->out);
    for (int i = 0; i < n; i++) {
        const char *name = c[i].name;
        v[0] = 0;
        if (!strcmp(name, "model")) snprintf(v, sizeof v, "%s", r->model_type);
        else if (!strcmp(name, "size")) fmt_size(v, sizeof v, (double)r->model_size);
        else if (!strcmp(name, "params")) fmt_params(v, sizeof v, (double)r->model_n_params);
        else if (!strcmp(name, "backend")) snprintf(v, sizeof v, "%s", r->backend);
        else if (!strcmp(name, "ngl")) snprintf(v, sizeof v, "%d", r->n_gpu_layers);
        else if (!strcmp(name, "threads")) snprintf(v, sizeof v, "%d", r->n_threads);
        else if (!strcmp(name, "n_batch")) snprintf(v, sizeof v, "%d", r->n_batch);
        else if (!strcmp(name, "n_ubatch")) snprintf(v, sizeof v, "%d", r->n_ubatch);
        else if (!strcmp(name, "type_k")) snprintf(v, sizeof v, "%s", tn_kv_type_name(r->type_k));
        else if (!strcmp(name, "type_v")) snprintf(v, sizeof v, "%s", tn_kv_type_name(r->type_v));
        else if (!strcmp(name, "fa")) snprintf(v, sizeof v, "%d", r->flash_attn);
        else if (!strcmp(name, "test")) bench_test_name(r, v, sizeof v);
        else if (!strcmp(name, "t/s")) snprintf(v, sizeof v, "%.2f ± %.2f", r->avg_ts, r->stddev_ts);
        else if (!strcmp(name, "GB/s") && r->gbps > 0) snprintf(v, sizeof v, "%.2f", r->gbps);
        else if (!strcmp(name, "BW %") && r->bw_pct > 0) snprintf(v, sizeof v, "%.1f", r->bw_pct);
        /* "±" is two bytes but one column: pad one more so the table lines up */
        md_col cc = c[i];
        if (!strcmp(name, "t/s")) cc.width++;
        md_cell(p->out, &cc, v);
    }
    fputc('\n', p->out);
}

/* ---- records ---- */

static void json_record(bench_printer *p, const bench_result *r) {
    FILE *f = p->out;
    char test[64];
    bench_test_name(r, test, sizeof test);
    fputs("{\"build_commit\": ", f);
    json_str(f, p->build_commit ? p->build_commit : "unknown");
    fputs(", \"build_number\": 0, \"cpu_info\": ", f);
    json_str(f, p->cpu_info ? p->cpu_info : "");
    fputs(", \"gpu_info\": \"\", \"backends\": ", f);
    json_str(f, r->backend);
    fputs(", \"model_filename\": ", f);
    json_str(f, r->model_filename);
    fputs(", \"model_type\": ", f);
    json_str(f, r->model_type);
    fprintf(f,
            ", \"model_size\": %llu, \"model_n_params\": %llu, \"n_batch\": %d, \"n_ubatch\": %d, "
            "\"n_threads\": %d, \"type_k\": \"%s\", \"type_v\": \"%s\", \"n_gpu_layers\": %d, "
            "\"flash_attn\": %s, \"n_prompt\": %d, \"n_gen\": %d, \"n_depth\": %d, \"test\": ",
            (unsigned long long)r->model_size, (unsigned long long)r->model_n_params, r->n_batch,
            r->n_ubatch, r->n_threads, tn_kv_type_name(r->type_k), tn_kv_type_name(r->type_v),
            r->n_gpu_layers, r->flash_attn ? "true" : "false", r->n_prompt, r->n_gen, r->n_depth);
    json_str(f, test);
    fprintf(f, ", \"test_time\": \"%s\", \"repetitions\": %d, \"avg_ns\": %.0f, \"stddev_ns\": %.0f, "
               "\"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"samples_ns\": [",
            r->test_time, r->n_reps, r->avg_ns, r->stddev_ns, r->avg_ts, r->stddev_ts);
    for (int i = 0; i < r->n_samples; i++) fprintf(f, "%s%.0f", i ? ", " : "", r->samples_ns[i]);
    fputs("], \"samples_ts\": [", f);
    double tokens = (double)r->n_prompt + r->n_gen;
    for (int i = 0; i < r->n_samples; i++)
        fprintf(f, "%s%.6f", i ? ", " : "", tokens / (r->samples_ns[i] / 1e9));
    fprintf(f, "], \"bytes_per_token\": %.0f, \"gbps\": %.4f, \"bw_pct\": %.3f, \"peak_gbps\": %.3f",
            r->bytes_per_token, r->gbps, r->bw_pct, r->peak_gbps);
    if (r->profile_json) fprintf(f, ", \"profile\": %s", r->profile_json);
    fputc('}', f);
}

static const char *const csv_fields[] = {
    "build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename",
    "model_type", "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k",
    "type_v", "n_gpu_layers", "flash_attn", "n_prompt", "n_gen", "n_depth", "test", "test_time",
    "repetitions", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts",
    "bytes_per_token", "gbps", "bw_pct", "peak_gbps"};
enum { N_CSV_FIELDS = sizeof csv_fields / sizeof csv_fields[0] };

static void csv_record(bench_printer *p, const bench_result *r) {
    FILE *f = p->out;
    char test[64];
    bench_test_name(r, test, sizeof test);
    csv_str(f, p->build_commit ? p->build_commit : "unknown");
    fputs(",0,", f);
    csv_str(f, p->cpu_info ? p->cpu_info : "");
    fputs(",\"\",", f);
    csv_str(f, r->backend);
    fputc(',', f);
    csv_str(f, r->model_filename);
    fputc(',', f);
    csv_str(f, r->model_type);
    fprintf(f, ",%llu,%llu,%d,%d,%d,\"%s\",\"%s\",%d,%d,%d,%d,%d,", (unsigned long long)r->model_size,
            (unsigned long long)r->model_n_params, r->n_batch, r->n_ubatch, r->n_threads,
            tn_kv_type_name(r->type_k), tn_kv_type_name(r->type_v), r->n_gpu_layers, r->flash_attn,
            r->n_prompt, r->n_gen, r->n_depth);
    csv_str(f, test);
    fprintf(f, ",\"%s\",%d,%.0f,%.0f,%.6f,%.6f,\"", r->test_time, r->n_reps, r->avg_ns,
            r->stddev_ns, r->avg_ts, r->stddev_ts);
    for (int i = 0; i < r->n_samples; i++) fprintf(f, "%s%.0f", i ? "," : "", r->samples_ns[i]);
    fputs("\",\"", f);
    double tokens = (double)r->n_prompt + r->n_gen;
    for (int i = 0; i < r->n_samples; i++)
        fprintf(f, "%s%.6f", i ? "," : "", tokens / (r->samples_ns[i] / 1e9));
    fprintf(f, "\",%.0f,%.4f,%.3f,%.3f\n", r->bytes_per_token, r->gbps, r->bw_pct, r->peak_gbps);
}

void bench_print_begin(bench_printer *p) {
    p->n_printed = 0;
    if (p->fmt == BENCH_MD) md_header(p);
    if (p->fmt == BENCH_JSON) fputs("[\n", p->out);
    if (p->fmt == BENCH_CSV)
        for (int i = 0; i < N_CSV_FIELDS; i++)
            fprintf(p->out, "%s%s", csv_fields[i], i + 1 < N_CSV_FIELDS ? "," : "\n");
    fflush(p->out);
}

void bench_print_result(bench_printer *p, const bench_result *r) {
    switch (p->fmt) {
    case BENCH_MD: md_row(p, r); break;
    case BENCH_JSON:
        if (p->n_printed) fputs(",\n", p->out);
        fputs("  ", p->out);
        json_record(p, r);
        break;
    case BENCH_JSONL:
        json_record(p, r);
        fputc('\n', p->out);
        break;
    case BENCH_CSV: csv_record(p, r); break;
    }
    p->n_printed++;
    fflush(p->out);
}

void bench_print_end(bench_printer *p) {
    if (p->fmt == BENCH_JSON) fputs("\n]\n", p->out);
    fflush(p->out);
}
