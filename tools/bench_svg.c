/* `tern bench --sweep` plot: hand-written SVG, one panel per (swept setting, test) with tokens/s
 * on a linear y axis from 0 and the setting's values as evenly spaced categories on x; one
 * polyline per combination of the model and the other settings, a legend, and each point also as
 * a <circle> carrying its exact value and the index of its result in the JSON output (so tests
 * and scripts can check the picture against the numbers). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "formats/types.h"
#include "kv/kv.h"

enum { PANEL_W = 960, PANEL_H = 380, LEFT = 80, TOP = 40, PLOT_W = 520, PLOT_H = 270 };

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static const char *const settings[] = {"n_threads", "n_batch", "n_ubatch", "type_k", "type_v",
                                       "n_gpu_layers"};
enum { N_SETTINGS = sizeof settings / sizeof settings[0] };

static void setting_value(const bench_result *r, const char *name, char *buf, size_t size) {
    if (!strcmp(name, "n_threads")) snprintf(buf, size, "%d", r->n_threads);
    else if (!strcmp(name, "n_batch")) snprintf(buf, size, "%d", r->n_batch);
    else if (!strcmp(name, "n_ubatch")) snprintf(buf, size, "%d", r->n_ubatch);
    else if (!strcmp(name, "type_k")) snprintf(buf, size, "%s", tn_kv_type_name(r->type_k));
    else if (!strcmp(name, "type_v")) snprintf(buf, size, "%s", tn_kv_type_name(r->type_v));
    else if (!strcmp(name, "n_gpu_layers")) snprintf(buf, size, "%d", r->n_gpu_layers);
    else snprintf(buf, size, "?");
}

static bool is_swept(const char *name, const char *const *swept, int n_swept) {
    for (int i = 0; i < n_swept; i++)
        if (!strcmp(swept[i], name)) return true;
    return false;
}

/* The series a result belongs to in the panel of `setting`: its model and the other swept
 * settings (the unswept ones are the same for every result). */
static void series_label(const bench_result *r, const char *setting, const char *const *swept,
                         int n_swept, char *buf, size_t size) {
    snprintf(buf, size, "%s", r->model_type);
    for (int i = 0; i < N_SETTINGS; i++) {
        if (!strcmp(settings[i], setting) || !is_swept(settings[i], swept, n_swept)) continue;
        char v[32];
        setting_value(r, settings[i], v, sizeof v);
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, " %s=%s", settings[i], v);
    }
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* Tick step 1, 2 or 5 x 10^k giving at most 6 intervals up to at least `max`. */
static double nice_step(double max) {
    if (max <= 0) return 1;
    double raw = max / 5, p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* Distinct strings in order of first appearance; returns the count. */
static int add_unique(char (*list)[128], int n, int cap, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], s)) return n;
    if (n < cap) snprintf(list[n++], 128, "%s", s);
    return n;
}

static int index_of(char (*list)[128], int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], s)) return i;
    return -1;
}

enum { MAX_CAT = 64 };

