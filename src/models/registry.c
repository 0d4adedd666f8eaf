/* Architecture registry: maps GGUF general.architecture to the family implementing it. */
#include <string.h>

#include "runtime/model.h"

extern const tn_arch tn_arch_llama, tn_arch_qwen2, tn_arch_qwen3;

static const tn_arch *const archs[] = {&tn_arch_llama, &tn_arch_qwen2, &tn_arch_qwen3};

const tn_arch *tn_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i]->name, name) == 0) return archs[i];
    return NULL;
}

const char *tn_arch_list(void) { return "llama, qwen2, qwen3"; }
