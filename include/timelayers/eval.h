/* timelayers: perplexity of a language model on a token stream.
 *
 * perplexity = exp(mean over scored targets of -log p(target)).
 *
 * TL_EVAL_REFERENCE is the textbook reference's eval_perplexity: batch 10, time 35,
 * row i starts at i * ((len - 1) / 10), (len - 1) / 350 iterations, so
 * iterations * 350 targets are scored and a tail is left out. Use it to compare
 * with published numbers.
 * TL_EVAL_STREAM feeds the whole stream at batch 1 in chunks of `time` tokens and
 * scores every one of the len - 1 targets.
 *
 * Both reset the model's recurrent state before they start and leave it reset
 * afterwards (the batch size changes). Parameters and gradients are untouched.
 */
#ifndef TIMELAYERS_EVAL_H
#define TIMELAYERS_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_eval_mode { TL_EVAL_REFERENCE = 0, TL_EVAL_STREAM = 1 } tl_eval_mode;

/* Mean loss (nats per token) and perplexity of m on ids[0..len). time is the chunk
 * length of stream mode (0 = 35); ignored in reference mode. Either output may be NULL.
 * The stream must have at least 351 tokens in reference mode and 2 in stream mode. */
tl_status tl_eval_perplexity(tl_model *m, const int32_t *ids, size_t len, tl_eval_mode mode,
                             int time, double *mean_loss, double *ppl);

#ifdef __cplusplus
}
#endif
#endif
