/* Facts about the machine for `tern bench`: copy bandwidth (the ceiling a decode step is measured
 * against on the CPU), CPU model, build commit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

#ifndef TN_SOURCE_DIR
#define TN_SOURCE_DIR "."
#endif

int bench_n_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

typedef struct copy_job {
    char *dst;
    const char *src;
    size_t bytes;
    int reps;
} copy_job;

static void *copy_worker(void *arg) {
    copy_job *j = arg;
    for (int r = 0; r < j->reps; r++) memcpy(j->dst, j->src, j->bytes);
    return NULL;
}

/* Each thread copies its own slice of two 512 MiB buffers (far larger than any cache). The rate
 * counts bytes read plus bytes written, like docs/ANCHORS.md's device-to-device figure; the best
 * of a few rounds is kept. */
double bench_copy_bandwidth_gbps(int n_threads) {
    const size_t total = (size_t)512 << 20;
    if (n_threads <= 0) n_threads = bench_n_cpus();
    if (n_threads > 256) n_threads = 256;
    char *src = malloc(total), *dst = malloc(total);
    pthread_t tid[256];
    copy_job jobs[256];
    double best = 0;
    if (!src || !dst) goto done;
    memset(src, 1, total);
    memset(dst, 2, total); /* fault every page in before timing */
    size_t slice = total / (size_t)n_threads / 64 * 64;
    for (int round = 0; round < 4; round++) {
        double t0 = cli_now_ms();
        int started = 0;
        for (int t = 0; t < n_threads; t++) {
            jobs[t] = (copy_job){dst + (size_t)t * slice, src + (size_t)t * slice, slice, 2};
            if (t == 0 || pthread_create(&tid[t], NULL, copy_worker, &jobs[t]) == 0) started = t + 1;
        }
        copy_worker(&jobs[0]);
        for (int t = 1; t < started; t++) pthread_join(tid[t], NULL);
        double s = (cli_now_ms() - t0) / 1e3;
        double gbps = 2.0 * 2.0 * (double)slice * started / s / 1e9;
        if (round > 0 && gbps > best) best = gbps; /* round 0 warms up */
    }
done:
    free(src);
    free(dst);
    return best;
}

const char *bench_cpu_info(void) {
    static char info[256];
    if (info[0]) return info;
    snprintf(info, sizeof info, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return info;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (!v) continue;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        snprintf(info, sizeof info, "%s", v);
        info[strcspn(info, "\n")] = 0;
        break;
    }
    fclose(f);
    return info;
}

/* Reads .git/HEAD (and the ref it names, loose or packed) of the tree tern was built from. */
const char *bench_build_commit(void) {
    static char commit[48];
    if (commit[0]) return commit;
    snprintf(commit, sizeof commit, "unknown");
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/.git/HEAD", TN_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f) return commit;
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok) return commit;
    line[strcspn(line, "\n")] = 0;
    if (strncmp(line, "ref: ", 5) != 0) {
        snprintf(commit, sizeof commit, "%.12s", line);
        return commit;
    }
    char ref[256];
    snprintf(ref, sizeof ref, "%s", line + 5);
    snprintf(path, sizeof path, "%s/.git/%s", TN_SOURCE_DIR, ref);
    if ((f = fopen(path, "r"))) {
        if (fgets(line, sizeof line, f)) snprintf(commit, sizeof commit, "%.12s", line);
        fclose(f);
        return commit;
    }
    snprintf(path, sizeof path, "%s/.git/packed-refs", TN_SOURCE_DIR);
    if ((f = fopen(path, "r"))) {
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            const char *sp = strchr(line, ' ');
            if (sp && strcmp(sp + 1, ref) == 0) {
                snprintf(commit, sizeof commit, "%.12s", line);
                break;
            }
        }
        fclose(f);
    }
    return commit;
}
