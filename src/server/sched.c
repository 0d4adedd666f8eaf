/* Continuous batching over slots (see sched.h). Everything a slot holds (sampler, detokenizer,
 * generated text) is touched only by the inference thread; jobs are shared with connection
 * threads under one mutex, held only briefly around each decode step (admit before, publish
 * after), never during tn_decode. */
#include "server/sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct slot {
    tn_job *job; /* NULL: free */
    int32_t seq;
    int32_t n_past; /* tokens of this sequence in the cache (= the next position) */
    int32_t n_fed;  /* prompt tokens fed so far */
    bool has_tok;   /* tok was sampled and must be fed next step */
    int32_t tok;
    int32_t out; /* logits row of this step, -1 if none */
    tn_sampler *smp;
    tn_detok_stream *dt;
    char *gen; /* all generated text (stop strings are searched in it) */
    size_t gen_len, gen_cap;
    size_t ready;     /* bytes of gen that may be published */
    size_t published; /* bytes of gen already copied to the job */
    int32_t n_gen;
    tn_finish fin;
    char err[256];
} slot;

struct tn_sched {
    tn_model *m;
    tn_ctx *ctx;
    int n_slots;
    int32_t n_ctx, n_batch, n_vocab;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the inference thread: new job, cancel, stop */
    tn_job *q_head, *q_tail;
    int n_queued;
    int32_t reserved; /* cells reserved by admitted jobs */
    unsigned long long n_done, n_cancelled;
    bool stopping, joined;
    pthread_t thread;
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_logits;
};

void tn_job_init(tn_job *j) {
    memset(j, 0, sizeof *j);
    j->max_tokens = -1;
    j->sp = tn_sampler_default_params();
    pthread_cond_init(&j->cv, NULL);
}

void tn_job_destroy(tn_job *j) {
    pthread_cond_destroy(&j->cv);
    free(j->text);
    j->text = NULL;
}

void tn_sched_lock(tn_sched *s) { pthread_mutex_lock(&s->mu); }
void tn_sched_unlock(tn_sched *s) { pthread_mutex_unlock(&s->mu); }

void tn_sched_wait(tn_sched *s, tn_job *j, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&j->cv, &s->mu, &ts);
}

static int append(char **p, size_t *len, size_t *cap, const char *b, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *q = realloc(*p, c);
        if (!q) return -1;
        *p = q;
        *cap = c;
    }
    if (n) memcpy(*p + *len, b, n);
    *len += n;
    (*p)[*len] = 0;
    return 0;
}

/* With the lock held: hands the job back (its output is final) and frees the slot. */
static void release(tn_sched *s, slot *sl, tn_finish fin, const char *err) {
    tn_job *j = sl->job;
    if (sl->ready > sl->published && fin != TN_FINISH_ERROR && fin != TN_FINISH_CANCELLED &&
        append(&j->text, &j->text_len, &j->text_cap, sl->gen + sl->published, sl->ready - sl->published)) {
        fin = TN_FINISH_ERROR;
        err = "out of memory";
    }
    j->n_gen = sl->n_gen;
    j->finish = fin;
    s->n_done++;
    s->n_cancelled += fin == TN_FINISH_CANCELLED;
    if (err) snprintf(j->error, sizeof j->error, "%s", err);
    pthread_cond_broadcast(&j->cv);
    s->reserved -= j->reserve;
    tn_kv_seq_rm(s->ctx, sl->seq, 0, -1);
    tn_sampler_free(sl->smp);
    tn_detok_stream_free(sl->dt);
    free(sl->gen);
    int32_t seq = sl->seq;
    memset(sl, 0, sizeof *sl);
    sl->seq = seq;
    sl->out = -1;
}

static void finish_queued(tn_job *j, tn_finish fin, const char *err) {
    j->queued = false;
    j->finish = fin;
    if (err) snprintf(j->error, sizeof j->error, "%s", err);
    pthread_cond_broadcast(&j->cv);
}

/* With the lock held: moves queued jobs into free slots while their reservation fits (FIFO: a
 * large job at the head is not overtaken, so it cannot starve). */
