/* Per-op profiler: a decorator around a context's backend op table that forwards every op to the
 * real backend and records its wall time (after waiting for the device when the backend has a
 * `sync` op) and the bytes it must move, aggregated per op and weight kind. Also the cost model a
 * benchmark needs: bytes a decode step reads (weights, KV cache).
 *
 * Bytes are what the op must touch at minimum, not what the hardware moved:
 *  - matmul: the weight (+ bias) once, the input rows and the output rows;
 *  - attention: K and V of the n_kv visible cells once (a flash-attention kernel reads each cell
 *    once per step), q and the output; rope_store: q, k, v and the K/V rows written to the cache;
 *  - embed: one table row per token; elementwise ops: their inputs and outputs.
 * "state" bytes are the part that is weights or KV cache (what a decode step streams from memory);
 * the rest are activations (small, usually in cache). FLOPs: 2 per multiply-add; attention counts
 * q.k and p.v over pos + 1 visible cells per token (single-sequence approximation). */
#ifndef TN_RUNTIME_PROFILE_H
#define TN_RUNTIME_PROFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tern.h"

typedef struct tn_profile tn_profile;

typedef struct tn_profile_row {
    char op[16];     /* "matmul", "attention", "rmsnorm", ..., "begin", "end", "read" */
    char what[40];   /* weight kind without the layer ("ffn_down", "output"), "" if none */
    uint64_t calls;
    double ns;          /* total wall time */
    double state_bytes; /* weights / KV cache read or written */
    double act_bytes;   /* activations read or written */
    double flops;
} tn_profile_row;

/* Starts profiling every op the context runs. The profiler belongs to the context (freed by
 * tn_ctx_free; the pointer is valid until then). Attaching twice returns the same profiler. NULL
 * with an error on failure. It starts paused: call tn_profile_resume() around what to measure. */
tn_profile *tn_profile_attach(tn_ctx *ctx);
void tn_profile_resume(tn_profile *p);
void tn_profile_pause(tn_profile *p);
void tn_profile_reset(tn_profile *p);

int tn_profile_n_rows(const tn_profile *p);
const tn_profile_row *tn_profile_row_at(const tn_profile *p, int i); /* sorted by time, desc */
/* Sum over all rows whose op is `op` (NULL: every row). */
tn_profile_row tn_profile_total(const tn_profile *p, const char *op);
uint64_t tn_profile_n_steps(const tn_profile *p);  /* micro-batches (begin..end) recorded */
uint64_t tn_profile_n_tokens(const tn_profile *p); /* tokens in those micro-batches */
double tn_profile_step_ns(const tn_profile *p);    /* wall time from each begin to its end */

/* Readable table (per step: time, share, bytes, GB/s, % of peak_gbps, GFLOP/s, % of
 * peak_gflops; a peak <= 0 leaves its column out) and the same as a JSON object. */
void tn_profile_print(const tn_profile *p, FILE *f, double peak_gbps, double peak_gflops);
void tn_profile_json(const tn_profile *p, FILE *f, double peak_gbps, double peak_gflops);

/* ---- cost model ---- */
/* Bytes of weights a one-token decode step reads: every matmul weight and norm once, one row of
 * the token embedding (all of it when it doubles as the output matrix). */
uint64_t tn_model_decode_weight_bytes(const tn_model *m);
/* Bytes of K plus V per cache cell over all layers for these cache types; 0 if unknown. */
uint64_t tn_model_kv_bytes_per_cell(const tn_model *m, int type_k, int type_v);
/* Name of the backend the model runs on ("CPU", "CUDA"). */
const char *tn_model_backend_name(const tn_model *m);

#endif
