/* timelayers: text generation from a trained model.
 *
 * The model must be a language model whose recurrent layers are stateful:
 * the prompt is fed in (as one sequence of batch 1, which leaves the layers
 * in the same state as feeding it token by token), then each new token is
 * drawn from softmax(scores / temperature) and fed back as a (1, 1) batch.
 */
#ifndef TIMELAYERS_GENERATE_H
#define TIMELAYERS_GENERATE_H

#include <stdbool.h>
#include <stdint.h>
#include "timelayers/model.h"
#include "timelayers/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_sample_opts {
    double temperature;     /* > 0; 0 means 1.0 */
    int top_k;              /* keep the k most likely ids; 0 = all */
    double top_p;           /* then keep the most likely ids whose probabilities first
                               reach top_p of their total (nucleus sampling); 0 or 1 = all */
    bool greedy;            /* argmax instead of sampling */
    const int32_t *skip;    /* ids never produced (e.g. <unk>); may be NULL */
    int nskip;
} tl_sample_opts;

/* Draw one id from the scores of one position (V values). Skipped ids are
 * excluded from the distribution, which is what re-drawing until a
 * non-skipped id comes up amounts to, without advancing any model state.
 * `work` is caller scratch of at least 2*V doubles (NULL: allocated here for
 * this call). Errors: every id skipped (TL_ERR_ARG), non-finite scores
 * (TL_ERR_NUMERIC). */
tl_status tl_sample(const tl_real *scores, int V, const tl_sample_opts *opts, tl_rng *rng,
                    double *work, int32_t *out);

/* Reset the model state, feed `prompt` (nprompt >= 1 ids), then generate
 * `count` ids into out (caller-allocated, count entries). Every generated
 * token is fed back, so the model's state afterwards includes the last one. */
tl_status tl_generate(tl_model *m, const int32_t *prompt, int nprompt, int count,
                      const tl_sample_opts *opts, tl_rng *rng, int32_t *out);

/* tl_generate with bf16 weights: opt-in, faster on large models, and its
 * numbers differ slightly from tl_generate's. For this call the weights
 * every token streams (Wx and Wh of TimeRNN, TimeLSTM and TimeGRU layers,
 * TimeAffine's W, tied or not) are read from copies rounded to bf16 (an
 * 8-bit significand; nearest, ties to even), half the bytes of float:
 * generation from a model whose weights do not fit the cache is bound by
 * memory bandwidth and runs up to about twice as fast. Products and
 * everything else stay in float. The tokens are those tl_generate draws
 * from the float model with those weights rounded (the prompt is fed one
 * token at a time, so every product reads the copies; the embedding's
 * lookups read its float table even when the affine layer is tied to it),
 * so with the same seed they may differ from tl_generate's. The copies
 * (half the size of those weights) are made at the start of the call and
 * freed at its end; the model is not changed. Errors: those of
 * tl_generate, TL_ERR_NOMEM for the copies, and TL_ERR_ARG in the double
 * build, which has no bf16 kernels. */
tl_status tl_generate_bf16(tl_model *m, const int32_t *prompt, int nprompt, int count,
                           const tl_sample_opts *opts, tl_rng *rng, int32_t *out);

#ifdef __cplusplus
}
#endif
#endif
