/* The trainer's fields, shared by train.c (the loop) and train_checkpoint.c
 * (saving and restoring it). Not installed. */
#ifndef TL_TRAIN_INTERNAL_H
#define TL_TRAIN_INTERNAL_H

#include <stdio.h>
#include "timelayers/batcher.h"
#include "timelayers/train.h"

struct tl_trainer {
    tl_model *m;
    tl_optim *opt;
    const tl_vocab *vocab;
    const int32_t *valid;
    size_t nvalid;
    tl_train_config cfg;

    tl_batcher batcher;
    int32_t *xs, *ts;
    tl_tensor x, t;
    tl_real *values, *grads;
    size_t nparams;

    int epoch;          /* epochs completed */
    long step;          /* steps done */
    long iter;          /* steps done in the current epoch */
    double best_ppl;
    double base_lr;     /* the schedule's base rate */
    uint64_t data_hash; /* FNV-1a of the training ids: a resume must see the same data */
    size_t ntrain;
    double token_scale; /* loss -> mean loss per token: 1, or 1/T for the CS231n sum */
    tl_tensor *kept;    /* 2 per layer: carried h, c kept aside while validating mid-epoch */
    tl_rng rng;         /* reserved for stochastic layers (dropout); saved and restored */

    double report_loss; /* sum of losses since the last report */
    int report_count;
    double report_t0;   /* wall clock at the last report */
    double start_t;
    long start_step;
    FILE *log;
    bool saved;         /* a checkpoint was written by this trainer */

    /* Groups and accumulation (train_group.c). An update covers `rows` = K·B rows of the
     * batcher; this member computes `local` = rows / P of them, in K parts of `part` rows. */
    int K, rows, local, part;
    double c_ref;       /* the weight the gradient buffer is currently divided by */
    tl_tensor *states;  /* K > 1: per layer h and c of the member's rows, (local, H); else NULL */
    bool halt;          /* in a group: stop now (max_seconds on the writer's clock, or a stop
                           request on any member), agreed in each step's reduction */
    bool started;       /* the group agreed on data and options and holds the same weights */
};

/* train_group.c: the parts of a step and of a checkpoint that deal with parts of a batch
 * and with the other members of a group. */
tl_status tl__group_init(tl_trainer *t);
void tl__group_free(tl_trainer *t);
tl_status tl__group_start(tl_trainer *t);
/* Before part k's forward-backward (its targets weighing `weight`) and after it. */
tl_status tl__group_part_in(tl_trainer *t, int k, double weight);
tl_status tl__group_part_out(tl_trainer *t, int k);
tl_status tl__group_reduce(tl_trainer *t, tl_status st, double loss_sum, double weight,
                           bool halt, double *loss);
void tl__group_reset_states(tl_trainer *t);
double tl__group_weight(const tl_trainer *t, const tl_tensor *targets);
/* The carried state of layer i (k = 0: h, 1: c) for all `rows` rows in global order,
 * gathered on the writer: *data NULL when the layer has none. *owned (to tl_free) is set
 * when the buffer was allocated for the call. Collective. */
tl_status tl__group_state(tl_trainer *t, int i, int k, const tl_real **data, size_t *count,
                          tl_real **owned);
/* Give this member its rows of a state of all `rows` rows (resume). */
tl_status tl__group_set_state(tl_trainer *t, int i, const tl_tensor *h, const tl_tensor *c);
/* Agree on the outcome of a checkpoint written (or, dry, checked) by the writer, and,
 * when written, on the weights. */
tl_status tl__group_saved(tl_trainer *t, tl_status st, bool dry);

/* Shared with the sequence-to-sequence trainer (seq2seq_train.c), beside
 * tl_vocab_json (internal.h): the checkpoint metadata of an optimizer
 * ("optim"), freed with cJSON_free (NULL when out of memory), and the
 * optimizer of a checkpoint for nparams parameters (0: as many as the
 * "layers.*" tensors hold). */
char *tl__optim_json(const tl_optim *o);
tl_status tl__checkpoint_optim_n(const tl_checkpoint *ck, size_t nparams, tl_optim **out);

/* train_log.c: open a trainer's CSV log (second column: the step) at `step`.
 * A resumed run (step > 0) continues the log of the run it resumes, cut after
 * that step: rows logged after the checkpoint by a run that was then killed are
 * logged again by this one. A new or empty log gets header. */
tl_status tl__log_open(const char *path, long step, const char *header, FILE **log);

/* The fingerprint of a run's training ids (FNV-1a 64, from TL__FNV1A_START),
 * stored in checkpoints as "data": a resume must see the same data. */
#define TL__FNV1A_START 0xcbf29ce484222325u
static inline uint64_t tl__fnv1a(uint64_t h, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint32_t)ids[i]) * 0x100000001b3u;
    return h;
}

/* train_checkpoint.c, shared with seq2seq_train.c: the trainers' metadata read
 * as strictly as the header (tl_json_strict). tl__meta_json parses the value
 * of key (a cJSON_Object or cJSON_Array, per type; TL_ERR_FORMAT when absent
 * or invalid), to cJSON_Delete. tl__numbers reads number fields within
 * [lo, hi], whole when integral (a count or position: 2.5 would be truncated
 * silently by the casts), stopping at the first bad one. tl__hex64 reads a
 * 64-bit value written as exactly 16 hex digits (strtoull alone would take
 * " -1"). */
tl_status tl__meta_json(const tl_checkpoint *ck, const char *key, int type,
                        struct cJSON **out);
typedef struct {
    const char *key;
    double lo, hi;
    double *out;
    bool integral;
} tl__field;
tl_status tl__numbers(const struct cJSON *j, const char *what, const tl__field *f, int n);
bool tl__hex64(const struct cJSON *s, uint64_t *out);

#endif
