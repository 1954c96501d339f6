/* TimeLSTM: the LSTM cell along time, batch-major (N, T, D) -> (N, T, H).
 *
 *   forward:   G = X·Wx                                     one GEMM over all R = N·T rows
 *              for t = 0 .. T-1:  G[:,t] += b;  G[:,t] += h_{t-1}·Wh;  G[:,t] -> f, g, i, o;
 *                                 C[:,t] = f⊙c_{t-1} + g⊙i;  Y[:,t] = o⊙tanh(C[:,t])
 *              with (h_{-1}, c_{-1}) = (h0, c0), h_t = Y[:,t], c_t = C[:,t]
 *   backward:  dh = dc = 0
 *              for t = T-1 .. 0:  dh += dY[:,t];
 *                                 dA[:,t], dc = cell backward (G[:,t], c_{t-1}, C[:,t], dh, dc);
 *                                 dh = dA[:,t]·Whᵀ
 *              dh0 = dh;  dc0 = dc;  dWx += Xᵀ·dA;  dWh += Hprevᵀ·dA;  db += Σ dA;  dX = dA·Wxᵀ
 *
 * Only the recurrent halves of the cell run per step, on strided slices
 * (ld = T·H, T·4H) of the (N, T, ·) buffers; everything linear in X is one
 * GEMM over all steps, everything linear in dA one GEMM per backward window
 * of steps (recurrent.h), which keeps dA for W + 1 steps only. Hprev is Y
 * shifted one step later with h0 in front, gathered per window.
 *
 * The recurrent halves are fused per step: a part of the hidden units (its
 * columns in each of the four gate blocks) gets its h·Wh product and then its
 * gate math, so the two threads of a step each own disjoint units
 * (tl_rec_split) and meet only at the step's end. Backward likewise: dh for
 * a part's units is dY[:,t-1] + dA[:,t]·Whᵀ, followed at once by the cell
 * backward of step t-1 on those units. Wh (and Whᵀ) are packed once per pass
 * (tl_rec_prepare).
 *
 * Recurrent dropout (rec_p > 0, training mode): one mask M (N, H) per
 * forward, scaled by 1/(1 − rec_p), multiplies h_{t-1} before its product
 * with Wh at every step: G[:,t] += (h_{t-1}⊙M)·Wh. Backward: the carried
 * gradient becomes dh = dY[:,s] + (dA[:,s+1]·Whᵀ)⊙M, and dWh += (Hprev⊙M)ᵀ·dA.
 *
 * State, the common buffers and the mask: recurrent.h; see lstm.h for the rules.
 */
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "recurrent.h"
#include "timelayers/lstm.h"

typedef struct {
    tl_recurrent base;    /* layer header, state, common buffers, dropout: must be first */
    tl_lstm_cell cell;
    tl_tensor cs;         /* (N, T, H) cell states */
    tl_tensor gates;      /* (N, T, 4H) f, g, i, o */
    tl_tensor dc;
} time_lstm;

/* One forward step: G (pre-activations, becoming gates), C and Y are the
 * step's slices; h_prev NULL is the zero state. */
typedef struct {
    const tl_rec *rec;
    int N, H, ld, ldg;
    const tl_real *b;     /* the bias, added here: G holds x·Wx alone */
    const tl_real *h_prev;
    int ldh;
    const tl_real *c_prev;
    int ldcp;
    tl_real *G, *C, *Y;
} fwd_step;

static void forward_part(void *ctx, int part, int parts)
{
    const fwd_step *s = ctx;
    int u0, u1;
    tl_rec_split(s->rec, part, parts, &u0, &u1);
    for (int n = 0; n < s->N; n++)
        for (int q = 0; q < 4; q++) {
            tl_real *g = s->G + (size_t)n * s->ldg + (size_t)q * s->H;
            const tl_real *b = s->b + (size_t)q * s->H;
            for (int u = u0; u < u1; u++)
                g[u] += b[u];
        }
    if (s->h_prev)
        tl_rec_forward(s->rec, s->N, s->h_prev, s->ldh, u0, u1, s->G, s->ldg);
    for (int n = 0; n < s->N; n++)
        tl_lstm_gates_forward(u1 - u0, s->H, s->G + (size_t)n * s->ldg + u0,
                              s->c_prev + (size_t)n * s->ldcp + u0, s->C + (size_t)n * s->ld + u0,
                              s->Y + (size_t)n * s->ld + u0);
}

