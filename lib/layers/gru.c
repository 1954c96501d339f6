/* TimeGRU: the GRU cell along time, batch-major (N, T, D) -> (N, T, H).
 *
 *   forward:   G[:, :, 0:3H] = X·Wx + b                       one GEMM over all R = N·T rows
 *              for t = 0 .. T-1:  hh = h_{t-1}·Wh + [0, 0, bhn];
 *                                 G[:,t] -> r, z, n, hn;  Y[:,t] = n + z⊙(h_{t-1} − n)
 *              with h_{-1} = h0, h_t = Y[:,t]
 *   backward:  dh = 0
 *              for t = T-1 .. 0:  dh += dY[:,t];
 *                                 dAh[:,t], dAx[:,t] = cell backward (G[:,t], h_{t-1}, dh);
 *                                 dh = z_t⊙dh + dAh[:,t]·Whᵀ
 *              dh0 = dh;  dWx += Xᵀ·dAx;  dWh += Hprevᵀ·dAh;  db += Σ dAx;
 *              dbhn += Σ dAh_n;  dX = dAx·Wxᵀ
 *
 * As in TimeLSTM, only the recurrent halves run per step, fused per part of
 * the hidden units: a part gets its columns of h·Wh (in each of the three
 * gate blocks, into the (N, 3H) scratch hh) and then at once its gate math;
 * backward, a part's dh is dY[:,t-1] + z_t⊙dh + dAh[:,t]·Whᵀ on its units,
 * followed by the cell backward of step t-1 on them. Parts own disjoint units
 * (tl_rec_split) and meet only at the step's end. Wh (and Whᵀ) are packed
 * once per pass (tl_rec_prepare). The products linear in dAh, dAx run once
 * per backward window of steps (recurrent.h) on the window's rows of X and
 * of Hprev (Y shifted one step later with h0 in front).
 *
 * Recurrent dropout (rec_p > 0, training mode): one mask M (N, H) per
 * forward, scaled by 1/(1 − rec_p), multiplies h_{t-1} in its product with
 * Wh only: hh = (h_{t-1}⊙M)·Wh + [0, 0, bhn], while the carry z⊙h_{t-1}
 * keeps h_{t-1} itself. Backward: dh = dY[:,s] + z_{s+1}⊙dh +
 * (dAh[:,s+1]·Whᵀ)⊙M, the product going through the scratch hm first, and
 * dWh += (Hprev⊙M)ᵀ·dAh.
 *
 * State, the common buffers and the mask: recurrent.h; see gru.h for the rules.
 */
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "recurrent.h"
#include "timelayers/gru.h"

typedef struct {
    tl_recurrent base;    /* layer header, state, common buffers: must be first */
    tl_gru_cell cell;
    tl_tensor gates;      /* (N, T, 4H) r, z, n, hn */
    tl_tensor hh;         /* (N, 3H) the step's h·Wh + [0, 0, bhn] */
} time_gru;

/* One forward step on the step's slices; h_prev NULL is the zero state.
 * h_rec is what the product reads: h_prev, or h_prev⊙M under dropout. */
typedef struct {
    const tl_rec *rec;
    int N, H, ld, ldg;
    const tl_real *bhn;
    const tl_real *h_prev, *h_rec;
    int ldh, ldr;
    tl_real *G, *hh, *Y;
} fwd_step;

static void forward_part(void *ctx, int part, int parts)
{
    const fwd_step *s = ctx;
    int u0, u1, H = s->H;
    tl_rec_split(s->rec, part, parts, &u0, &u1);
    tl_gru_hh_init(s->N, H, s->bhn, s->hh, 3 * H, u0, u1);
    if (s->h_prev)
        tl_rec_forward(s->rec, s->N, s->h_rec, s->ldr, u0, u1, s->hh, 3 * H);
    for (int n = 0; n < s->N; n++)
        tl_gru_gates_forward(u1 - u0, H, s->G + (size_t)n * s->ldg + u0,
                             s->hh + (size_t)n * 3 * H + u0,
                             s->h_prev ? s->h_prev + (size_t)n * s->ldh + u0 : NULL,
                             s->Y + (size_t)n * s->ld + u0);
}

/* One backward step: dh = dY[:,s] + dh (already z-scaled by the later step)
 * + dAh[:,s+1]·Whᵀ (recurrent.h's tl_recurrent_step, dA = dAh, carry), then,
 * when G_s is set, the cell backward of step s, which leaves z_s⊙dh in dh. */
typedef struct {
    tl_recurrent_step c;
    time_gru *r;
    tl_real *dAx;             /* (W + 1, N, 3H) in the workspace, as dAh (c.dA) */
    int ldg;                  /* row stride of G */
    const tl_real *G_s, *h_prev;
    int ldh;
    tl_real *dAx_s;           /* row stride c.ldd, as dAh */
} bwd_step;

static void backward_part(void *ctx, int part, int parts)
{
    const bwd_step *s = ctx;
    const tl_recurrent_step *c = &s->c;
    int u0, u1, H = c->H;
    tl_recurrent_step_dh(c, part, parts, &u0, &u1);
    if (!s->G_s)
        return;
    for (int n = 0; n < c->N; n++) {
        tl_real *dh = c->dh + (size_t)n * H + u0;
        tl_gru_gates_backward(u1 - u0, H, s->G_s + (size_t)n * s->ldg + u0,
                              s->h_prev ? s->h_prev + (size_t)n * s->ldh + u0 : NULL, dh,
                              c->dA_s + (size_t)n * c->ldd + u0,
                              s->dAx_s + (size_t)n * c->ldd + u0, dh);
    }
}

