/* timelayers: training and evaluating sequence-to-sequence models on paired
 * sequences (pairs.h), the reference's chapter 7 trainer.
 *
 *   each epoch:  shuffle the pairs (a permutation drawn from the trainer's
 *                RNG, seeded with cfg.seed); for each mini-batch of `batch`
 *                pairs (the last, smaller one included):
 *                zero_grad; loss = forward(q, a) (teacher forcing); backward;
 *                clip by global norm; optimizer step
 *   at each epoch end: exact-match accuracy on the test pairs (greedy
 *                generation of alen − 1 symbols after <sep>, all of them equal
 *                to the answer's), a checkpoint, a CSV row
 *
 * Checkpoints (tl_seq2seq_save) carry the parameters, the optimizer ("optim"
 * metadata and "optim.*" tensors), the loop position and RNG ("train": epoch,
 * iter, step and the generator as the epoch began) and the vocabulary and the
 * caller's metadata (the CLI's data layout): resuming from one, also from the
 * middle of an epoch, gives the same losses as a run that never stopped. A
 * non-finite loss or gradient norm stops training with TL_ERR_NUMERIC; the
 * last checkpoint stays.
 *
 * Ownership: the trainer borrows the model, optimizer, pairs and config
 * strings, which must outlive it; it owns its log file and buffers.
 */
#ifndef TIMELAYERS_SEQ2SEQ_TRAIN_H
#define TIMELAYERS_SEQ2SEQ_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "timelayers/checkpoint.h"
#include "timelayers/optim.h"
#include "timelayers/pairs.h"
#include "timelayers/seq2seq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_seq2seq_train_config {
    int batch;              /* pairs per step (>= 1) */
    int epochs;             /* train until this many epochs are complete */
    double clip_norm;       /* global L2 norm threshold; 0 = none */
    uint64_t seed;          /* shuffling */
    int report_every;       /* steps between progress reports; 0 = 50 */
    const char *checkpoint; /* written (atomically) at each epoch end; NULL = none */
    const char *log_csv;    /* one row per report and per epoch end; NULL = none */
    const tl_vocab *vocab;  /* stored in checkpoints ("vocab.level", "vocab": see
                               tl_checkpoint_vocab); NULL = none */
    const tl_ckpt_meta *meta; /* the caller's metadata for every checkpoint */
    int nmeta;
    volatile sig_atomic_t *stop; /* when non-NULL and set non-zero (by a signal handler,
                               say): stop before the next step and checkpoint; NULL = none */
    long max_steps;         /* stop (and checkpoint) after this many steps in total; 0 = off */
} tl_seq2seq_train_config;

typedef struct tl_seq2seq_progress {
    int epoch, epochs;          /* 1-based epoch being trained */
    long step;                  /* steps done in total */
    long iter, iters_per_epoch;
    double loss;                /* mean loss per target since the last report */
    double grad_norm;           /* last norm before clipping */
    double accuracy;            /* test accuracy at an epoch end, NAN otherwise */
    double tokens_per_sec, elapsed_sec, eta_sec;
    bool epoch_end;
} tl_seq2seq_progress;

typedef void (*tl_seq2seq_callback)(const tl_seq2seq_progress *p, void *ctx);

typedef struct tl_seq2seq_trainer tl_seq2seq_trainer;

/* A trainer of s with o (created for tl_seq2seq_flat's n parameters) on
 * train; test (may be NULL) is scored at each epoch end. resume: a checkpoint
 * of an earlier run of the same model (loaded into s and o by the caller, see
 * tl_seq2seq_checkpoint_optim) to continue from, or NULL. The questions of
 * both sets must already be in the model's input order (reversed or not).
 * The CSV log is opened here; when resuming, it is continued after the
 * checkpoint's step (rows of a killed run logged after it are dropped).
 * Errors: TL_ERR_ARG for bad arguments; TL_ERR_SHAPE when the sets' lengths
 * differ; TL_ERR_FORMAT for a resume checkpoint without a valid "train";
 * TL_ERR_IO when the log cannot be opened. */
tl_status tl_seq2seq_trainer_create(tl_seq2seq_trainer **out, tl_seq2seq *s, tl_optim *o,
                                    const tl_pairs *train, const tl_pairs *test,
                                    const tl_seq2seq_train_config *cfg,
                                    const tl_checkpoint *resume);

/* Train until cfg.epochs are complete or *cfg.stop is set (then TL_OK after
 * the stop's checkpoint). Errors: TL_ERR_NUMERIC; TL_ERR_IO when the
 * checkpoint or the log cannot be written: the trainer is then as after its
 * last step, and tl_seq2seq_trainer_save can put it elsewhere. */
tl_status tl_seq2seq_trainer_run(tl_seq2seq_trainer *t, tl_seq2seq_callback cb, void *ctx);

/* The training state as a checkpoint at path (atomic: a failed save leaves
 * the file as it was), resumable like cfg.checkpoint. */
tl_status tl_seq2seq_trainer_save(const tl_seq2seq_trainer *t, const char *path);

long tl_seq2seq_trainer_step(const tl_seq2seq_trainer *t);   /* steps done in total */
int tl_seq2seq_trainer_epoch(const tl_seq2seq_trainer *t);   /* epochs completed */
void tl_seq2seq_trainer_destroy(tl_seq2seq_trainer *t);      /* NULL is fine */

/* The optimizer saved in a trainer's checkpoint, sized for s. */
tl_status tl_seq2seq_checkpoint_optim(const tl_checkpoint *ck, tl_seq2seq *s, tl_optim **out);

/* Accuracy of greedy answers, generated in batches of `batch`: *exact of
 * p->n pairs have all alen − 1 generated symbols equal to the answer's;
 * *symbols (may be NULL) of the p->n·(alen − 1) generated symbols equal the
 * answer's symbol at their position (how close the wrong answers come).
 * TL_ERR_ARG for batch < 1 or an empty set. */
tl_status tl_seq2seq_accuracy(tl_seq2seq *s, const tl_pairs *p, int batch, size_t *exact,
                              size_t *symbols);

#ifdef __cplusplus
}
#endif
#endif