static void admit(tn_sched *s) {
    while (s->q_head) {
        tn_job *j = s->q_head;
        if (s->reserved + j->reserve > s->n_ctx) return;
        slot *sl = NULL;
        for (int i = 0; i < s->n_slots && !sl; i++)
            if (!s->slots[i].job) sl = &s->slots[i];
        if (!sl) return;
        s->q_head = j->next;
        if (!s->q_head) s->q_tail = NULL;
        s->n_queued--;
        j->queued = false;
        j->next = NULL;
        sl->job = j;
        sl->out = -1;
        s->reserved += j->reserve;
        sl->smp = tn_sampler_new(&j->sp, s->n_vocab);
        sl->dt = tn_detok_stream_new(s->m, false, false);
        if (!sl->smp || !sl->dt) {
            release(s, sl, TN_FINISH_ERROR, "out of memory");
            continue;
        }
        /* the prompt counts for the repetition penalty, as in tern run */
        for (int32_t i = 0; i < j->n_prompt; i++) tn_sampler_accept(sl->smp, j->prompt[i]);
    }
}

/* Earliest occurrence of a stop string that ends after `from` (the text before was searched
 * already); gen_len if none. */
static size_t find_stop(const tn_job *j, const char *t, size_t len, size_t from) {
    size_t best = len;
    for (int i = 0; i < j->n_stop; i++) {
        size_t k = strlen(j->stop[i]);
        if (k == 0) continue;
        size_t st = from >= k - 1 ? from - (k - 1) : 0;
        const char *p = st < len ? memmem(t + st, len - st, j->stop[i], k) : NULL;
        if (p && (size_t)(p - t) < best) best = (size_t)(p - t);
    }
    return best;
}

/* Bytes at the end of the text that could be the start of a stop string: held back until the
 * next tokens show whether the stop string follows. */
static size_t stop_holdback(const tn_job *j, const char *t, size_t len) {
    size_t hold = 0;
    for (int i = 0; i < j->n_stop; i++) {
        size_t k = strlen(j->stop[i]);
        if (k == 0) continue;
        for (size_t n = k - 1 < len ? k - 1 : len; n > hold; n--)
            if (memcmp(t + len - n, j->stop[i], n) == 0) {
                hold = n;
                break;
            }
    }
    return hold;
}

/* After a decode: picks the slot's next token and extends its text. */
static void sample_slot(tn_sched *s, slot *sl) {
    tn_job *j = sl->job;
    const int32_t tok = tn_sample(sl->smp, s->ctx, sl->out);
    sl->out = -1;
    if (tok < 0) {
        sl->fin = TN_FINISH_ERROR;
        snprintf(sl->err, sizeof sl->err, "sampling: %s", tn_last_error());
        return;
    }
    size_t old = sl->gen_len;
    if (tn_token_is_eog(s->m, tok)) {
        sl->fin = TN_FINISH_STOP;
    } else {
        tn_sampler_accept(sl->smp, tok);
        sl->n_gen++;
        size_t n;
        const char *p = tn_detok_stream_push(sl->dt, tok, &n);
        if (!p || append(&sl->gen, &sl->gen_len, &sl->gen_cap, p, n)) {
            sl->fin = TN_FINISH_ERROR;
            snprintf(sl->err, sizeof sl->err, "%s", p ? "out of memory" : tn_last_error());
            return;
        }
        if (sl->n_gen >= j->max_gen) sl->fin = TN_FINISH_LENGTH;
        else {
            sl->has_tok = true;
            sl->tok = tok;
        }
    }
    if (sl->fin) { /* the held-back bytes of an unfinished character end the text */
        size_t n;
        const char *p = tn_detok_stream_flush(sl->dt, &n);
        if (p && n && append(&sl->gen, &sl->gen_len, &sl->gen_cap, p, n)) {
            sl->fin = TN_FINISH_ERROR;
            snprintf(sl->err, sizeof sl->err, "out of memory");
            return;
        }
    }
    size_t cut = find_stop(j, sl->gen ? sl->gen : "", sl->gen_len, old);
    if (cut < sl->gen_len) {
        sl->gen_len = cut;
        sl->gen[cut] = 0;
        sl->fin = TN_FINISH_STOP;
        sl->has_tok = false;
    }
    sl->ready = sl->fin ? sl->gen_len : sl->gen_len - stop_holdback(j, sl->gen, sl->gen_len);
}

