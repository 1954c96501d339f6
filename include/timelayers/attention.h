/* timelayers: TimeAttention, dot-product attention of a decoder over the
 * hidden states of an encoder (the reference's chapter 8).
 *
 * The layer attends over a memory hs (N, S, H), the encoder's hidden states,
 * set with tl_time_attention_set_memory before each forward. Its input is the
 * decoder's hidden states h (N, T, H); for every decoder step t:
 *
 *     s[n,t,j] = Σ_d hs[n,j,d]·h[n,t,d]          scores over the S memory rows
 *     a[n,t,:] = softmax(s[n,t,:])                attention weights
 *     y[n,t,:] = Σ_j a[n,t,j]·hs[n,j,:]           context (N, T, H)
 *
 * Backward takes dy (the gradient of the context) and returns dh (N, T, H);
 * the gradient of the memory, dhs (N, S, H), is read afterwards with
 * tl_time_attention_memory_grad (the attention decoder adds it to the
 * encoder's output gradient). The layer has no parameters.
 *
 * The memory is borrowed: the caller keeps it alive and unchanged until the
 * backward of the forward that used it has returned. It stays set until the
 * next set_memory (generation feeds one step at a time against one memory).
 */
#ifndef TIMELAYERS_ATTENTION_H
#define TIMELAYERS_ATTENTION_H

#include "timelayers/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Create a TimeAttention layer of hidden width H (input, memory and output
 * width). The caller owns *out (tl_layer_destroy). Errors: TL_ERR_ARG. */
tl_status tl_time_attention_create(tl_layer **out, int hidden);

/* Set the memory hs (N, S, H) for the following forwards. TL_ERR_SHAPE unless
 * hs is a real (N, S, H) tensor with N, S >= 1; forward refuses an input
 * whose batch size differs from the memory's (TL_ERR_SHAPE), and a forward
 * before any memory is TL_ERR_STATE. */
tl_status tl_time_attention_set_memory(tl_layer *l, const tl_tensor *hs);

/* The gradient of the memory from the last backward, (N, S, H), the layer's
 * own buffer. TL_ERR_STATE before a backward. */
tl_status tl_time_attention_memory_grad(tl_layer *l, const tl_tensor **dhs);

/* The attention weights a (N, T, S) of the last forward, the layer's own
 * buffer. TL_ERR_STATE before a forward. */
tl_status tl_time_attention_weights(tl_layer *l, const tl_tensor **a);

#ifdef __cplusplus
}
#endif
#endif
