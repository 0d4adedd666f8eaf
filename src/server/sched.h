/* The scheduler: one inference thread owns the tn_ctx and runs continuous batching over a fixed
 * number of slots (sequence ids 0..n_slots-1). Each step builds ONE batch holding the next token of
 * every generating slot plus prompt tokens of newly admitted requests (up to n_batch tokens of
 * prompt per step), decodes it, samples each slot's next token with the slot's own sampler, and
 * publishes the new text to the job. Jobs wait in a FIFO queue for a free slot and for room in the
 * shared KV cache: a job reserves prompt + max_tokens cells when admitted, so a running sequence
 * never finds the cache full. A finished slot's cells are freed with tn_kv_seq_rm.
 *
 * Connection threads own their jobs: they fill the input, submit, read the output under the
 * scheduler's lock (tn_sched_lock / tn_sched_wait), and free the job only once it is released
 * (finish != TN_FINISH_NONE), after which the scheduler never touches it again. */
#ifndef TN_SERVER_SCHED_H
#define TN_SERVER_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern.h"

typedef enum {
    TN_FINISH_NONE = 0, /* still queued or generating */
    TN_FINISH_STOP,     /* end-of-generation token or a stop string */
    TN_FINISH_LENGTH,   /* max_tokens reached */
    TN_FINISH_ERROR,    /* see error */
    TN_FINISH_CANCELLED,
} tn_finish;

typedef struct tn_job tn_job;
struct tn_job {
    /* input: set before tn_sched_submit, read-only afterwards */
    const int32_t *prompt;
    int32_t n_prompt;
    int64_t max_tokens; /* -1: up to the slot's share of the context (see tn_sched_submit) */
    tn_sampler_params sp;
    char *const *stop; /* stop strings (borrowed), n_stop of them */
    int n_stop;
    /* output: read and written under the scheduler's lock */
    char *text; /* generated text published so far (stop strings cut, held-back prefixes not yet) */
    size_t text_len, text_cap;
    int32_t n_gen; /* tokens generated */
    tn_finish finish;
    char error[256];
    bool cancel; /* set through tn_sched_cancel */
    /* scheduler private */
    pthread_cond_t cv;
    int32_t max_gen, reserve;
    bool queued;
    tn_job *next;
};

typedef struct tn_sched tn_sched;

/* Starts the inference thread. ctx must allow n_slots sequences (n_seq_max); both model and ctx
 * are borrowed and must outlive the scheduler. n_batch: most prompt tokens fed per step (the
 * generating slots' tokens come first), so long prompts do not stall the others for long. */
tn_sched *tn_sched_new(tn_model *model, tn_ctx *ctx, int n_slots, int32_t n_batch);
/* Stops the thread: jobs still queued or running finish with an error, later submits get 503.
 * Waiting and cancelling still work, so connection threads can wind down before tn_sched_free. */
void tn_sched_stop(tn_sched *s);
void tn_sched_free(tn_sched *s); /* stops first if needed */

void tn_job_init(tn_job *j);
void tn_job_destroy(tn_job *j); /* only once released */

/* Queues a job. Returns 0; or an HTTP status with a message in err: 400 if the prompt is empty or
 * prompt + max_tokens cannot fit in the context, 503 if the scheduler is stopping. */
int tn_sched_submit(tn_sched *s, tn_job *j, char *err, size_t cap);
void tn_sched_lock(tn_sched *s);
void tn_sched_unlock(tn_sched *s);
/* With the lock held: waits until the job changes or timeout_ms passes. */
void tn_sched_wait(tn_sched *s, tn_job *j, int timeout_ms);
/* Asks the scheduler to drop the job (the client went away) and waits until it is released.
 * Called without the lock. */
void tn_sched_cancel(tn_sched *s, tn_job *j);

typedef struct tn_sched_stats {
    int n_slots, n_busy, n_queued;
    int32_t n_ctx, n_reserved;
    unsigned long long n_done, n_cancelled; /* jobs finished since the start; of them cancelled */
} tn_sched_stats;
void tn_sched_get_stats(tn_sched *s, tn_sched_stats *st);

#endif
