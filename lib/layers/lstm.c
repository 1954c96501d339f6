/* TimeLSTM: the LSTM cell along time, batch-major (N, T, D) -> (N, T, H).
 *
 *   forward:   G = X·Wx + b                                 one GEMM over all R = N·T rows
 *              for t = 0 .. T-1:  G[:,t] += h_{t-1}·Wh;  G[:,t] -> gates f, g, i, o;
 *                                 C[:,t] = f⊙c_{t-1} + g⊙i;  Y[:,t] = o⊙tanh(C[:,t])
 *              with (h_{-1}, c_{-1}) = (h0, c0), h_t = Y[:,t], c_t = C[:,t]
 *   backward:  dh = dc = 0
 *              for t = T-1 .. 0:  dh += dY[:,t];
 *                                 dA[:,t], dc = cell backward (G[:,t], c_{t-1}, C[:,t], dh, dc);
 *                                 dh = dA[:,t]·Whᵀ
 *              dh0 = dh;  dc0 = dc;  dWx += Xᵀ·dA;  dWh += Hprevᵀ·dA;  db += Σ dA;  dX = dA·Wxᵀ
 *
 * Only the recurrent halves of the cell run per step, on strided slices
 * (ld = T·H, T·4H) of the (N, T, ·) buffers; everything linear in X or dA is
 * one GEMM over all steps. Hprev is Y shifted one step later with h0 in
 * front, copied into a reusable buffer so that dWh is a single GEMM too.
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
 * State: the shared recurrent mechanism (recurrent.h); see lstm.h for the rules.
 */
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "recurrent.h"
#include "timelayers/lstm.h"

typedef struct {
    tl_recurrent base;    /* layer header and state (h, c): must be first */
    tl_lstm_cell cell;

    const tl_tensor *x;   /* borrowed from the caller until backward; NULL = no forward */
    tl_tensor y, cs;      /* (N, T, H) hidden and cell states */
    tl_tensor gates;      /* (N, T, 4H) f, g, i, o */

    tl_tensor dx, dA, hprev, dh, dc;
    tl_rec rec;           /* Wh prepared for the per-step products */

    double rec_p;         /* recurrent dropout rate, 0 = none */
    tl_layer_mode mode;
    bool masked;          /* the last forward used the mask */
    tl_tensor mask, hm;   /* (N, H): the scaled mask, and h_{t-1}⊙M of the current step */
} time_lstm;

/* One forward step: G (pre-activations, becoming gates), C and Y are the
 * step's slices; h_prev NULL is the zero state. */
typedef struct {
    const tl_rec *rec;
    int N, H, ld, ldg;
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
    if (s->h_prev)
        tl_rec_forward(s->rec, s->N, s->h_prev, s->ldh, u0, u1, s->G, s->ldg);
    for (int n = 0; n < s->N; n++)
        tl_lstm_gates_forward(u1 - u0, s->H, s->G + (size_t)n * s->ldg + u0,
                              s->c_prev + (size_t)n * s->ldcp + u0, s->C + (size_t)n * s->ld + u0,
                              s->Y + (size_t)n * s->ld + u0);
}

/* One backward region: dh = dy_s + dA_next·Whᵀ (dy_s NULL: zeros, dA_next
 * NULL: nothing from later steps), then, when G_s is set, the cell backward
 * of step s: dA_s and dc_out from dh and dc. */
typedef struct {
    const tl_rec *rec;
    int N, H, ld, ldg;
    const tl_real *dA_next, *dy_s;
    tl_real *dh;
    const tl_real *G_s, *c_prev, *C_s;
    int ldcp;
    const tl_real *dc;
    tl_real *dA_s, *dc_out;
    const tl_real *mask;  /* recurrent dropout's (N, H) mask, or NULL */
} bwd_step;

static void backward_part(void *ctx, int part, int parts)
{
    const bwd_step *s = ctx;
    int u0, u1, N = s->N, H = s->H;
    tl_rec_split(s->rec, part, parts, &u0, &u1);
    bool masked = s->mask && s->dA_next;
    for (int n = 0; n < N; n++) {
        tl_real *dh = s->dh + (size_t)n * H + u0;
        if (s->dy_s && !masked)
            memcpy(dh, s->dy_s + (size_t)n * s->ld + u0, (size_t)(u1 - u0) * sizeof *dh);
        else
            memset(dh, 0, (size_t)(u1 - u0) * sizeof *dh);
    }
    if (s->dA_next)
        tl_rec_backward(s->rec, N, s->dA_next, s->ldg, u0, u1, s->dh, H);
    for (int n = 0; masked && n < N; n++) {
        tl_real *dh = s->dh + (size_t)n * H;
        const tl_real *m = s->mask + (size_t)n * H;
        const tl_real *dy = s->dy_s ? s->dy_s + (size_t)n * s->ld : NULL;
        for (int u = u0; u < u1; u++)
            dh[u] = (dy ? dy[u] : 0) + m[u] * dh[u];
    }
    if (!s->G_s)
        return;
    for (int n = 0; n < N; n++)
        tl_lstm_gates_backward(u1 - u0, H, s->G_s + (size_t)n * s->ldg + u0,
                               s->c_prev + (size_t)n * s->ldcp + u0,
                               s->C_s + (size_t)n * s->ld + u0, s->dh + (size_t)n * H + u0,
                               s->dc + (size_t)n * H + u0, s->dA_s + (size_t)n * s->ldg + u0,
                               s->dc_out + (size_t)n * H + u0);
}

