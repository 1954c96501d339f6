/* The recurrent-state mechanism shared by TimeRNN, TimeLSTM (and TimeGRU).
 * Internal: not installed.
 *
 * A recurrent layer struct starts with a tl_recurrent (its tl_layer header
 * followed by the state), so that the ops entries reset_state, get_state,
 * set_state and state_grad below serve every recurrent layer as they are.
 * The layer calls tl_recurrent_begin at the start of forward (which decides
 * where the pass starts and copies that into h0, c0), tl_recurrent_end after
 * it (the last step becomes the held state), and tl_recurrent_begin_backward
 * before writing dh0, dc0. The rules are those of rnn.h ("State").
 */
#ifndef TL_LAYERS_RECURRENT_H
#define TL_LAYERS_RECURRENT_H

#include <stdbool.h>
#include "timelayers/layer.h"

typedef struct tl_recurrent {
    tl_layer layer;       /* must be first: the ops receive a tl_layer * */
    int hidden;           /* H */
    int blocks;           /* H-wide blocks of the gate buffer: 1 RNN, 4 LSTM, 4 GRU (r, z, n, hn) */
    bool with_c;          /* a cell state c next to h (LSTM) */
    bool stateful;

    tl_tensor h, c;       /* current state (N, H) */
    bool has_h, has_c;    /* false: zeros (has_c implies has_h) */
    bool pending;         /* set_state since the last forward (non-stateful mode uses it once) */
    tl_tensor none;       /* size 0: what get_state returns for a zero h or c */

    tl_tensor h0, c0;     /* (N, H) the state the last forward started from (zeros included) */
    tl_tensor dh0, dc0;   /* (N, H) its gradient after backward */
    bool has_dh0;
} tl_recurrent;

/* Fill the header and the state description (the tensors start empty). */
void tl_recurrent_init(tl_recurrent *r, const tl_layer_ops *ops, int in_dim, int hidden,
                       int blocks, bool with_c, bool stateful);

/* TL_ERR_SHAPE unless x is (N, T, in_dim) with N, T >= 1; TL_ERR_NOMEM when
 * N·T or T·blocks·H leave the int range of BLAS. */
tl_status tl_recurrent_check_input(const tl_recurrent *r, const tl_tensor *x);

/* Start of a forward with batch size N: h0 (and c0) receive the start state
 * (zeros when the pass starts from the zero state), h (and c) are sized
 * (N, H) for tl_recurrent_end. *from_state is false for the zero state, so
 * the layer may skip the first recurrent product. TL_ERR_STATE for a held
 * state of another batch size. */
tl_status tl_recurrent_begin(tl_recurrent *r, int N, bool *from_state);

/* End of a successful forward: the last step's rows, at Y and C (the last
 * time slices of (N, T, H) buffers, row stride ld; C NULL without a cell
 * state), become the held state. */
void tl_recurrent_end(tl_recurrent *r, int N, const tl_real *Y, const tl_real *C, int ld);

/* Size dh0 (and dc0) for a backward with batch size N; marks them readable. */
tl_status tl_recurrent_begin_backward(tl_recurrent *r, int N);

/* The ops entries, shared by every recurrent layer. */
void tl_recurrent_reset_state(tl_layer *l);
tl_status tl_recurrent_get_state(tl_layer *l, const tl_tensor **h, const tl_tensor **c);
tl_status tl_recurrent_set_state(tl_layer *l, const tl_tensor *h, const tl_tensor *c);
tl_status tl_recurrent_state_grad(tl_layer *l, const tl_tensor **dh0, const tl_tensor **dc0);

/* Release the state's tensors (not the struct). */
void tl_recurrent_free(tl_recurrent *r);

#endif
