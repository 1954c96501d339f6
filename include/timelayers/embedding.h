/* timelayers: TimeEmbedding, a table of word vectors indexed by token ids.
 *
 * Parameter: W (V, D), one row per token id. Input: int32 ids (N, T), or (N,)
 * for a single step; output (N, T, D) (or (N, D)) with y[n,t,:] = W[x[n,t],:].
 * backward scatter-adds dy into dW (dW[x[n,t],:] += dy[n,t,:], so repeated ids
 * add up) and returns dx = NULL: ids are not differentiable.
 */
#ifndef TIMELAYERS_EMBEDDING_H
#define TIMELAYERS_EMBEDDING_H

#include "timelayers/layer.h"
#include "timelayers/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Create a TimeEmbedding for vocab ids of width dim. W is drawn from
 * N(0, 1)·0.01 with rng (the reference's randn/100), zeros when rng is NULL.
 * The layer takes TL_INT32 input, so it can only be the first of a model.
 *
 * Errors of create: TL_ERR_ARG for a NULL out or non-positive sizes;
 * TL_ERR_NOMEM. The caller owns *out (tl_layer_destroy) unless it hands it to
 * a model.
 * Errors of forward: TL_ERR_SHAPE unless x is (N, T) or (N,); TL_ERR_RANGE for
 * an id outside [0, V), naming its position and value. Every id is checked
 * before anything is read or written, so a rejected call leaves the output of
 * the previous forward intact.
 * Errors of backward: TL_ERR_STATE before a successful forward; TL_ERR_SHAPE
 * unless dy has the shape of the last output. */
tl_status tl_time_embedding_create(tl_layer **out, int vocab, int dim, tl_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
