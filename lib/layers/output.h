/* What the fused output pass (affine_loss.c) needs from TimeAffine and
 * TimeSoftmaxWithLoss, whose structs are private to their files (internal). */
#ifndef TL_LAYERS_OUTPUT_H
#define TL_LAYERS_OUTPUT_H

#include "timelayers/layer.h"

/* A TimeAffine's parameters and buffers, borrowed for one call. W is
 * (D, M) row-major, or stored as its transpose (M, D) when W_transposed
 * (a weight tied to an embedding's (V, D) table). */
typedef struct tl_affine_view {
    int D, M;
    const tl_real *W, *b;
    bool W_transposed;
    tl_real *dW, *db;
    tl_tensor *scratch;        /* the layer's output buffer, free to reuse */
    tl_tensor *dx;             /* the layer's input-gradient buffer */
    const tl_tensor **x;       /* the input its backward would use: cleared */
} tl_affine_view;

/* Fill *v and return true when l is a TimeAffine; false otherwise. */
bool tl_affine_view_of(tl_layer *l, tl_affine_view *v);

/* True when l is a TimeSoftmaxWithLoss. */
bool tl_is_softmax_loss(const tl_layer *l);

/* The factor of every row's loss for targets t of N sequences (1/count or
 * 1/N per the layer's normalisation), after checking t's ids against V
 * (-1 ignored). */
tl_status tl_softmax_loss_scale(const tl_layer *l, const tl_tensor *t, int N, int V,
                                double *scale);

/* The softmax loss of `rows` rows of V scores x (+ bias, a row of V added
 * to each, when not NULL) whose targets are those of t from flat index row0
 * on: g (which may be x) gets dscores for dloss = 1, *nll the sum of the
 * rows' −log p (before the scale). When db is not NULL, db += the column
 * sums of those dscores, gathered per part of the rows in db_parts
 * (TL_LOSS_PARTS x V scratch). Rows run on the library's threads.
 * TL_ERR_NUMERIC naming the first row with a NaN or an infinity. */
enum { TL_LOSS_PARTS = 16 };
tl_status tl_softmax_loss_rows(const tl_tensor *t, size_t row0, int rows, int V, double scale,
                               const tl_real *x, const tl_real *bias, tl_real *g,
                               tl_real *db_parts, tl_real *db, double *nll);

/* The fused output pass: affine (a TimeAffine) on x, softmax cross-entropy
 * (loss, a TimeSoftmaxWithLoss) against t, and both backward passes with
 * dloss = 1, in blocks of rows, so that the scores of all rows never exist
 * at once. Adds into the affine's dW and db, sets *dx to the affine's input
 * gradient (valid until its next backward). Same results as forward, loss
 * and backward layer by layer, up to float rounding. */
tl_status tl_affine_loss_fused(tl_layer *affine, tl_layer *loss, const tl_tensor *x,
                               const tl_tensor *t, double *loss_out, const tl_tensor **dx);

/* Rows per block of tl_affine_loss_fused: 0 restores the default (sized so
 * that a block of scores stays in the cache). For tests: call it while no
 * other thread runs the fused pass. */
void tl__affine_loss_block_rows(int rows);

/* false: the last block's dW product always runs inside the pass; true (the
 * default): it may be left running on the pool (affine_loss.c). For tests,
 * as above. */
void tl__affine_loss_dw_later(bool allow);

#endif