/* out = a ⊙ M row by row over N rows of H (row strides lda, ldo; M (N, H)). */
static void mask_rows(int N, int H, const tl_real *a, int lda, const tl_real *M, tl_real *out,
                      int ldo)
{
    for (int n = 0; n < N; n++)
        for (int u = 0; u < H; u++)
            out[(size_t)n * ldo + u] = a[(size_t)n * lda + u] * M[(size_t)n * H + u];
}

static tl_status lstm_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    time_lstm *r = (time_lstm *)l;
    TL_TRY(tl_recurrent_check_input(&r->base, x));
    int N = x->shape[0], T = x->shape[1], D = r->cell.in_dim, H = r->cell.hidden;
    bool from_state;
    TL_TRY(tl_recurrent_begin(&r->base, N, &from_state));
    r->x = NULL;
    TL_TRY(tl_tensor_resize(&r->y, TL_REAL, 3, (int[]){N, T, H}));
    TL_TRY(tl_tensor_resize(&r->cs, TL_REAL, 3, (int[]){N, T, H}));
    TL_TRY(tl_tensor_resize(&r->gates, TL_REAL, 3, (int[]){N, T, 4 * H}));

    r->masked = r->mode.training && r->rec_p > 0;
    if (r->masked) {
        TL_TRY(tl_tensor_resize(&r->mask, TL_REAL, 2, (int[]){N, H}));
        TL_TRY(tl_tensor_resize(&r->hm, TL_REAL, 2, (int[]){N, H}));
        tl_dropout_mask(r->mask.data, r->mask.size,
                        tl_rng_key(r->mode.seed, r->mode.step, (uint64_t)r->mode.index, 1),
                        r->rec_p);
    }

    int ld = T * H, ldg = 4 * T * H;
    tl_real *Y = r->y.data, *C = r->cs.data, *G = r->gates.data;
    tl_lstm_cell_project(&r->cell, N * T, x->data, D, G, 4 * H);
    TL_TRY(tl_rec_prepare(&r->rec, r->cell.params[TL_LSTM_WH].value.data, H, 4, false, N));
    int parts = tl_rec_parts(&r->rec, N);
    /* A zero h0 skips its product; c0 holds zeros then, which costs nothing. */
    fwd_step s = {&r->rec, N,  H, ld, ldg, from_state ? r->base.h0.data : NULL, H, r->base.c0.data,
                  H,         G, C, Y};
    for (int t = 0; t < T; t++) {
        if (t) {
            s.h_prev = Y + (size_t)(t - 1) * H;
            s.c_prev = C + (size_t)(t - 1) * H;
            s.ldh = s.ldcp = ld;
        }
        if (r->masked && s.h_prev) {
            mask_rows(N, H, s.h_prev, s.ldh, r->mask.data, r->hm.data, H);
            s.h_prev = r->hm.data;
            s.ldh = H;
        }
        s.G = G + (size_t)t * 4 * H;
        s.C = C + (size_t)t * H;
        s.Y = Y + (size_t)t * H;
        tl_parallel_run(parts, forward_part, &s);
    }

    tl_recurrent_end(&r->base, N, Y + (size_t)(T - 1) * H, C + (size_t)(T - 1) * H, ld);
    r->x = x;
    *y = &r->y;
    return TL_OK;
}

