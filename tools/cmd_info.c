/* `tern info`: what is inside a GGUF file - metadata (arrays summarised), the tensor table,
 * parameter count, bytes per weight type, and the memory a context of a given size needs
 * (weights + KV cache of the -ctk/-ctv types + recurrent state), KV bytes per token of every cache
 * type and the longest context that fits in available memory. Reads the file with the GGUF reader only, so it
 * works for any architecture, including ones tern cannot run. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "kv/kv.h"

static void usage(FILE *f) {
    fprintf(f, "usage: tern info MODEL.gguf [options]\n"
               "  -c, --ctx-size N   context size for the memory estimate (default: the model's\n"
               "                     training context)\n"
               "  -ctk, -ctv T       KV cache types for K and V in the estimate (default f16)\n"
               "  --no-tensors       leave out the tensor table\n"
               "  -h, --help         this text\n");
}

static const char *gguf_type_name(tn_gguf_type t) {
    static const char *const n[] = {"u8",  "i8",   "u16", "i16",    "u32", "i32", "f32",
                                    "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "?";
}

static size_t scalar_size(tn_gguf_type t) {
    switch (t) {
    case TN_GGUF_U8: case TN_GGUF_I8: case TN_GGUF_BOOL: return 1;
    case TN_GGUF_U16: case TN_GGUF_I16: return 2;
    case TN_GGUF_U32: case TN_GGUF_I32: case TN_GGUF_F32: return 4;
    case TN_GGUF_U64: case TN_GGUF_I64: case TN_GGUF_F64: return 8;
    default: return 0;
    }
}

/* Prints one scalar stored little-endian at p. */
static void print_scalar(tn_gguf_type t, const unsigned char *p) {
    uint64_t u = 0;
    size_t n = scalar_size(t);
    for (size_t i = 0; i < n; i++) u |= (uint64_t)p[i] << (8 * i);
    switch (t) {
    case TN_GGUF_U8: case TN_GGUF_U16: case TN_GGUF_U32: case TN_GGUF_U64:
        printf("%" PRIu64, u);
        break;
    case TN_GGUF_I8: printf("%d", (int8_t)u); break;
    case TN_GGUF_I16: printf("%d", (int16_t)u); break;
    case TN_GGUF_I32: printf("%d", (int32_t)u); break;
    case TN_GGUF_I64: printf("%" PRId64, (int64_t)u); break;
    case TN_GGUF_BOOL: printf("%s", u ? "true" : "false"); break;
    case TN_GGUF_F32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        printf("%g", f);
        break;
    }
    case TN_GGUF_F64: {
        double d;
        memcpy(&d, &u, 8);
        printf("%g", d);
        break;
    }
    default: printf("?");
    }
}

