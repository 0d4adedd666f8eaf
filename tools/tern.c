/* tern command-line entry point (placeholder until the subcommands land). */
#include <stdio.h>

int main(void) {
    fprintf(stderr, "tern: not built yet\n");
    return 1;
}
