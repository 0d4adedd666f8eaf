/* `tern serve`: an OpenAI-compatible HTTP server (flags follow llama.cpp's llama-server). The
 * engine is src/server; this file parses flags, handles SIGINT/SIGTERM and runs it. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat/chat_template.h"
#include "cli.h"
#include "formats/types.h"
#include "kv/kv.h"
#include "server/server.h"

int cmd_serve(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f,
            "usage: tern serve [options]   (OpenAI-compatible HTTP API, see docs/serve.md)\n"
            "  -m, --model FILE         GGUF model (default: the bundled tiny-llama)\n"
            "  --host ADDR              address to listen on (default 127.0.0.1)\n"
            "  --port N                 port (default 8080; 0 = any free port)\n"
            "  -c, --ctx-size N         KV cache tokens in total, shared by all slots as in\n"
            "                           llama-server (default: the model's context, at most 4096,\n"
            "                           times --parallel)\n"
            "  -np, --parallel N        slots: requests decoded together (default 4)\n"
            "  -b, --batch-size N       most prompt tokens per decode step (default 512)\n"
            "  -t, --threads N          CPU threads (default: all cores)\n"
            "  -ngl, --n-gpu-layers N   layers on the GPU (needs a CUDA build)\n"
            "  -ctk, --cache-type-k T   KV cache type for K (f16, bf16, q8_0, q4_0,\n"
            "                           turbo2, turbo3, turbo4, f32; default f16)\n"
            "  -ctv, --cache-type-v T   KV cache type for V\n"
            "  --chat-template NAME     template family instead of the model's: %s\n"
            "  -a, --alias NAME         model id reported by the API (default: the file name)\n"
            "  --temp X, --top-k N, --top-p X, --min-p X, --repeat-penalty X, --repeat-last-n N\n"
            "                           defaults for requests that leave these out (as tern run)\n"
            "  -s, --seed N             default seed of requests without one (default: random)\n"
            "  --timeout N              seconds to read a request / keep an idle connection (60)\n"
            "  --max-body N             largest request body in bytes (default 8388608)\n"
            "  --max-conn N             open connections at most (default 256)\n"
            "  --log-disable            no per-request log lines\n"
            "  -h, --help               this text\n",
            tn_chat_family_list());
}

static int parse(int argc, char **argv, tn_server_params *p) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *s;
        long v = 0;
        double d = 0;
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) rc = cli_str(argc, argv, &i, &p->model_path);
        else if (!strcmp(a, "--host")) rc = cli_str(argc, argv, &i, &p->host);
        else if (!strcmp(a, "--port")) { rc = cli_int(argc, argv, &i, 0, 65535, &v); p->port = (int)v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { rc = cli_int(argc, argv, &i, 0, 1L << 24, &v); p->n_ctx = (int32_t)v; }
        else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) { rc = cli_int(argc, argv, &i, 1, 4096, &v); p->n_parallel = (int)v; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { rc = cli_int(argc, argv, &i, 1, 1L << 20, &v); p->n_batch = (int32_t)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { rc = cli_int(argc, argv, &i, 0, 1024, &v); p->n_threads = (int)v; }
        else if (!strcmp(a, "-ngl") || !strcmp(a, "--n-gpu-layers") || !strcmp(a, "--gpu-layers")) { rc = cli_int(argc, argv, &i, 0, 100000, &v); p->n_gpu_layers = (int)v; }
        else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) rc = cli_str(argc, argv, &i, &s) || (p->type_k = cli_cache_type(s)) < 0;
        else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v")) rc = cli_str(argc, argv, &i, &s) || (p->type_v = cli_cache_type(s)) < 0;
        else if (!strcmp(a, "--chat-template")) rc = cli_str(argc, argv, &i, &p->chat_template);
        else if (!strcmp(a, "-a") || !strcmp(a, "--alias")) rc = cli_str(argc, argv, &i, &p->alias);
        else if (!strcmp(a, "--temp")) { rc = cli_float(argc, argv, &i, 0, 100, &d); p->sampling.temp = (float)d; }
        else if (!strcmp(a, "--top-k")) { rc = cli_int(argc, argv, &i, 0, 1L << 30, &v); p->sampling.top_k = (int32_t)v; }
        else if (!strcmp(a, "--top-p")) { rc = cli_float(argc, argv, &i, 0, 1, &d); p->sampling.top_p = (float)d; }
        else if (!strcmp(a, "--min-p")) { rc = cli_float(argc, argv, &i, 0, 1, &d); p->sampling.min_p = (float)d; }
        else if (!strcmp(a, "--repeat-penalty")) { rc = cli_float(argc, argv, &i, 0.01, 100, &d); p->sampling.repeat_penalty = (float)d; }
        else if (!strcmp(a, "--repeat-last-n")) { rc = cli_int(argc, argv, &i, 0, 1 << 20, &v); p->sampling.repeat_last_n = (int32_t)v; }
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) { rc = cli_int(argc, argv, &i, 0, 0xFFFFFFFFL, &v); p->sampling.seed = (uint64_t)v; p->seed_set = true; }
        else if (!strcmp(a, "--timeout")) { rc = cli_int(argc, argv, &i, 1, 86400, &v); p->timeout_s = (int)v; }
        else if (!strcmp(a, "--max-body")) { rc = cli_int(argc, argv, &i, 1024, 1L << 30, &v); p->max_body = (size_t)v; }
        else if (!strcmp(a, "--max-conn")) { rc = cli_int(argc, argv, &i, 1, 65536, &v); p->max_conn = (int)v; }
        else if (!strcmp(a, "--log-disable")) p->quiet = true;
        else {
            fprintf(stderr, "error: unknown option '%s' (see tern serve --help)\n", a);
            return -1;
        }
        if (rc) return -1;
    }
    return 0;
}

static tn_server *g_server; /* for the signal handler only */

static void on_signal(int sig) {
    (void)sig;
    if (g_server) tn_server_stop(g_server);
}

int cmd_serve(int argc, char **argv) {
    tn_server_params p = tn_server_default_params();
    if (parse(argc, argv, &p)) return 1;
    if (!p.model_path) p.model_path = cli_default_model();
    signal(SIGPIPE, SIG_IGN); /* a client that goes away must not kill the server */
    double t0 = cli_now_ms();
    tn_server *s = tn_server_new(&p);
    if (!s) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        return 1;
    }
    g_server = s;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr,
            "serve: %s loaded in %.0f ms; %d slots sharing a %d-token KV cache (%s/%s)\n"
            "serve: listening on http://%s:%d (Ctrl-C to stop)\n",
            p.model_path, cli_now_ms() - t0, p.n_parallel, tn_server_n_ctx(s),
            tn_kv_type_name(p.type_k), tn_kv_type_name(p.type_v), p.host, tn_server_port(s));
    int rc = tn_server_run(s);
    g_server = NULL;
    tn_server_free(s);
    fprintf(stderr, "serve: stopped\n");
    return rc;
}