static tl_status gru_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    time_gru *r = (time_gru *)l;
    tl_recurrent *b = &r->base;
    bool from_state;
    TL_TRY(tl_recurrent_begin(b, x, &from_state));
    int N = x->shape[0], T = x->shape[1], D = r->cell.in_dim, H = r->cell.hidden;
    TL_TRY(tl_tensor_resize(&r->gates, TL_REAL, 3, (int[]){N, T, 4 * H}));
    TL_TRY(tl_tensor_resize(&r->hh, TL_REAL, 2, (int[]){N, 3 * H}));

    int ld = T * H, ldg = 4 * T * H;
    tl_real *Y = b->y.data, *G = r->gates.data;
    tl_gru_cell_project(&r->cell, N * T, x->data, D, G, 4 * H);
    TL_TRY(tl_recurrent_prepare(b, r->cell.params[TL_GRU_WH].value.data, 3, N, false, 2, NULL));
    int parts = tl_rec_parts(&b->rec, N);
    fwd_step s = {.rec = &b->rec, .N = N, .H = H, .ld = ld, .ldg = ldg,
                  .bhn = r->cell.params[TL_GRU_BHN].value.data,
                  .h_prev = from_state ? b->h0.data : NULL, .ldh = H, .G = G, .hh = r->hh.data,
                  .Y = Y};
    for (int t = 0; t < T; t++) {
        if (t) {
            s.h_prev = Y + (size_t)(t - 1) * H;
            s.ldh = ld;
        }
        s.ldr = s.ldh;
        s.h_rec = tl_recurrent_h_in(b, N, s.h_prev, &s.ldr);
        s.G = G + (size_t)t * 4 * H;
        s.Y = Y + (size_t)t * H;
        tl_parallel_run_homed(parts, forward_part, &s);
    }

    *y = tl_recurrent_end(b, x, NULL);
    return TL_OK;
}

/* Step s (recurrent.h's backward windows): dh = dY[:,s] + z_{s+1}⊙dh +
 * dAh[:,s+1]·Whᵀ (truncated BPTT: nothing flows in from later chunks), then
 * its cell backward. s = -1: dh0 = z_0⊙dh + dAh[:,0]·Whᵀ. */
static void backward_step(void *ctx, int s)
{
    bwd_step *b = ctx;
    tl_recurrent *base = &b->r->base;
    int H = base->hidden;
    const tl_real *Y = base->y.data, *G = b->r->gates.data;
    b->G_s = s >= 0 ? G + (size_t)s * 4 * H : NULL;
    b->h_prev = s > 0 ? Y + (size_t)(s - 1) * H : base->h0.data;
    b->ldh = s > 0 ? b->c.ld : H;
    b->dAx_s = b->dAx + (b->c.dA_s - b->c.dA);
}

static void backward_params(void *ctx, int rows, const tl_real *xw, const tl_real *hw,
                            tl_real *dxw)
{
    const bwd_step *b = ctx;
    int D = b->r->cell.in_dim, H = b->r->cell.hidden;
    tl_gru_cell_backward_params(&b->r->cell, rows, xw, D, hw, H, b->c.dA, 3 * H,
                                b->dAx, 3 * H, dxw, D);
}

static tl_status gru_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    time_gru *r = (time_gru *)l;
    tl_recurrent *base = &r->base;
    TL_TRY(tl_recurrent_begin_backward(base, dy));
    int N = base->x->shape[0], T = base->x->shape[1], H = r->cell.hidden;
    tl_real *dA[2];   /* dAh, dAx: W + 1 steps each, slot j = step t0 + j */
    TL_TRY(tl_recurrent_prepare(base, r->cell.params[TL_GRU_WH].value.data, 3, N, true, 2, dA));
    bwd_step b = {.r = r, .dAx = dA[1], .ldg = 4 * T * H};
    tl_recurrent_step_init(base, &b.c, dy->data, dA[0], 3, true);
    tl_recurrent_backward_windows(base, &b.c, backward_step, backward_part, backward_params, &b);
    *dx = &base->dx;
    return TL_OK;
}

static void gru_destroy(tl_layer *l)
{
    time_gru *r = (time_gru *)l;
    tl_gru_cell_free(&r->cell);
    tl_recurrent_free(&r->base);
    tl_tensor *owned[] = {&r->gates, &r->hh};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_free(r);
}

static const tl_layer_ops gru_ops = {
    .type = "TimeGRU",
    .forward = gru_forward,
    .backward = gru_backward,
    TL_RECURRENT_OPS,
    .config = tl_recurrent_config,
    .destroy = gru_destroy,
};

tl_status tl_time_gru_create(tl_layer **out, int in_dim, int hidden, bool stateful, tl_rng *rng)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_gru_create: out is NULL");
    *out = NULL;
    time_gru *r;
    TL_TRY(tl_calloc((void **)&r, 1, sizeof *r, "TimeGRU"));
    tl_status st = tl_gru_cell_init(&r->cell, in_dim, hidden, rng);
    if (st) {
        tl_free(r);
        return st;
    }
    tl_recurrent_init(&r->base, &gru_ops, in_dim, hidden, 4, false, stateful, r->cell.params,
                      TL_GRU_NPARAMS);
    *out = &r->base.layer;
    return TL_OK;
}

tl_status tl_time_gru_set_recurrent_dropout(tl_layer *l, double p)
{
    return tl_recurrent_set_dropout(l, &gru_ops, "tl_time_gru_set_recurrent_dropout", p);
}
