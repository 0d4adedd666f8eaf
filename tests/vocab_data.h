/* Test helper: the byte-level BPE and WordPiece test vocabularies (llama.cpp's ggml-vocab-*.gguf,
 * 0.6-4 MB each) are kept as one xz-compressed tar (tests/data/vocab/vocabs-bpe-wpm.tar.xz, 2.9
 * MB instead of 15) so the repository stays small. tv_extract() unpacks it with xz and tar into a
 * fresh directory under $TMPDIR (default /tmp); tv_cleanup() removes it. Their .inp/.out test
 * vectors are stored uncompressed beside the archive. Header-only (static functions). */
#ifndef TN_TESTS_VOCAB_DATA_H
#define TN_TESTS_VOCAB_DATA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TV_ARCHIVE "tests/data/vocab/vocabs-bpe-wpm.tar.xz"

/* Unpacks the archive; returns the directory (malloc'd) or NULL with a message on stderr. */
static char *tv_extract(void) {
    const char *tmp = getenv("TMPDIR");
    char *dir = malloc(4096);
    if (!dir) return NULL;
    snprintf(dir, 4096, "%s/tern-vocab-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "tv_extract: mkdtemp %s failed\n", dir);
        free(dir);
        return NULL;
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "xz -dc '%s' | tar -xf - -C '%s'", TV_ARCHIVE, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "tv_extract: '%s' failed (needs xz-utils and tar)\n", cmd);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "tv_extract: cleanup failed\n");
        free(dir);
        return NULL;
    }
    return dir;
}

static void tv_cleanup(char *dir) {
    if (!dir) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "tv_cleanup: '%s' failed\n", cmd);
    free(dir);
}

#endif