static void panel(FILE *f, const bench_result *r, int n, const char *setting, const char *test,
                  const char *const *swept, int n_swept, int y0) {
    char(*xs)[128] = calloc(MAX_CAT, 128), (*series)[128] = calloc(MAX_CAT, 128);
    if (!xs || !series) goto done;
    int n_x = 0, n_s = 0;
    double ymax = 0;
    char name[64], v[128], lab[128];
    for (int i = 0; i < n; i++) {
        bench_test_name(&r[i], name, sizeof name);
        if (strcmp(name, test)) continue;
        setting_value(&r[i], setting, v, sizeof v);
        n_x = add_unique(xs, n_x, MAX_CAT, v);
        series_label(&r[i], setting, swept, n_swept, lab, sizeof lab);
        n_s = add_unique(series, n_s, MAX_CAT, lab);
        if (r[i].avg_ts > ymax) ymax = r[i].avg_ts;
    }
    double step = nice_step(ymax), ytop = step * ceil(ymax / step);
    if (ytop <= 0) ytop = step;
    int px0 = LEFT, py0 = y0 + TOP + PLOT_H; /* origin */
#define PX(i) (px0 + ((i) + 0.5) * PLOT_W / n_x)
#define PY(val) (py0 - (val) / ytop * PLOT_H)
    fprintf(f, "<g class=\"panel\" data-setting=\"%s\" data-test=\"%s\">\n", setting, test);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"%d\" font-size=\"16\">%s: tokens/s vs %s</text>\n",
            px0, y0 + 24, test, setting);
    fprintf(f, "<line class=\"axis-x\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n",
            px0, py0, px0 + PLOT_W, py0);
    fprintf(f, "<line class=\"axis-y\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n",
            px0, py0, px0, py0 - PLOT_H);
    for (double t = 0; t <= ytop * (1 + 1e-9); t += step) {
        double y = PY(t);
        fprintf(f,
                "<g class=\"ytick\" data-value=\"%g\"><line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" "
                "y2=\"%.2f\" stroke=\"#ccc\"/><text x=\"%d\" y=\"%.2f\" font-size=\"12\" "
                "text-anchor=\"end\">%g</text></g>\n",
                t, px0 - 5, y, px0 + PLOT_W, y, px0 - 8, y + 4, t);
    }
    for (int i = 0; i < n_x; i++) {
        fprintf(f,
                "<g class=\"xtick\" data-value=\"%s\"><line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" "
                "y2=\"%d\" stroke=\"black\"/><text x=\"%.2f\" y=\"%d\" font-size=\"12\" "
                "text-anchor=\"middle\">",
                xs[i], PX(i), py0, PX(i), py0 + 5, PX(i), py0 + 20);
        xml_text(f, xs[i]);
        fputs("</text></g>\n", f);
    }
    fprintf(f, "<text class=\"xlabel\" x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">%s</text>\n",
            px0 + PLOT_W / 2, py0 + 42, setting);
    fprintf(f,
            "<text class=\"ylabel\" x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 %d %d)\">tokens/s</text>\n",
            px0 - 55, py0 - PLOT_H / 2, px0 - 55, py0 - PLOT_H / 2);
    for (int s = 0; s < n_s; s++) {
        const char *color = palette[s % 10];
        fprintf(f, "<polyline class=\"series\" data-label=\"");
        xml_text(f, series[s]);
        fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
        /* in category order, so the line runs left to right */
        for (int xi = 0; xi < n_x; xi++)
            for (int i = 0; i < n; i++) {
                bench_test_name(&r[i], name, sizeof name);
                setting_value(&r[i], setting, v, sizeof v);
                series_label(&r[i], setting, swept, n_swept, lab, sizeof lab);
                if (strcmp(name, test) || strcmp(lab, series[s]) || index_of(xs, n_x, v) != xi) continue;
                fprintf(f, "%.2f,%.2f ", PX(xi), PY(r[i].avg_ts));
            }
        fputs("\"/>\n", f);
        for (int i = 0; i < n; i++) {
            bench_test_name(&r[i], name, sizeof name);
            setting_value(&r[i], setting, v, sizeof v);
            series_label(&r[i], setting, swept, n_swept, lab, sizeof lab);
            if (strcmp(name, test) || strcmp(lab, series[s])) continue;
            int xi = index_of(xs, n_x, v);
            fprintf(f,
                    "<circle class=\"point\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\" "
                    "data-series=\"%d\" data-x=\"%s\" data-y=\"%.6f\" data-result=\"%d\"/>\n",
                    PX(xi), PY(r[i].avg_ts), color, s, v, r[i].avg_ts, i);
        }
        int ly = y0 + TOP + 10 + s * 20;
        fprintf(f,
                "<g class=\"legend\"><rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                "<text x=\"%d\" y=\"%d\" font-size=\"12\">",
                px0 + PLOT_W + 20, ly - 4, color, px0 + PLOT_W + 40, ly);
        xml_text(f, series[s]);
        fputs("</text></g>\n", f);
    }
    fputs("</g><!--/panel-->\n", f);
#undef PX
#undef PY
done:
    free(xs);
    free(series);
}

int bench_write_svg(const char *path, const bench_result *r, int n, const char *const *swept,
                    int n_swept) {
    char(*tests)[128] = calloc(MAX_CAT, 128);
    if (!tests) return -1;
    int n_tests = 0;
    char name[64];
    for (int i = 0; i < n; i++) {
        bench_test_name(&r[i], name, sizeof name);
        n_tests = add_unique(tests, n_tests, MAX_CAT, name);
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        free(tests);
        return -1;
    }
    int n_panels = n_swept * n_tests;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            PANEL_W, PANEL_H * (n_panels > 0 ? n_panels : 1));
    int k = 0;
    for (int s = 0; s < n_swept; s++)
        for (int t = 0; t < n_tests; t++) panel(f, r, n, swept[s], tests[t], swept, n_swept, PANEL_H * k++);
    fputs("</svg>\n", f);
    free(tests);
    return fclose(f) == 0 ? 0 : -1;
}