static tl_status lstm_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    time_lstm *r = (time_lstm *)l;
    if (!r->x)
        return tl_fail(TL_ERR_STATE, "TimeLSTM: backward called before a successful forward");
    if (!tl_tensor_same_shape(dy, &r->y))
        return tl_fail_shape("TimeLSTM backward", "dy", dy, "the shape of the last output");
    const tl_tensor *x = r->x;
    int N = x->shape[0], T = x->shape[1], D = r->cell.in_dim, H = r->cell.hidden;
    TL_TRY(tl_tensor_resize(&r->dA, TL_REAL, 3, (int[]){N, T, 4 * H}));
    TL_TRY(tl_tensor_resize(&r->hprev, TL_REAL, 3, (int[]){N, T, H}));
    TL_TRY(tl_tensor_resize(&r->dx, TL_REAL, 3, x->shape));
    /* Truncated BPTT: nothing flows in from later chunks. */
    TL_TRY(tl_tensor_resize(&r->dh, TL_REAL, 2, (int[]){N, H}));
    TL_TRY(tl_tensor_zeros2(&r->dc, N, H));
    TL_TRY(tl_recurrent_begin_backward(&r->base, N));

    int ld = T * H, ldg = 4 * T * H;
    const tl_real *Y = r->y.data, *C = r->cs.data, *G = r->gates.data;
    tl_real *dA = r->dA.data;
    TL_TRY(tl_rec_prepare(&r->rec, r->cell.params[TL_LSTM_WH].value.data, H, 4, true, N));
    int parts = tl_rec_parts(&r->rec, N);
    /* Step s = T-1 .. 0 gets dh = dY[:,s] + dA[:,s+1]·Whᵀ (truncated BPTT:
     * nothing flows in from later chunks), then its cell backward; dc is
     * updated in place, step 0 writes dc0. Finally dh0 = dA[:,0]·Whᵀ. */
    bwd_step b = {.rec = &r->rec, .N = N, .H = H, .ld = ld, .ldg = ldg, .dc = r->dc.data,
                  .mask = r->masked ? r->mask.data : NULL};
    for (int s = T - 1; s >= -1; s--) {
        b.dA_next = s + 1 < T ? dA + (size_t)(s + 1) * 4 * H : NULL;
        b.dy_s = s >= 0 ? dy->data + (size_t)s * H : NULL;
        b.dh = s >= 0 ? r->dh.data : r->base.dh0.data;
        b.G_s = s >= 0 ? G + (size_t)s * 4 * H : NULL;
        b.c_prev = s > 0 ? C + (size_t)(s - 1) * H : r->base.c0.data;
        b.ldcp = s > 0 ? ld : H;
        b.C_s = C + (size_t)(s >= 0 ? s : 0) * H;
        b.dA_s = dA + (size_t)(s >= 0 ? s : 0) * 4 * H;
        b.dc_out = s > 0 ? r->dc.data : r->base.dc0.data;
        tl_parallel_run(parts, backward_part, &b);
    }

    /* Hprev[:,0] = h0 and Hprev[:,t] = Y[:,t-1]: per batch row, one block of T-1 steps. */
    tl_real *Hp = r->hprev.data;
    tl_copy_rows(N, H, r->base.h0.data, H, Hp, ld);
    tl_copy_rows(N, (T - 1) * H, Y, ld, Hp + H, ld);
    for (int t = 0; r->masked && t < T; t++)
        mask_rows(N, H, Hp + (size_t)t * H, ld, r->mask.data, Hp + (size_t)t * H, ld);
    tl_lstm_cell_backward_params(&r->cell, N * T, x->data, D, Hp, H, dA, 4 * H, r->dx.data, D);
    *dx = &r->dx;
    return TL_OK;
}

static tl_param *lstm_params(tl_layer *l, int *count)
{
    *count = TL_LSTM_NPARAMS;
    return ((time_lstm *)l)->cell.params;
}

static tl_status lstm_config(const tl_layer *l, tl_layer_config *cfg)
{
    const time_lstm *r = (const time_lstm *)l;
    cfg->in_dim = r->cell.in_dim;
    cfg->out_dim = r->cell.hidden;
    TL_TRY(tl_config_set_bool(cfg, "stateful", r->base.stateful));
    return r->rec_p > 0 ? tl_config_set_real(cfg, "rec_dropout", r->rec_p) : TL_OK;
}

static void lstm_set_mode(tl_layer *l, const tl_layer_mode *mode)
{
    ((time_lstm *)l)->mode = *mode;
}

static void lstm_destroy(tl_layer *l)
{
    time_lstm *r = (time_lstm *)l;
    tl_lstm_cell_free(&r->cell);
    tl_rec_free(&r->rec);
    tl_recurrent_free(&r->base);
    tl_tensor *owned[] = {&r->y,     &r->cs, &r->gates, &r->dx,   &r->dA,
                          &r->hprev, &r->dh, &r->dc,    &r->mask, &r->hm};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_free(r);
}

static const tl_layer_ops lstm_ops = {
    .type = "TimeLSTM",
    .forward = lstm_forward,
    .backward = lstm_backward,
    .params = lstm_params,
    .reset_state = tl_recurrent_reset_state,
    .get_state = tl_recurrent_get_state,
    .set_state = tl_recurrent_set_state,
    .state_grad = tl_recurrent_state_grad,
    .set_mode = lstm_set_mode,
    .config = lstm_config,
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
    tl_recurrent_init(&r->base, &lstm_ops, in_dim, hidden, 4, true, stateful);
    r->mode = (tl_layer_mode){.training = true};
    *out = &r->base.layer;
    return TL_OK;
}

tl_status tl_time_lstm_set_recurrent_dropout(tl_layer *l, double p)
{
    if (!l || l->ops != &lstm_ops)
        return tl_fail(TL_ERR_ARG, "tl_time_lstm_set_recurrent_dropout: %s is not a TimeLSTM",
                       tl_layer_type(l));
    if (!(p >= 0 && p < 1))
        return tl_fail(TL_ERR_ARG, "TimeLSTM: the recurrent dropout rate must be in [0, 1) "
                       "(got %g)", p);
    ((time_lstm *)l)->rec_p = p;
    return TL_OK;
}
