/* TimeRNN: the RNN cell along time, batch-major (N, T, D) -> (N, T, H).
 *
 *   forward:   Y = X·Wx + b            one GEMM over all R = N·T rows
 *              Y[:,t] = act(Y[:,t] + h_{t-1}·Wh),  h_{-1} = h0, h_t = Y[:,t]
 *   backward:  dh = 0
 *              for t = T-1 .. 0:  dT[:,t] = (dY[:,t] + dh) ⊙ act'(Y[:,t]);  dh = dT[:,t]·Whᵀ
 *              dh0 = dh;  dWx += Xᵀ·dT;  dWh += Hprevᵀ·dT;  db += Σ dT;  dX = dT·Wxᵀ
 *
 * Only the recurrent halves of the cell run per step, on strided slices
 * (ld = T·H) of the (N, T, H) buffers; everything linear in X is one GEMM
 * over all steps, everything linear in dT one GEMM per backward window of
 * steps (recurrent.h) on the window's rows of X and of Hprev (Y shifted one
 * step later with h0 in front).
 *
 * As in TimeLSTM, a step's product and activation are fused per part of the
 * hidden units, on Wh packed once per pass (tl_rec, one gate block): forward
 * a part gets h_{t-1}·Wh for its units and then act on them; backward a
 * part gets dh = dY[:,s] + dT[:,s+1]·Whᵀ for its units and then dT[:,s].
 * Parts run on the library's threads; the split never changes a unit's
 * arithmetic, so results are the same bits for any thread count.
 *
 * State and the common buffers: recurrent.h; see rnn.h for the rules.
 */
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "recurrent.h"
#include "timelayers/rnn.h"

typedef struct {
    tl_recurrent base;    /* layer header, state, common buffers: must be first */
    tl_rnn_cell cell;
} time_rnn;

/* One forward step for a part of the units: Y_t += h_prev·Wh (h_prev NULL:
 * a zero state), then the activation. */
typedef struct {
    const tl_rec *rec;
    tl_activation act;
    int N, ld, ldh;
    const tl_real *h_prev;
    tl_real *Y;
} fwd_step;

static void forward_part(void *ctx, int part, int parts)
{
    const fwd_step *s = ctx;
    int u0, u1;
    tl_rec_split(s->rec, part, parts, &u0, &u1);
    if (s->h_prev)
        tl_rec_forward(s->rec, s->N, s->h_prev, s->ldh, u0, u1, s->Y, s->ld);
    for (int n = 0; n < s->N; n++) {
        tl_real *y = s->Y + (size_t)n * s->ld + u0;
        if (s->act == TL_ACT_TANH)
            tl_vtanh(u1 - u0, y, y);
        else
            tl_vsigmoid(u1 - u0, y, y);
    }
}

/* One backward step: dh = dY[:,s] + dT[:,s+1]·Whᵀ (recurrent.h's
 * tl_recurrent_step, dA = dT), then, when Y_s is set, dT_s = dh ⊙ act'(Y_s). */
typedef struct {
    tl_recurrent_step c;
    time_rnn *r;
    const tl_real *Y_s;
} bwd_step;

static void backward_part(void *ctx, int part, int parts)
{
    const bwd_step *s = ctx;
    const tl_recurrent_step *c = &s->c;
    int u0, u1, H = c->H;
    tl_recurrent_step_dh(c, part, parts, &u0, &u1);
    if (!s->Y_s)
        return;
    bool is_tanh = s->r->cell.act == TL_ACT_TANH;
    for (int n = 0; n < c->N; n++)
        tl_dact_from_output(is_tanh, u1 - u0, s->Y_s + (size_t)n * c->ld + u0,
                            c->dh + (size_t)n * H + u0, c->dA_s + (size_t)n * c->ldd + u0);
}

