/* timelayers: training a language model with truncated BPTT.
 *
 * A trainer drives one model and one optimizer over a token stream:
 *
 *   for each iteration:  xs, ts <- next TBPTT batch (see batcher.h)
 *                        zero_grad; loss = forward(xs, ts); backward
 *                        clip (global norm and/or element-wise); optimizer step
 *   at each report:      training perplexity = exp(mean of the losses since the last report)
 *   every eval_every steps and at each epoch end: validation perplexity (reference
 *                        mode; the carried state is kept aside and put back), the best
 *                        checkpoint when it improved (keep_best)
 *   at each epoch end:   the plateau rule's decay when it did not improve, checkpoint
 *   before each step:    the learning rate of the schedule (schedule.h)
 *
 * This is the textbook reference's RnnlmTrainer plus its PTB script's epoch loop.
 * A loss or gradient norm that is not finite stops training with TL_ERR_NUMERIC and a
 * message naming the step (and the first parameter with a non-finite gradient); the last
 * checkpoint written stays untouched.
 *
 * Checkpoints (checkpoint.h) hold everything needed to continue exactly: parameters,
 * optimizer state, each recurrent layer's carried state, the batcher's time_idx, epoch,
 * step, learning rate, best validation perplexity and the RNG. A resumed run produces the
 * same losses as one that never stopped.
 *
 * Groups (cfg.comm, docs/distributed.md): every member runs the same calls with the same
 * data and options (checked by hash when training starts) and holds its rows' recurrent
 * state. Losses and gradients are summed over the members after backward and before
 * clipping, so every member applies the update of the whole batch and the replicas stay
 * identical; member 0 (the writer) alone calls the callback, logs and writes checkpoints,
 * which hold the state of all rows in global order and so resume with any group size
 * that divides the batch. tl_trainer_run and tl_trainer_save are then collective.
 *
 * Ownership: the trainer borrows the model, optimizer, vocabulary and token arrays; they
 * must outlive it. tl_trainer_destroy frees only the trainer's own buffers.
 */
#ifndef TIMELAYERS_TRAIN_H
#define TIMELAYERS_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "timelayers/checkpoint.h"
#include "timelayers/comm.h"
#include "timelayers/model.h"
#include "timelayers/optim.h"
#include "timelayers/rng.h"
#include "timelayers/schedule.h"
#include "timelayers/vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_train_config {
    int batch, time;        /* B, T of the TBPTT batches (B: rows of the whole group, below) */
    int epochs;             /* train until this many epochs are complete */
    double clip_norm;       /* global L2 norm threshold; 0 = no clipping */
    double clip_value;      /* element-wise clip to [-c, c]; 0 = none */
    int report_every;       /* iterations between progress reports; 0 = 20 */
    tl_lr_schedule lr_schedule; /* zeroed: constant; the base rate is the optimizer's */
    double lr_decay;        /* > 1: shorthand for the plateau schedule with this factor
                               (lr_schedule must then be constant); 0 = off */
    long eval_every;        /* also validate every this many steps; 0 = epoch ends only */
    const char *keep_best;  /* path written (atomically) whenever validation perplexity
                               is the best so far; NULL = none */
    const tl_ckpt_meta *meta; /* extra metadata stored in every checkpoint (e.g. how the
                               model was initialised); keys must not be the trainer's */
    int nmeta;
    long max_steps;         /* stop (and checkpoint) after this many steps in total; 0 = off */
    double max_seconds;     /* stop (and checkpoint) after this much training time; 0 = off */
    long save_every;        /* also checkpoint every this many steps; 0 = epoch ends only */
    const char *checkpoint; /* path written at epoch ends and at the end; NULL = none */
    const char *log_csv;    /* CSV of the training curve; NULL = none; a resumed run
                               continues it, cut after the checkpoint's step */
    volatile sig_atomic_t *stop; /* when non-NULL and set non-zero (by a signal handler, say):
                               stop after the current step and checkpoint; NULL = none */
    int accumulate;         /* K > 1: one update from K batches of B rows, the same update as
                               one batch of K·B rows (the batcher makes K·B rows); 0 = 1 */
    tl_comm *comm;          /* data-parallel group (comm.h), borrowed; NULL = this process
                               alone. Each member computes rows [r·K·B/P, (r+1)·K·B/P) of
                               every update, B divisible by P; see "Groups" below */
} tl_train_config;

