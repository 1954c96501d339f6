/* timelayers: the standard language-model stack in one call, and a language
 * model saved and loaded together with its vocabulary.
 *
 *     ids (N, T) -> TimeEmbedding(V, D) -> [TimeLSTM | TimeRNN | TimeGRU] x L -> TimeAffine(H, V)
 *               -> TimeSoftmaxWithLoss(V)
 *
 * The first recurrent layer maps D to H, the others H to H. Every recurrent
 * layer is stateful (truncated BPTT carries the state across batches).
 * Initialisation is the textbook reference's (embedding N(0, 0.01²), the
 * other weights N(0, 1/fan_in), biases zero) unless cfg->init asks for
 * another scheme (init.h), drawn with the same rng after construction.
 */
#ifndef TIMELAYERS_LM_H
#define TIMELAYERS_LM_H

#include "timelayers/checkpoint.h"
#include <stdbool.h>
#include "timelayers/dropout.h"
#include "timelayers/init.h"
#include "timelayers/model.h"
#include "timelayers/rng.h"
#include "timelayers/rnn.h"
#include "timelayers/softmax_loss.h"
#include "timelayers/vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_cell_kind { TL_CELL_LSTM = 0, TL_CELL_RNN = 1, TL_CELL_GRU = 2 } tl_cell_kind;

typedef struct tl_lm_config {
    int vocab;          /* V */
    int embed;          /* D */
    int hidden;         /* H */
    int layers;         /* L >= 1 recurrent layers */
    tl_cell_kind cell;
    tl_activation activation; /* TL_CELL_RNN only: tanh (0, default) or sigmoid */
    tl_loss_norm loss_norm;   /* TL_LOSS_MEAN (0, default) or TL_LOSS_CS231N */
    tl_init init;             /* zeroed: the textbook's */
    /* Regularisation (all off when zeroed). dropout > 0 puts a TimeDropout
     * of that rate after the embedding, after every recurrent layer (so
     * between them) and thus before the affine: the placement of Zaremba et
     * al. 2014 and the textbook's BetterRnnlm. rec_dropout > 0 (LSTM and GRU)
     * is recurrent variational dropout inside every TimeLSTM or TimeGRU. tie makes the
     * affine use the embedding's table transposed (needs embed == hidden). */
    double dropout;
    tl_dropout_kind dropout_kind;
    double rec_dropout;
    bool tie;
} tl_lm_config;

/* Most parameters tl_lm_create builds: 2^30 values, i.e. 4 GiB in float
 * before gradients and optimizer state. */
#define TL_LM_MAX_PARAMS ((size_t)1 << 30)

/* Build the stack above. Sizes must be positive and L at most 64, and the
 * model at most TL_LM_MAX_PARAMS parameters; both are checked before anything
 * is allocated (TL_ERR_ARG, naming the limit), as are the activation (sigmoid
 * only with the RNN cell), the loss normalisation, the init scheme, the
 * dropout rates (in [0, 1); rec_dropout not with the RNN cell) and tying
 * (TL_ERR_SHAPE naming both layers when the embedding's width is not the
 * last recurrent layer's). The caller owns *out (tl_model_destroy). */
tl_status tl_lm_create(tl_model **out, const tl_lm_config *cfg, tl_rng *rng);

/* Save a language model with its vocabulary in one checkpoint: what
 * tl_checkpoint_save writes (parameters, "architecture") plus the metadata
 * "vocab" (the tokens in id order, a JSON array) and "vocab.level" ("word" or
 * "char"), the keys `timelayers` reads, and nmeta entries of the caller's
 * (meta may be NULL when nmeta is 0). Any model, not only tl_lm_create's;
 * when its first layer takes token ids, the vocabulary must have one token
 * per id (TL_ERR_SHAPE otherwise, nothing written). Atomic, with the errors
 * of tl_checkpoint_save (TL_ERR_ARG for a "vocab" or "vocab.level" in meta). */
tl_status tl_lm_save(const char *path, tl_model *m, const tl_vocab *v, const tl_ckpt_meta *meta,
                     int nmeta);

/* Rebuild the model and the vocabulary of a file written by tl_lm_save, the
 * trainer or `timelayers train`. Recurrent layers start from zeros. The
 * caller owns both (tl_model_destroy, tl_vocab_destroy); on failure both are
 * NULL. Errors: those of tl_checkpoint_open, tl_checkpoint_model and
 * tl_checkpoint_vocab (TL_ERR_FORMAT without a vocabulary), and TL_ERR_SHAPE
 * when the vocabulary does not fit the model. */
tl_status tl_lm_load(const char *path, tl_model **m, tl_vocab **v);

/* "lstm" / "rnn" / "gru" and back; unknown names are TL_ERR_ARG. */
tl_status tl_cell_kind_from_name(const char *name, tl_cell_kind *out);

/* Whether vocabulary v fits model m: the ids its first layer takes (when it
 * is a TimeEmbedding) and the classes its loss layer scores must both number
 * tl_vocab_size(v). TL_ERR_SHAPE naming the sizes otherwise: a vocabulary of
 * another model would evaluate to a meaningless perplexity. */
tl_status tl_lm_check_vocab(tl_model *m, const tl_vocab *v);
const char *tl_cell_kind_name(tl_cell_kind k);

#ifdef __cplusplus
}
#endif
#endif
