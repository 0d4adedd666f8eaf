/* tern: one binary, subcommands in the style of llama.cpp's tools. Each subcommand lives in its
 * own tools/cmd_*.c; the table below is the only place that lists them. A subcommand whose file is
 * not part of this build says so instead of running. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef int (*cmd_fn)(int argc, char **argv);

/* Weak, so the binary links while a subcommand is still being written. */
#define DECLARE_CMD(fn) __attribute__((weak)) int fn(int argc, char **argv);
DECLARE_CMD(cmd_chat)
DECLARE_CMD(cmd_bench)
DECLARE_CMD(cmd_perplexity)
DECLARE_CMD(cmd_quantize)
DECLARE_CMD(cmd_convert)
DECLARE_CMD(cmd_info)
DECLARE_CMD(cmd_tokenize)
DECLARE_CMD(cmd_serve)

static const struct {
    const char *name;
    cmd_fn fn;
    const char *help;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "chat with a model using its chat template"},
    {"bench", cmd_bench, "measure prompt and generation speed (llama-bench style)"},
    {"perplexity", cmd_perplexity, "perplexity / KL divergence over a text file"},
    {"quantize", cmd_quantize, "convert a GGUF to another weight type"},
    {"convert", cmd_convert, "Hugging Face safetensors checkpoint -> GGUF"},
    {"info", cmd_info, "model metadata, tensors and memory needs"},
    {"tokenize", cmd_tokenize, "show the tokens of a text"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: tern COMMAND [options]   (tern COMMAND --help for its flags)\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s%s\n", commands[i].name, commands[i].help,
                commands[i].fn ? "" : " (not available in this build yet)");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        if (!commands[i].fn) {
            fprintf(stderr, "tern: '%s' is not implemented yet\n", argv[1]);
            return 1;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "tern: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 1;
}