/* One backward step: dh (recurrent.h's tl_recurrent_step), then, when G_s
 * is set, the cell backward of step s: dA_s and dc_out from dh and dc. */
typedef struct {
    tl_recurrent_step c;
    time_lstm *r;
    int ldg;                  /* row stride of G */
    const tl_real *G_s, *c_prev, *C_s;
    int ldcp;
    const tl_real *dc;
    tl_real *dc_out;
} bwd_step;

static void backward_part(void *ctx, int part, int parts)
{
    const bwd_step *s = ctx;
    const tl_recurrent_step *c = &s->c;
    int u0, u1, H = c->H;
    tl_recurrent_step_dh(c, part, parts, &u0, &u1);
    if (!s->G_s)
        return;
    for (int n = 0; n < c->N; n++)
        tl_lstm_gates_backward(u1 - u0, H, s->G_s + (size_t)n * s->ldg + u0,
                               s->c_prev + (size_t)n * s->ldcp + u0,
                               s->C_s + (size_t)n * c->ld + u0, c->dh + (size_t)n * H + u0,
                               s->dc + (size_t)n * H + u0, c->dA_s + (size_t)n * c->ldd + u0,
                               s->dc_out + (size_t)n * H + u0);
}

static tl_status lstm_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    time_lstm *r = (time_lstm *)l;
    tl_recurrent *b = &r->base;
    bool from_state;
    TL_TRY(tl_recurrent_begin(b, x, &from_state));
    int N = x->shape[0], T = x->shape[1], D = r->cell.in_dim, H = r->cell.hidden;
    TL_TRY(tl_tensor_resize(&r->cs, TL_REAL, 3, (int[]){N, T, H}));
    TL_TRY(tl_tensor_resize(&r->gates, TL_REAL, 3, (int[]){N, T, 4 * H}));

    int ld = T * H, ldg = 4 * T * H;
    tl_real *Y = b->y.data, *C = r->cs.data, *G = r->gates.data;
    /* x·Wx for all steps at once; the bias joins each step's slice in its
     * parallel part, where the slice is in cache anyway, rather than in a
     * serial pass over the whole (N, T, 4H) buffer first (the same sums). */
    tl_gemm(false, false, N * T, 4 * H, D, 1, x->data, D,
            r->cell.params[TL_LSTM_WX].value.data, 4 * H, 0, G, 4 * H);
    TL_TRY(tl_recurrent_prepare(b, r->cell.params[TL_LSTM_WH].value.data, 4, N, false, 1, NULL));
    int parts = tl_rec_parts(&b->rec, N);
    /* A zero h0 skips its product; c0 holds zeros then, which costs nothing. */
    fwd_step s = {&b->rec, N, H, ld, ldg, r->cell.params[TL_LSTM_B].value.data,
                  from_state ? b->h0.data : NULL, H, b->c0.data, H, G, C, Y};
    for (int t = 0; t < T; t++) {
        if (t) {
            s.h_prev = Y + (size_t)(t - 1) * H;
            s.c_prev = C + (size_t)(t - 1) * H;
            s.ldh = s.ldcp = ld;
        }
        s.h_prev = tl_recurrent_h_in(b, N, s.h_prev, &s.ldh);
        s.G = G + (size_t)t * 4 * H;
        s.C = C + (size_t)t * H;
        s.Y = Y + (size_t)t * H;
        tl_parallel_run_homed(parts, forward_part, &s);
    }

    *y = tl_recurrent_end(b, x, C);
    return TL_OK;
}