/* A string, quoted, with control characters escaped and long ones cut. */
static void print_str(const char *s, uint64_t len, uint64_t max) {
    putchar('"');
    for (uint64_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('"');
    if (len > max) printf("... (%" PRIu64 " bytes)", len);
}

static void print_kv(const tn_gguf *g, int64_t i) {
    tn_gguf_type t = tn_gguf_kv_type(g, i);
    printf("  %-44s ", tn_gguf_kv_key(g, i));
    size_t raw_size;
    const unsigned char *raw = tn_gguf_kv_raw(g, i, &raw_size);
    if (t == TN_GGUF_STRING) {
        uint64_t len = 0;
        for (int b = 0; b < 8; b++) len |= (uint64_t)raw[b] << (8 * b);
        print_str((const char *)raw + 8, len, 200);
    } else if (t == TN_GGUF_ARRAY) {
        tn_gguf_type at = tn_gguf_arr_type(g, i);
        uint64_t n = tn_gguf_arr_len(g, i);
        printf("[%s x %" PRIu64 "]", gguf_type_name(at), n);
        uint64_t show = n < 6 ? n : 6;
        for (uint64_t j = 0; j < show; j++) {
            printf(j ? ", " : " ");
            if (at == TN_GGUF_STRING) {
                uint64_t len;
                const char *s = tn_gguf_arr_str(g, i, j, &len);
                print_str(s, len, 40);
            } else if (scalar_size(at)) {
                print_scalar(at, (const unsigned char *)tn_gguf_arr_data(g, i) + j * scalar_size(at));
            }
        }
        if (n > show) printf(", ...");
    } else {
        print_scalar(t, raw);
    }
    putchar('\n');
}

static void human(double bytes, char *buf, size_t n) {
    if (bytes >= 1024.0 * 1024 * 1024) snprintf(buf, n, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else if (bytes >= 1024.0 * 1024) snprintf(buf, n, "%.2f MiB", bytes / (1024.0 * 1024));
    else if (bytes >= 1024.0) snprintf(buf, n, "%.2f KiB", bytes / 1024.0);
    else snprintf(buf, n, "%.0f B", bytes);
}

/* "<arch>.<suffix>" as u32 (first element if it is a per-layer array); def if absent. */
static uint32_t arch_u32(const tn_gguf *g, const char *arch, const char *suffix, uint32_t def) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    if (tn_gguf_get_u32(g, key, &v) == 0) return v;
    int32_t *arr = NULL;
    uint64_t n = 0;
    if (tn_gguf_get_arr_i32(g, key, &arr, &n) == 0 && n > 0) {
        int32_t mx = 0;
        for (uint64_t i = 0; i < n; i++)
            if (arr[i] > mx) mx = arr[i];
        free(arr);
        return (uint32_t)mx;
    }
    free(arr);
    return def;
}

/* KV bytes per token over n_attn layers; 0 if a type cannot hold the head size. */
static uint64_t kv_per_token(int type_k, int type_v, uint32_t n_attn, uint32_t n_head_kv,
                             uint32_t head_k, uint32_t head_v) {
    uint64_t k = tn_kv_row_size(type_k, (int64_t)n_head_kv * head_k, (int)head_k);
    uint64_t v = tn_kv_row_size(type_v, (int64_t)n_head_kv * head_v, (int)head_v);
    return k && v ? n_attn * (k + v) : 0;
}

static void print_memory(const tn_gguf *g, uint64_t weight_bytes, long n_ctx_arg, int type_k,
                         int type_v) {
    const char *arch = NULL;
    if (tn_gguf_get_str(g, "general.architecture", &arch) != 0) {
        printf("\nmemory: no general.architecture, cannot estimate the KV cache\n");
        return;
    }
    uint32_t n_layer = arch_u32(g, arch, "block_count", 0);
    uint32_t n_embd = arch_u32(g, arch, "embedding_length", 0);
    uint32_t n_head = arch_u32(g, arch, "attention.head_count", 0);
    uint32_t n_head_kv = arch_u32(g, arch, "attention.head_count_kv", n_head);
    uint32_t head_k = arch_u32(g, arch, "attention.key_length", n_head ? n_embd / n_head : 0);
    uint32_t head_v = arch_u32(g, arch, "attention.value_length", head_k);
    uint32_t n_ctx_train = arch_u32(g, arch, "context_length", 0);
    uint32_t interval = arch_u32(g, arch, "full_attention_interval", 0);
    uint64_t n_ctx = n_ctx_arg > 0 ? (uint64_t)n_ctx_arg : n_ctx_train;
    if (!n_layer || !n_head || !n_ctx) {
        printf("\nmemory: %s.block_count / attention.head_count / context size missing, cannot "
               "estimate the KV cache\n",
               arch);
        return;
    }
    /* Hybrid models (Qwen3.5) keep a KV cache only in every interval-th layer; the others hold
     * a fixed-size recurrent state instead. */
    uint32_t n_attn = interval ? n_layer / interval : n_layer;
    uint64_t per_tok = kv_per_token(type_k, type_v, n_attn, n_head_kv, head_k, head_v);
    uint64_t kv = n_ctx * per_tok;
    uint64_t rec = 0;
    uint32_t conv = arch_u32(g, arch, "ssm.conv_kernel", 0);
    uint32_t inner = arch_u32(g, arch, "ssm.inner_size", 0);
    uint32_t state = arch_u32(g, arch, "ssm.state_size", 0);
    uint32_t groups = arch_u32(g, arch, "ssm.group_count", 0);
    if (inner && state) {
        uint64_t per_layer = 4ull * ((uint64_t)inner * state +
                                     (conv ? conv - 1 : 0) * ((uint64_t)inner + 2ull * groups * state));
        rec = per_layer * (n_layer - n_attn);
    }
    char a[32], b[32], c[32], d[32];
    human((double)weight_bytes, a, sizeof a);
    human((double)kv, b, sizeof b);
    human((double)rec, c, sizeof c);
    human((double)(weight_bytes + kv + rec), d, sizeof d);
    printf("\nmemory at context %" PRIu64 " (one sequence, KV cache %s/%s):\n", n_ctx,
           tn_kv_type_name(type_k), tn_kv_type_name(type_v));
    printf("  weights          %12s\n", a);
    if (per_tok)
        printf("  KV cache         %12s  (%u attention layers x %u KV heads x (%u + %u) x %" PRIu64
               " tokens, %" PRIu64 " bytes per token)\n",
               b, n_attn, n_head_kv, head_k, head_v, n_ctx, per_tok);
    else
        printf("  KV cache         %12s  (cache type cannot hold heads of %u / %u)\n", "-", head_k,
               head_v);
    if (rec) printf("  recurrent state  %12s  (%u layers)\n", c, n_layer - n_attn);
    printf("  total            %12s  (plus activations and logits scratch)\n", d);
    /* Every cache type (K and V alike): bytes per token, and the context that fits in the
     * memory available now after the weights and the recurrent state. */
    uint64_t avail = cli_mem_available();
    char av[32] = "unknown";
    if (avail) human((double)avail, av, sizeof av);
    printf("\nKV cache per token and longest context in available memory (%s; K and V of one "
           "type):\n",
           av);
    static const int types[] = {TN_TYPE_F16, TN_TYPE_BF16, TN_TYPE_Q8_0, TN_TYPE_Q4_0,
                                TN_KV_TURBO4, TN_KV_TURBO3, TN_KV_TURBO2};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        uint64_t pt = kv_per_token(types[i], types[i], n_attn, n_head_kv, head_k, head_v);
        if (!pt) {
            printf("  %-8s   not supported for head size %u / %u\n", tn_kv_type_name(types[i]),
                   head_k, head_v);
            continue;
        }
        printf("  %-8s %8" PRIu64 " bytes/token", tn_kv_type_name(types[i]), pt);
        if (avail > weight_bytes + rec)
            printf("  %12" PRIu64 " tokens", (avail - weight_bytes - rec) / pt);
        printf("\n");
    }
}

