/* timelayers: TimeSoftmaxWithLoss, softmax cross-entropy over every step.
 *
 * A loss layer: tl_layer_loss(l, scores, targets, &loss) then
 * tl_layer_backward(l, NULL, &dscores). Scores are (N, T, V) with int32
 * targets (N, T), or (N, V) with targets (N,). A target equal to
 * TL_IGNORE_INDEX (-1) does not count and gets a zero gradient; it is never
 * used as an index. Targets may also be given as real scores of the shape of
 * the scores, one-hot rows as the textbook's loss accepts them: each row's
 * target is the index of its maximum (the first on ties, NumPy's argmax), so
 * every row counts. With p = softmax(scores row) (the row maximum subtracted
 * first) and the sum over counted tokens,
 *
 *   TL_LOSS_MEAN     loss = Σ −log p[target] / count    (PyTorch
 *                    CrossEntropyLoss(ignore_index=-1), the reference)
 *   TL_LOSS_CS231N   loss = Σ −log p[target] / N        (CS231n's
 *                    temporal_softmax_loss: summed over time, mean over batch)
 *
 * and dscores = (p − onehot(target)) · dloss / count (resp. / N). When every
 * target is ignored the loss is 0 and the gradient zero (the reference gives
 * NaN). Rows with an ignored target are not read at all.
 *
 * backward(dy): dy NULL means dloss = 1; a real tensor of one element scales
 * the gradient by its value. It may be called several times after one loss
 * call (the result is the same each time). The layer has no parameters.
 */
#ifndef TIMELAYERS_SOFTMAX_LOSS_H
#define TIMELAYERS_SOFTMAX_LOSS_H

#include "timelayers/layer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The target that does not count. */
#define TL_IGNORE_INDEX (-1)

typedef enum tl_loss_norm { TL_LOSS_MEAN = 0, TL_LOSS_CS231N = 1 } tl_loss_norm;

/* Create a TimeSoftmaxWithLoss for scores of width vocab (0 = any width).
 *
 * Errors of create: TL_ERR_ARG for a NULL out, a negative vocab or an unknown
 * norm; TL_ERR_NOMEM. The caller owns *out (tl_layer_destroy) unless it hands
 * it to a model (tl_model_set_loss).
 * Errors of loss: TL_ERR_SHAPE unless scores are (N, T, V) or (N, V) with
 * N, T, V >= 1 (V = vocab when vocab > 0) and targets have the leading shape
 * (N, T) or (N,); TL_ERR_RANGE for a target outside [0, V) other than -1,
 * naming its position and value, found before any score is read; real
 * targets: TL_ERR_SHAPE unless they have the scores' shape, TL_ERR_NUMERIC
 * naming the row when one holds a NaN;
 * TL_ERR_NUMERIC naming the row when a counted row holds a NaN or an infinity.
 * Backward reads neither scores nor targets: both may change once loss returns.
 * Errors of backward: TL_ERR_STATE before a successful loss; TL_ERR_SHAPE
 * unless dy is NULL or a real tensor of one element. */
tl_status tl_time_softmax_loss_create(tl_layer **out, int vocab, tl_loss_norm norm);

#ifdef __cplusplus
}
#endif
#endif
