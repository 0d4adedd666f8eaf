/* `tern tokenize`: show the tokens of a text, llama-tokenize style ("  id -> 'piece'" per line,
 * or the id list with --ids). Reads only the vocabulary, so it works on vocabulary-only GGUF
 * files (llama.cpp's ggml-vocab-*.gguf) as well as on full models. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/gguf.h"
#include "formats/tokenizer.h"

int cmd_tokenize(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f, "usage: tern tokenize [options]\n"
               "  -m, --model FILE      GGUF model or vocabulary (default: the bundled tiny-llama)\n"
               "  -p, --prompt TEXT     text to tokenize\n"
               "  -f, --file FILE       read the text from a file\n"
               "  --stdin               read the text from standard input\n"
               "  --ids                 print only the ids, as [1, 2, 3]\n"
               "  --no-bos              do not add BOS even if the vocabulary asks for it\n"
               "  --no-parse-special    take special-token texts (<|im_start|>, </s>, ...) as plain\n"
               "                        text (by default they become their tokens, as in\n"
               "                        llama-tokenize; --parse-special is accepted too)\n"
               "  --show-count          print the number of tokens at the end\n"
               "  -h, --help            this text\n");
}

/* Reads all of stdin (NUL-terminated). */
static char *read_stdin(size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) free(buf);
            buf = p;
        }
    }
    if (!buf) {
        fprintf(stderr, "error: out of memory reading standard input\n");
        return NULL;
    }
    buf[len] = 0;
    *n = len;
    return buf;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    bool from_stdin = false, ids_only = false, no_bos = false, parse_special = true,
         show_count = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            rc = cli_str(argc, argv, &i, &model);
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            rc = cli_str(argc, argv, &i, &prompt);
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            rc = cli_str(argc, argv, &i, &file);
        } else if (!strcmp(a, "--stdin")) {
            from_stdin = true;
        } else if (!strcmp(a, "--ids")) {
            ids_only = true;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = true;
        } else if (!strcmp(a, "--parse-special")) {
            parse_special = true;
        } else if (!strcmp(a, "--no-parse-special")) {
            parse_special = false;
        } else if (!strcmp(a, "--show-count")) {
            show_count = true;
        } else {
            fprintf(stderr, "error: unknown option '%s' (see tern tokenize --help)\n", a);
            return 1;
        }
        if (rc) return 1;
    }
    if ((prompt != NULL) + (file != NULL) + from_stdin != 1) {
        fprintf(stderr, "error: give exactly one of -p TEXT, -f FILE or --stdin\n");
        return 1;
    }
    if (!model) model = cli_default_model();

    char *owned = NULL;
    size_t len = 0;
    if (file) {
        if (!(owned = cli_read_file(file, &len))) return 1;
    } else if (from_stdin) {
        if (!(owned = read_stdin(&len))) return 1;
    } else {
        len = strlen(prompt);
    }
    const char *text = owned ? owned : prompt;

    int rc = 1;
    int32_t *ids = NULL;
    tn_gguf *g = tn_gguf_open(model);
    tn_vocab *v = g ? tn_vocab_load(g) : NULL;
    if (!v) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        goto done;
    }
    bool bos = !no_bos && tn_vocab_add_bos(v);
    int32_t n = tn_vocab_encode(v, text, len, bos, parse_special, NULL, 0);
    if (n == INT32_MIN) {
        fprintf(stderr, "error: %s\n", tn_last_error());
        goto done;
    }
    n = n < 0 ? -n : n;
    ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "error: out of memory for %d tokens\n", n);
        goto done;
    }
    n = tn_vocab_encode(v, text, len, bos, parse_special, ids, n);
    if (ids_only) {
        putchar('[');
        for (int32_t i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", ids[i]);
        printf("]\n");
    } else {
        char small[256];
        for (int32_t i = 0; i < n; i++) {
            char *piece = small, *heap = NULL;
            int32_t k = tn_vocab_token_to_piece(v, ids[i], true, small, sizeof small);
            if (k < 0 && k != INT32_MIN && (heap = malloc((size_t)-k)))
                k = tn_vocab_token_to_piece(v, ids[i], true, piece = heap, -k);
            printf("%6d -> '", ids[i]);
            if (k > 0) fwrite(piece, 1, (size_t)k, stdout);
            printf("'\n");
            free(heap);
        }
    }
    if (show_count) printf("Total number of tokens: %d\n", n);
    rc = 0;
done:
    free(ids);
    free(owned);
    tn_vocab_free(v);
    tn_gguf_close(g);
    return rc;
}