/* One decode step over all active slots (without the lock). */
static void step(tn_sched *s) {
    int32_t n = 0, n_out = 0;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job || !sl->has_tok || sl->fin) continue;
        s->b_tok[n] = sl->tok;
        s->b_pos[n] = sl->n_past;
        s->b_seq[n] = sl->seq;
        s->b_logits[n] = 1;
        sl->out = n_out++;
        n++;
    }
    int32_t budget = s->n_batch;
    for (int i = 0; i < s->n_slots && budget > 0; i++) {
        slot *sl = &s->slots[i];
        tn_job *j = sl->job;
        if (!j || sl->fin || sl->n_fed >= j->n_prompt) continue;
        int32_t k = j->n_prompt - sl->n_fed < budget ? j->n_prompt - sl->n_fed : budget;
        for (int32_t t = 0; t < k; t++) {
            s->b_tok[n] = j->prompt[sl->n_fed + t];
            s->b_pos[n] = sl->n_fed + t;
            s->b_seq[n] = sl->seq;
            s->b_logits[n] = 0;
            n++;
        }
        if (sl->n_fed + k == j->n_prompt) {
            s->b_logits[n - 1] = 1;
            sl->out = n_out++;
        }
        budget -= k;
    }
    if (n == 0) return;
    tn_batch b = {.n_tokens = n, .token = s->b_tok, .pos = s->b_pos, .seq_id = s->b_seq,
                  .logits = s->b_logits};
    if (tn_decode(s->ctx, &b)) {
        /* nothing of the batch was kept: every slot in it fails (the reservation should make
         * this impossible; it is here for backend errors) */
        for (int i = 0; i < s->n_slots; i++) {
            slot *sl = &s->slots[i];
            bool in_batch = sl->job && !sl->fin && (sl->has_tok || sl->n_fed < sl->job->n_prompt);
            if (!in_batch) continue;
            sl->fin = TN_FINISH_ERROR;
            snprintf(sl->err, sizeof sl->err, "decode failed: %s", tn_last_error());
        }
        return;
    }
    for (int32_t i = 0; i < n; i++) { /* advance the sequences */
        slot *sl = NULL;
        for (int k = 0; k < s->n_slots && !sl; k++)
            if (s->slots[k].seq == s->b_seq[i]) sl = &s->slots[k];
        sl->n_past = s->b_pos[i] + 1;
        if (sl->has_tok) sl->has_tok = false; /* its generated token is in the cache now */
        else sl->n_fed = s->b_pos[i] + 1;
    }
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].job && s->slots[i].out >= 0) sample_slot(s, &s->slots[i]);
}

/* With the lock held: copies new text to the jobs and releases finished slots. */
static void publish(tn_sched *s) {
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        tn_job *j = sl->job;
        if (!j) continue;
        if (sl->fin) {
            release(s, sl, sl->fin, sl->fin == TN_FINISH_ERROR ? sl->err : NULL);
            continue;
        }
        if (sl->ready > sl->published || sl->n_gen != j->n_gen) {
            if (append(&j->text, &j->text_len, &j->text_cap, sl->gen + sl->published,
                       sl->ready - sl->published)) {
                release(s, sl, TN_FINISH_ERROR, "out of memory");
                continue;
            }
            sl->published = sl->ready;
            j->n_gen = sl->n_gen;
            pthread_cond_broadcast(&j->cv);
        }
    }
}

static void *run(void *arg) {
    tn_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (int i = 0; i < s->n_slots; i++)
            if (s->slots[i].job && s->slots[i].job->cancel) release(s, &s->slots[i], TN_FINISH_CANCELLED, NULL);
        if (s->stopping) break;
        admit(s);
        int active = 0;
        for (int i = 0; i < s->n_slots; i++) active += s->slots[i].job != NULL;
        if (!active) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        step(s);
        pthread_mutex_lock(&s->mu);
        publish(s);
    }
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].job) release(s, &s->slots[i], TN_FINISH_ERROR, "the server is shutting down");
    while (s->q_head) {
        tn_job *j = s->q_head;
        s->q_head = j->next;
        finish_queued(j, TN_FINISH_ERROR, "the server is shutting down");
    }
    s->q_tail = NULL;
    s->n_queued = 0;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

