/* `-tp N` (tensor parallelism over N GPUs) for tern run and tern bench; see tp_flag.c. */
#ifndef TN_TOOLS_TP_FLAG_H
#define TN_TOOLS_TP_FLAG_H

#include <stdbool.h>

#include "tern.h"
#include "tp/tp_plan.h"

/* Largest -tp accepted on the command line. */
#define TP_FLAG_MAX TN_TP_MAX_RANKS

/* Print the plan of a GGUF / of a synthetic shape and weight type over n GPUs, then the error
 * that the multi-GPU forward pass does not exist yet. Return 1 (the exit status) always. */
int tp_refuse_model(const char *path, int n, int type_k, int type_v);
int tp_refuse_synth(const char *shape, const char *wtype, bool pure, int n, int type_k, int type_v);

#endif
