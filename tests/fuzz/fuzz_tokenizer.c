/* libFuzzer target for the tokenizer: each input picks a vocabulary and flags and is encoded,
 * decoded and stream-decoded; tok_fuzz_check.h lists the layout and the properties. A property
 * failure prints the reason and aborts (libFuzzer saves the input); ASan + UBSan catch memory
 * and arithmetic errors. The vocabularies are loaded once, from the repository root (run.sh runs
 * from there). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz/tok_fuzz_check.h"
#include "vocab_data.h"

static tf_set g_set;
static char *g_dir;

static void cleanup(void) {
    tf_free(&g_set);
    tv_cleanup(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    g_dir = tv_extract();
    if (!g_dir || tf_load(&g_set, g_dir)) {
        fprintf(stderr, "fuzz_tokenizer: run from the repository root (needs tests/data/vocab)\n");
        exit(1);
    }
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *why = tf_check(&g_set, data, size);
    if (why) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", why);
        abort();
    }
    return 0;
}
