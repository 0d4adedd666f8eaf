/* Tokenizer fuzz regressions: every input kept in tests/data/tok-fuzz.tar.xz (the seeds, the minimized
 * corpus of a 10-minute libFuzzer run and any input that once failed) goes through the fuzzer's
 * checks again (tests/fuzz/tok_fuzz_check.h: encode never fails and its size query agrees, ids in
 * range, streaming == whole detokenization with no chunk ending inside a completable character,
 * exact round trips on GPT-2's vocabulary under every pre-tokenizer and on llama-spm), under
 * SAN=1 with ASan + UBSan. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fuzz/tok_fuzz_check.h"
#include "vocab_data.h"

/* One archive rather than 800 tiny files: the repository travels to the GPU machine under a size
 * limit that counts file blocks. */
#define CORPUS_ARCHIVE "tests/data/tok-fuzz.tar.xz"

int main(void) {
    /* the split check itself: a character cut after 2 of its 3 bytes is caught; a cut between
     * two lone lead bytes (neither can complete) or before a character is not */
    CHECK(tf_splits_char("a\xe3\x81\x82", 4, 2) && tf_splits_char("a\xe3\x81\x82", 4, 3) &&
              !tf_splits_char("a\xe3\x81\x82", 4, 1) && !tf_splits_char("\xe0\xe0", 2, 1) &&
              !tf_splits_char("\xe0\x80\x80", 3, 1),
          "tf_splits_char");
    char *dir = tv_extract();
    tf_set set;
    CHECK(dir && tf_load(&set, dir) == 0, "load the fuzz vocabularies");
    if (!dir) return tn_test_done("test_tok_fuzz");
    CHECK(set.n == 18, "18 vocabularies, got %d", set.n);
    char corpus[4200], cmd[8600];
    snprintf(corpus, sizeof corpus, "%s/tok-fuzz", dir);
    snprintf(cmd, sizeof cmd, "xz -dc '%s' | tar -xf - -C '%s'", CORPUS_ARCHIVE, dir);
    CHECK(system(cmd) == 0, "'%s' failed (needs xz-utils and tar)", cmd);
    DIR *d = opendir(corpus);
    CHECK(d != NULL, "open %s", corpus);
    int n_files = 0, n_failed = 0, per_vocab[TF_MAX] = {0};
    size_t total = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", corpus, e->d_name);
        size_t size = 0;
        char *data = tn_test_read_file(path, &size);
        CHECK(data != NULL, "read %s", path);
        if (!data) continue;
        const char *why = tf_check(&set, (const uint8_t *)data, size);
        CHECK(why == NULL, "%s: %s", path, why);
        n_failed += why != NULL;
        if (size >= 2) per_vocab[(unsigned char)data[0] % set.n]++;
        n_files++;
        total += size;
        free(data);
    }
    if (d) closedir(d);
    /* the corpus must reach every vocabulary, or a pre-tokenizer goes untested */
    int unreached = 0;
    for (int i = 0; i < set.n; i++)
        unreached += per_vocab[i] == 0;
    CHECK(n_files >= 15 && unreached == 0, "%d inputs, %d vocabularies unreached", n_files,
          unreached);
    printf("tokenizer fuzz corpus: %d inputs (%zu bytes), %d failed\n", n_files, total, n_failed);
    tf_free(&set);
    tv_cleanup(dir);
    return tn_test_done("test_tok_fuzz");
}