/* Step s (recurrent.h's backward windows): dh = dY[:,s] + dA[:,s+1]·Whᵀ
 * (truncated BPTT: nothing flows in from later chunks), then its cell
 * backward; dc is updated in place, step 0 writes dc0. s = -1: dh0 =
 * dA[:,0]·Whᵀ. */
static void backward_step(void *ctx, int s)
{
    bwd_step *b = ctx;
    tl_recurrent *base = &b->r->base;
    int H = base->hidden;
    const tl_real *C = b->r->cs.data, *G = b->r->gates.data;
    b->G_s = s >= 0 ? G + (size_t)s * 4 * H : NULL;
    b->c_prev = s > 0 ? C + (size_t)(s - 1) * H : base->c0.data;
    b->ldcp = s > 0 ? b->c.ld : H;
    b->C_s = C + (size_t)(s >= 0 ? s : 0) * H;
    b->dc_out = s > 0 ? b->r->dc.data : base->dc0.data;
}

static void backward_params(void *ctx, int rows, const tl_real *xw, const tl_real *hw,
                            tl_real *dxw)
{
    const bwd_step *b = ctx;
    int D = b->r->cell.in_dim, H = b->r->cell.hidden;
    tl_lstm_cell_backward_params(&b->r->cell, rows, xw, D, hw, H, b->c.dA, 4 * H, dxw, D);
}

static tl_status lstm_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    time_lstm *r = (time_lstm *)l;
    tl_recurrent *base = &r->base;
    TL_TRY(tl_recurrent_begin_backward(base, dy));
    int N = base->x->shape[0], T = base->x->shape[1], H = r->cell.hidden;
    /* Truncated BPTT: nothing flows in from later chunks. */
    TL_TRY(tl_tensor_zeros2(&r->dc, N, H));
    tl_real *dA;   /* W + 1 steps in the workspace, slot j = step t0 + j */
    TL_TRY(tl_recurrent_prepare(base, r->cell.params[TL_LSTM_WH].value.data, 4, N, true, 1, &dA));
    bwd_step b = {.r = r, .ldg = 4 * T * H, .dc = r->dc.data};
    tl_recurrent_step_init(base, &b.c, dy->data, dA, 4, false);
    tl_recurrent_backward_windows(base, &b.c, backward_step, backward_part, backward_params, &b);
    *dx = &base->dx;
    return TL_OK;
}

static void lstm_destroy(tl_layer *l)
{
    time_lstm *r = (time_lstm *)l;
    tl_lstm_cell_free(&r->cell);
    tl_recurrent_free(&r->base);
    tl_tensor *owned[] = {&r->cs, &r->gates, &r->dc};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_free(r);
}

static const tl_layer_ops lstm_ops = {
    .type = "TimeLSTM",
    .forward = lstm_forward,
    .backward = lstm_backward,
    TL_RECURRENT_OPS,
    .config = tl_recurrent_config,
    .destroy = lstm_destroy,
};

tl_status tl_time_lstm_create(tl_layer **out, int in_dim, int hidden, bool stateful,
                              tl_rng *rng)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_lstm_create: out is NULL");
    *out = NULL;
    time_lstm *r;
    TL_TRY(tl_calloc((void **)&r, 1, sizeof *r, "TimeLSTM"));
    tl_status st = tl_lstm_cell_init(&r->cell, in_dim, hidden, rng);
    if (st) {
        tl_free(r);
        return st;
    }
    tl_recurrent_init(&r->base, &lstm_ops, in_dim, hidden, 4, true, stateful, r->cell.params,
                      TL_LSTM_NPARAMS);
    *out = &r->base.layer;
    return TL_OK;
}

tl_status tl_time_lstm_set_recurrent_dropout(tl_layer *l, double p)
{
    return tl_recurrent_set_dropout(l, &lstm_ops, "tl_time_lstm_set_recurrent_dropout", p);
}