tn_sched *tn_sched_new(tn_model *m, tn_ctx *ctx, int n_slots, int32_t n_batch) {
    tn_sched *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m;
    s->ctx = ctx;
    s->n_slots = n_slots;
    s->n_ctx = tn_ctx_n_ctx(ctx);
    s->n_batch = n_batch > 0 ? n_batch : 512;
    s->n_vocab = tn_model_n_vocab(m);
    size_t cap = (size_t)n_slots + (size_t)s->n_batch;
    s->slots = calloc((size_t)n_slots, sizeof *s->slots);
    s->b_tok = malloc(cap * sizeof(int32_t));
    s->b_pos = malloc(cap * sizeof(int32_t));
    s->b_seq = malloc(cap * sizeof(int32_t));
    s->b_logits = malloc(cap);
    if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_logits) goto fail;
    for (int i = 0; i < n_slots; i++) {
        s->slots[i].seq = i;
        s->slots[i].out = -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, run, s)) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        goto fail;
    }
    return s;
fail:
    free(s->slots);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_logits);
    free(s);
    return NULL;
}

void tn_sched_stop(tn_sched *s) {
    pthread_mutex_lock(&s->mu);
    bool joined = s->joined;
    s->stopping = true;
    s->joined = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!joined) pthread_join(s->thread, NULL);
}

void tn_sched_free(tn_sched *s) {
    if (!s) return;
    tn_sched_stop(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->slots);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_logits);
    free(s);
}

int tn_sched_submit(tn_sched *s, tn_job *j, char *err, size_t cap) {
    if (j->n_prompt <= 0) return snprintf(err, cap, "the prompt is empty"), 400;
    for (int32_t i = 0; i < j->n_prompt; i++)
        if (j->prompt[i] < 0 || j->prompt[i] >= s->n_vocab)
            return snprintf(err, cap, "prompt token %d is outside the vocabulary (0..%d)",
                            j->prompt[i], s->n_vocab - 1), 400;
    if (j->n_prompt >= s->n_ctx)
        return snprintf(err, cap,
                        "the prompt has %d tokens, more than the context size (%d tokens, -c, "
                        "shared by all %d slots) allows", j->n_prompt, s->n_ctx, s->n_slots), 400;
    int64_t max_gen = j->max_tokens;
    if (max_gen < 0) { /* not given: the slot's share of the context, or what is left of it all */
        max_gen = s->n_ctx / s->n_slots - j->n_prompt;
        if (max_gen <= 0) max_gen = s->n_ctx - j->n_prompt;
    } else if (j->n_prompt + max_gen > s->n_ctx) {
        return snprintf(err, cap,
                        "the prompt (%d tokens) plus max_tokens (%lld) exceeds the context size "
                        "(%d tokens, -c, shared by all %d slots)", j->n_prompt,
                        (long long)max_gen, s->n_ctx, s->n_slots), 400;
    }
    j->max_gen = (int32_t)max_gen;
    j->reserve = j->n_prompt + j->max_gen;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return snprintf(err, cap, "the server is shutting down"), 503;
    }
    if (j->max_gen == 0) { /* nothing to generate */
        finish_queued(j, TN_FINISH_LENGTH, NULL);
    } else {
        j->queued = true;
        j->next = NULL;
        if (s->q_tail) s->q_tail->next = j;
        else s->q_head = j;
        s->q_tail = j;
        s->n_queued++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void tn_sched_cancel(tn_sched *s, tn_job *j) {
    pthread_mutex_lock(&s->mu);
    if (j->finish == TN_FINISH_NONE) {
        j->cancel = true;
        if (j->queued) { /* never admitted: unlink it here */
            tn_job **pp = &s->q_head, *prev = NULL;
            while (*pp && *pp != j) prev = *pp, pp = &(*pp)->next;
            if (*pp) {
                *pp = j->next;
                if (s->q_tail == j) s->q_tail = prev;
                s->n_queued--;
            }
            finish_queued(j, TN_FINISH_CANCELLED, NULL);
            s->n_done++;
            s->n_cancelled++;
        } else {
            pthread_cond_signal(&s->cv);
        }
        while (j->finish == TN_FINISH_NONE) pthread_cond_wait(&j->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

void tn_sched_get_stats(tn_sched *s, tn_sched_stats *st) {
    pthread_mutex_lock(&s->mu);
    st->n_slots = s->n_slots;
    st->n_busy = 0;
    for (int i = 0; i < s->n_slots; i++) st->n_busy += s->slots[i].job != NULL;
    st->n_queued = s->n_queued;
    st->n_ctx = s->n_ctx;
    st->n_reserved = s->reserved;
    st->n_done = s->n_done;
    st->n_cancelled = s->n_cancelled;
    pthread_mutex_unlock(&s->mu);
}