typedef struct type_sum {
    uint64_t tensors, params, bytes;
} type_sum;

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    long n_ctx = 0;
    int type_k = TN_TYPE_F16, type_v = TN_TYPE_F16;
    bool tensors = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (cli_int(argc, argv, &i, 1, 1L << 24, &n_ctx)) return 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (cli_str(argc, argv, &i, &path)) return 1;
        } else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k") || !strcmp(a, "-ctv") ||
                   !strcmp(a, "--cache-type-v")) {
            const char *s;
            if (cli_str(argc, argv, &i, &s)) return 1;
            int t = cli_cache_type(s);
            if (t < 0) return 1;
            if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) type_k = t;
            else type_v = t;
        } else if (!strcmp(a, "--no-tensors")) {
            tensors = false;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "error: unknown option '%s' (see tern info --help)\n", a);
            return 1;
        } else if (path) {
            fprintf(stderr, "error: more than one model given ('%s' and '%s')\n", path, a);
            return 1;
        } else {
            path = a;
        }
    }
    if (!path) {
        fprintf(stderr, "error: no model given\n");
        usage(stderr);
        return 1;
    }
    tn_gguf *g = tn_gguf_open(path);
    if (!g) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        return 1;
    }
    char sz[32];
    human((double)tn_gguf_file_size(g), sz, sizeof sz);
    printf("file: %s\n  GGUF v%u, %s, %" PRId64 " metadata entries, %" PRId64
           " tensors, alignment %zu\n",
           path, tn_gguf_version(g), sz, tn_gguf_n_kv(g), tn_gguf_n_tensors(g),
           tn_gguf_alignment(g));
    printf("\nmetadata:\n");
    for (int64_t i = 0; i < tn_gguf_n_kv(g); i++) print_kv(g, i);

    type_sum sums[TN_TYPE_COUNT] = {{0}};
    uint64_t total_params = 0, total_bytes = 0;
    if (tensors)
        printf("\ntensors:\n  %-40s %-8s %-24s %12s\n", "name", "type", "shape", "bytes");
    for (int64_t i = 0; i < tn_gguf_n_tensors(g); i++) {
        const tn_gguf_tensor *t = tn_gguf_tensor_at(g, i);
        uint64_t n = 1;
        char shape[64] = "";
        size_t o = 0;
        for (int d = 0; d < t->n_dims; d++) {
            n *= (uint64_t)t->ne[d];
            o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%" PRId64, d ? " x " : "",
                                  t->ne[d]);
            if (o >= sizeof shape) o = sizeof shape - 1;
        }
        if (tensors)
            printf("  %-40s %-8s %-24s %12zu\n", t->name, tn_type_name(t->type), shape, t->nbytes);
        total_params += n;
        total_bytes += t->nbytes;
        if (t->type >= 0 && t->type < TN_TYPE_COUNT) {
            sums[t->type].tensors++;
            sums[t->type].params += n;
            sums[t->type].bytes += t->nbytes;
        }
    }
    human((double)total_bytes, sz, sizeof sz);
    printf("\nparameters: %" PRIu64 " (%.3f M), tensor data %s, %.2f bits per weight\n",
           total_params, total_params / 1e6, sz,
           total_params ? 8.0 * (double)total_bytes / (double)total_params : 0.0);
    printf("\nby type:\n  %-8s %8s %14s %14s %7s\n", "type", "tensors", "params", "bytes", "share");
    for (int t = 0; t < TN_TYPE_COUNT; t++) {
        if (!sums[t].tensors) continue;
        printf("  %-8s %8" PRIu64 " %14" PRIu64 " %14" PRIu64 " %6.1f%%\n", tn_type_name(t),
               sums[t].tensors, sums[t].params, sums[t].bytes,
               total_bytes ? 100.0 * (double)sums[t].bytes / (double)total_bytes : 0.0);
    }
    print_memory(g, total_bytes, n_ctx, type_k, type_v);
    tn_gguf_close(g);
    return 0;
}