static tl_status rnn_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    time_rnn *r = (time_rnn *)l;
    tl_recurrent *b = &r->base;
    bool from_state;
    TL_TRY(tl_recurrent_begin(b, x, &from_state));
    int N = x->shape[0], T = x->shape[1], D = r->cell.in_dim, H = r->cell.hidden;

    int ld = T * H;
    tl_real *Y = b->y.data;
    tl_rnn_cell_project(&r->cell, N * T, x->data, D, Y, H);
    TL_TRY(tl_recurrent_prepare(b, r->cell.params[TL_RNN_WH].value.data, 1, N, false, 1, NULL));
    int parts = tl_rec_parts(&b->rec, N);
    fwd_step s = {&b->rec, r->cell.act, N, ld, H, from_state ? b->h0.data : NULL, Y};
    for (int t = 0; t < T; t++) {
        if (t) {
            s.h_prev = Y + (size_t)(t - 1) * H;
            s.ldh = ld;
        }
        s.Y = Y + (size_t)t * H;
        tl_parallel_run_homed(parts, forward_part, &s);
    }

    *y = tl_recurrent_end(b, x, NULL);
    return TL_OK;
}

/* Step s (recurrent.h's backward windows): dh = dY[:,s] + dT[:,s+1]·Whᵀ
 * (truncated BPTT: nothing flows in from later chunks), dT[:,s] = dh ⊙
 * act'(Y[:,s]); s = -1: dh0 = dT[:,0]·Whᵀ. */
static void backward_step(void *ctx, int s)
{
    bwd_step *b = ctx;
    b->Y_s = s >= 0 ? b->r->base.y.data + (size_t)s * b->c.H : NULL;
}

static void backward_params(void *ctx, int rows, const tl_real *xw, const tl_real *hw,
                            tl_real *dxw)
{
    const bwd_step *b = ctx;
    int D = b->r->cell.in_dim, H = b->r->cell.hidden;
    tl_rnn_cell_backward_params(&b->r->cell, rows, xw, D, hw, H, b->c.dA, H, dxw, D);
}

static tl_status rnn_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    time_rnn *r = (time_rnn *)l;
    tl_recurrent *base = &r->base;
    TL_TRY(tl_recurrent_begin_backward(base, dy));
    int N = base->x->shape[0];
    tl_real *dT;   /* W + 1 steps in the workspace, slot j = step t0 + j */
    TL_TRY(tl_recurrent_prepare(base, r->cell.params[TL_RNN_WH].value.data, 1, N, true, 1, &dT));
    bwd_step b = {.r = r};
    tl_recurrent_step_init(base, &b.c, dy->data, dT, 1, false);
    tl_recurrent_backward_windows(base, &b.c, backward_step, backward_part, backward_params, &b);
    *dx = &base->dx;
    return TL_OK;
}

static tl_status rnn_config(const tl_layer *l, tl_layer_config *cfg)
{
    TL_TRY(tl_recurrent_config(l, cfg));
    return tl_config_set_int(cfg, "activation", (int)((const time_rnn *)l)->cell.act);
}

static void rnn_destroy(tl_layer *l)
{
    time_rnn *r = (time_rnn *)l;
    tl_rnn_cell_free(&r->cell);
    tl_recurrent_free(&r->base);
    tl_free(r);
}

static const tl_layer_ops rnn_ops = {
    .type = "TimeRNN",
    .forward = rnn_forward,
    .backward = rnn_backward,
    TL_RECURRENT_OPS,
    .config = rnn_config,
    .destroy = rnn_destroy,
};

tl_status tl_time_rnn_create(tl_layer **out, int in_dim, int hidden, bool stateful,
                             tl_activation act, tl_rng *rng)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_rnn_create: out is NULL");
    *out = NULL;
    time_rnn *r;
    TL_TRY(tl_calloc((void **)&r, 1, sizeof *r, "TimeRNN"));
    tl_status st = tl_rnn_cell_init(&r->cell, in_dim, hidden, act, rng);
    if (st) {
        tl_free(r);
        return st;
    }
    tl_recurrent_init(&r->base, &rnn_ops, in_dim, hidden, 1, false, stateful, r->cell.params,
                      TL_RNN_NPARAMS);
    *out = &r->base.layer;
    return TL_OK;
}
