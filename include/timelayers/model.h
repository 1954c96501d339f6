/* timelayers: the sequential model container.
 *
 * A model is a chain of layers followed by one loss layer:
 *
 *     xs (N, T) ids -> layer 0 -> layer 1 -> ... -> scores (N, T, V) -> loss(scores, ts)
 *
 * Ownership: tl_model_add and tl_model_set_loss take ownership of the layer
 * in every case; on failure the layer has already been destroyed. The model
 * destroys its layers in tl_model_destroy.
 *
 * Shapes are checked as layers are added: a layer whose input width does not
 * match the previous layer's output width is refused with an error naming
 * both layers.
 *
 * Parameters: when the model is first used (forward, predict, or any
 * parameter query), all parameter values are moved into one contiguous
 * buffer and all gradients into another, in layer order. Optimizers and
 * gradient clipping work on these flat buffers; each layer's tl_param
 * tensors keep pointing into them. After that, no layer can be added.
 */
#ifndef TIMELAYERS_MODEL_H
#define TIMELAYERS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "timelayers/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_model tl_model;

/* Create an empty model. Free it with tl_model_destroy. */
tl_status tl_model_create(tl_model **out);

/* Append a layer (takes ownership; see above). */
tl_status tl_model_add(tl_model *m, tl_layer *layer);

/* Set the loss layer (takes ownership; replaces and destroys a previous one). */
tl_status tl_model_set_loss(tl_model *m, tl_layer *loss);

/* Forward through all layers and the loss: *loss = L(f(xs), ts).
 * xs and ts must stay alive and unchanged until tl_model_backward returns.
 * When the last layer is a TimeAffine, the loss writes dscores over that
 * layer's output buffer (its backward does not read it): one (N, T, V)
 * buffer less. Use tl_model_predict to read scores. */
tl_status tl_model_forward(tl_model *m, const tl_tensor *xs, const tl_tensor *ts, double *loss);

/* Backward from the last tl_model_forward. Gradients accumulate into the
 * parameters' grad buffers (see tl_model_zero_grad). */
tl_status tl_model_backward(tl_model *m);

/* tl_model_forward then tl_model_backward, in one call: a training step's
 * gradients. When the model ends in a TimeAffine and the loss is a
 * TimeSoftmaxWithLoss, these two run fused, a block of rows at a time, so
 * the (N, T, V) scores never exist at once (less memory, and faster: each
 * block is used while it is in the cache). The results are those of the two
 * calls up to float rounding. On an error (such as TL_ERR_NUMERIC for a NaN
 * in the scores) the gradients may hold part of the step: zero them before
 * the next one. xs and ts need to live only during the call. */
tl_status tl_model_forward_backward(tl_model *m, const tl_tensor *xs, const tl_tensor *ts,
                                    double *loss);

/* Forward through the layers only (no loss), in evaluation mode. *scores
 * points to the last layer's output, valid until the next forward or
 * predict. Stateful layers advance their state exactly as in
 * tl_model_forward. */
tl_status tl_model_predict(tl_model *m, const tl_tensor *xs, const tl_tensor **scores);

/* Training or evaluation mode, model-wide (tl_layer_mode reaches every
 * layer). A new model is in training mode. tl_model_forward and
 * tl_model_forward_backward run in the model's mode; tl_model_predict always runs in evaluation mode (and so do
 * evaluation, generation and the trainer's validation, which use it) without
 * changing the model's mode. */
void tl_model_set_training(tl_model *m, bool training);
bool tl_model_is_training(const tl_model *m);

/* The key of the layers' random masks: a seed (0 for a new model) and the
 * step, which each tl_model_forward (or tl_model_forward_backward) in
 * training mode uses and then advances by one. The trainer sets the step to its own step count before each
 * forward and keeps the seed in its checkpoints (tl_trainer_resume sets it
 * back), so a resumed run draws exactly the masks of an uninterrupted one. */
void tl_model_set_seed(tl_model *m, uint64_t seed);
void tl_model_set_step(tl_model *m, uint64_t step);
uint64_t tl_model_seed(const tl_model *m);
uint64_t tl_model_step(const tl_model *m);

/* Reset the recurrent state of every stateful layer to zeros. */
void tl_model_reset_state(tl_model *m);

/* Set every gradient to zero. The gradient of an untied TimeEmbedding's table,
 * written only at the rows of a step's ids, is cleared by giving its whole
 * pages back to the system (Linux) when at most a quarter of them were written
 * since the last clearing: they read as zeros and hold memory again only when
 * written. tl_clip_grad_norm, tl_clip_grad_value,
 * tl_grad_first_nonfinite and the SGD step leave such untouched pages out;
 * any other reader maps them again (docs/architecture.md, "The model and its
 * flat buffers"). */
void tl_model_zero_grad(tl_model *m);

/* Layers (not counting the loss). */
int tl_model_num_layers(const tl_model *m);
tl_layer *tl_model_layer(const tl_model *m, int i);
tl_layer *tl_model_loss_layer(const tl_model *m);

/* The description of layer i (0 <= i < tl_model_num_layers; i equal to it
 * is the loss layer), with every reference to another layer turned into
 * that layer's index: what a checkpoint stores. TL_ERR_STATE when a layer
 * refers to a layer that is not an earlier one of the model. */
tl_status tl_model_layer_config(const tl_model *m, int i, tl_layer_config *cfg);

/* One parameter of the model with its stable name "layers.<i>.<name>". */
typedef struct tl_named_param {
    char name[64];
    int layer;          /* index of the owning layer */
    tl_param *param;    /* value and grad tensors (pointing into the flat buffers) */
    size_t offset;      /* element offset of this parameter in the flat buffers */
} tl_named_param;

/* Number of parameter tensors; fills *p for the i-th (0 <= i < count). */
tl_status tl_model_param_count(tl_model *m, int *count);
tl_status tl_model_param(tl_model *m, int i, tl_named_param *p);

/* The flat parameter and gradient buffers and their length in elements. */
tl_status tl_model_flat(tl_model *m, tl_real **values, tl_real **grads, size_t *n);

/* Free the model, its layers and its buffers. NULL is a no-op. */
void tl_model_destroy(tl_model *m);

#ifdef __cplusplus
}
#endif
#endif
