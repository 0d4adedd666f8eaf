/* Shared helpers of the tern subcommands: flag parsing with clear errors, the default model's
 * path, timing, and UTF-8-safe streaming of token pieces. */
#ifndef TN_TOOLS_CLI_H
#define TN_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tern.h"

/* Parses argv[*i + 1] as the value of flag argv[*i] (advancing *i); prints an error and returns
 * -1 if it is missing or malformed or outside [lo, hi]. */
int cli_int(int argc, char **argv, int *i, long lo, long hi, long *out);
int cli_float(int argc, char **argv, int *i, double lo, double hi, double *out);
int cli_str(int argc, char **argv, int *i, const char **out);
/* KV cache type from a -ctk/-ctv value ("f16", "q8_0", ...); -1 with a message if unknown. */
int cli_cache_type(const char *name);
/* MemAvailable of /proc/meminfo in bytes; 0 if unknown. */
uint64_t cli_mem_available(void);

/* The bundled default model (models/tiny-llama/tiny-llama-Q8_0.gguf beside the source tree or
 * the binary), or $TERN_MODEL if set. */
const char *cli_default_model(void);
double cli_now_ms(void);
bool cli_file_exists(const char *path);
/* Reads a whole file (NUL-terminated); NULL with a message printed on failure. */
char *cli_read_file(const char *path, size_t *size);

/* Writes token pieces to `out` holding back an incomplete UTF-8 sequence until its last byte
 * arrives, so a multi-byte character split across tokens is never printed in halves. */
typedef struct cli_utf8_stream {
    char pending[8];
    int n_pending;
} cli_utf8_stream;
void cli_stream_write(cli_utf8_stream *s, FILE *out, const char *bytes, size_t n);
void cli_stream_flush(cli_utf8_stream *s, FILE *out);

int cmd_run(int argc, char **argv);

#endif
