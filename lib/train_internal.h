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
    tl_tensor *kept;    /* 2 per layer: carried h, c kept aside while validating mid-epoch */
    tl_rng rng;         /* reserved for stochastic layers (dropout); saved and restored */

    double report_loss; /* sum of losses since the last report */
    int report_count;
    double report_t0;   /* wall clock at the last report */
    double start_t;
    long start_step;
    FILE *log;
    bool saved;         /* a checkpoint was written by this trainer */
};

/* Shared with the sequence-to-sequence trainer (seq2seq_train.c): the
 * checkpoint metadata of a vocabulary ("vocab", a JSON array) and of an
 * optimizer ("optim"), freed with cJSON_free (NULL when out of memory), and
 * the optimizer of a checkpoint for nparams parameters (0: as many as the
 * "layers.*" tensors hold). */
char *tl__vocab_json(const tl_vocab *v);
char *tl__optim_json(const tl_optim *o);
tl_status tl__checkpoint_optim_n(const tl_checkpoint *ck, size_t nparams, tl_optim **out);

#endif