/* What a progress callback receives. */
typedef struct tl_train_progress {
    int epoch;                      /* 1-based epoch being trained */
    int epochs;
    long step;                      /* iterations done in total */
    long iter, iters_per_epoch;     /* position within the epoch */
    double train_ppl;               /* exp(mean loss) since the last report (infinite when
                                       that mean exceeds ~709 nats: print train_loss too) */
    double valid_ppl;               /* NAN except in the reports that follow a validation
                                       (epoch ends and every eval_every steps) */
    double train_loss, valid_loss;  /* the same in nats per token: the mean loss, and the
                                       log of valid_ppl (NAN when valid_ppl is) */
    double lr, grad_norm;           /* current learning rate, last norm before clipping */
    double tokens_per_sec;          /* training tokens per second of wall time since this run
                                       (or its resume) started: validation and checkpoint
                                       time included, so the rate of the whole run */
    double elapsed_sec, eta_sec;    /* wall time since this run started, and to its end */
    bool epoch_end;
} tl_train_progress;

typedef void (*tl_train_callback)(void *ctx, const tl_train_progress *p);

typedef struct tl_trainer tl_trainer;

/* Create a trainer for model m and optimizer opt (whose nparams must equal the model's).
 * train (ntrain ids) is required and must hold more than batch * time tokens; valid may be
 * NULL. vocab is stored in checkpoints (may be NULL). */
tl_status tl_trainer_create(tl_trainer **out, tl_model *m, tl_optim *opt, const tl_vocab *vocab,
                            const int32_t *train, size_t ntrain, const int32_t *valid,
                            size_t nvalid, const tl_train_config *cfg);

/* Restore the loop position stored in an open checkpoint written by a trainer on the same
 * data with the same batch and time: epoch, step, time_idx, best validation perplexity,
 * RNG and each recurrent layer's carried state. The model and the optimizer must come
 * from the same checkpoint (tl_checkpoint_model, tl_checkpoint_optim), so a resume is:
 * open, model, optim, vocab, tl_trainer_create, tl_trainer_resume, tl_trainer_run. */
tl_status tl_trainer_resume(tl_trainer *t, tl_checkpoint *ck);

/* Train until cfg->epochs are complete (or max_steps), calling cb (may be NULL) at every
 * report and every epoch end. Returns TL_OK when done, TL_ERR_NUMERIC on a non-finite
 * loss or gradient, or the error of a failed step or checkpoint write. */
tl_status tl_trainer_run(tl_trainer *t, tl_train_callback cb, void *ctx);

/* Write a checkpoint of the current state to path (atomically). Parameters,
 * optimizer state and carried state must all be finite: a NaN or infinity is
 * TL_ERR_NUMERIC naming the tensor and index, and path is not touched. */
tl_status tl_trainer_save(tl_trainer *t, const char *path);

/* The same save into a temporary that is then removed (tl_checkpoint_save_check):
 * path is not touched. tl_trainer_run does it before the first step. */
tl_status tl_trainer_check_save(tl_trainer *t, const char *path);

/* Epochs completed, steps done, best validation perplexity (INFINITY if none yet), and
 * whether this trainer has written a checkpoint. */
int tl_trainer_epoch(const tl_trainer *t);
long tl_trainer_step(const tl_trainer *t);
double tl_trainer_best_ppl(const tl_trainer *t);
bool tl_trainer_saved(const tl_trainer *t);

void tl_trainer_destroy(tl_trainer *t);

/* What a trainer stores in a checkpoint besides the parameters (see
 * docs/checkpoint-format.md): metadata "vocab" (JSON array of the tokens in id
 * order), "vocab.level" ("word" or "char"), "optim" (JSON: kind, hyper-
 * parameters, steps), "train" (JSON: epoch, step, iter, time_idx, batch, time,
 * best_ppl, base_lr, rng), "lr_schedule" (tl_lr_schedule_describe), the
 * config's extra metadata; tensors "optim.<state>" and "state.layers.<i>.h" / ".c" (the
 * carried state of each stateful recurrent layer, absent when it is zero). */

/* The batch and time of the run a checkpoint was written by (its "train"
 * metadata): a resume must use the same. TL_ERR_FORMAT when absent. */
tl_status tl_checkpoint_train_shape(const tl_checkpoint *ck, int *batch, int *time);

/* Rebuild the vocabulary stored in a checkpoint. The caller owns *out.
 * TL_ERR_FORMAT when it is missing or malformed. */
tl_status tl_checkpoint_vocab(const tl_checkpoint *ck, tl_vocab **out);

/* Rebuild the optimizer stored in a checkpoint, with its state, for a model of
 * the checkpoint's parameter count. The caller owns *out. */
tl_status tl_checkpoint_optim(const tl_checkpoint *ck, tl_optim **out);

#ifdef __cplusplus
}
#endif
#endif
