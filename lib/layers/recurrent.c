/* What the recurrent layers share (recurrent.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "recurrent.h"

static const char *who(const tl_recurrent *r) { return r->layer.ops->type; }

/* Rows (steps times N) per backward window. Fewer rows make the window's
 * buffers smaller but cost time: the parameter gradients are updated once
 * per window, and the dX product packs all of Wx once per window. Config C
 * (N = 20, T = 35), in-process paired steps against one window of 35 steps
 * (Zen 5, loaded): 6 windows of 6 steps (128 rows) 2.8% (LSTM) and 3.0%
 * (GRU) more CPU time per training step, 3 windows of 12 steps 1.4% and
 * 0.6%; the 12-step windows take 3.7 MB more peak memory. */
enum { WINDOW_ROWS = 256 };

static int window_override;

void tl__recurrent_window_steps(int steps) { window_override = steps > 0 ? steps : 0; }

/* W for T steps of N rows: the windows as even as their count allows. */
static int window_steps(int N, int T)
{
    if (window_override)
        return window_override < T ? window_override : T;
    long long rows = (long long)N * T;
    int windows = (int)((rows + WINDOW_ROWS - 1) / WINDOW_ROWS);
    return (T + windows - 1) / windows;
}

void tl_recurrent_init(tl_recurrent *r, const tl_layer_ops *ops, int in_dim, int hidden,
                       int blocks, bool with_c, bool stateful, tl_param *params, int nparams)
{
    r->layer = (tl_layer){.ops = ops, .in_dtype = TL_REAL, .in_width = in_dim,
                          .out_width = hidden};
    r->hidden = hidden;
    r->blocks = blocks;
    r->with_c = with_c;
    r->stateful = stateful;
    r->params = params;
    r->nparams = nparams;
    r->mode = (tl_layer_mode){.training = true};
}

static tl_status check_input(const tl_recurrent *r, const tl_tensor *x)
{
    int D = r->layer.in_width, H = r->hidden;
    if (x->ndim != 3 || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] != D) {
        char expected[48];
        snprintf(expected, sizeof expected, "(N, T, %d) with N, T >= 1", D);
        return tl_fail_shape(who(r), "input", x, expected);
    }
    /* Row counts and leading dimensions are ints in the BLAS interface. */
    if ((long long)x->shape[0] * x->shape[1] > INT_MAX ||
        (long long)x->shape[1] * r->blocks * H > INT_MAX)
        return tl_fail(TL_ERR_NOMEM, "%s: N=%d, T=%d, H=%d exceed the int range of BLAS",
                       who(r), x->shape[0], x->shape[1], H);
    return TL_OK;
}

tl_status tl_recurrent_begin(tl_recurrent *r, const tl_tensor *x, bool *from_state)
{
    TL_TRY(check_input(r, x));
    int N = x->shape[0], T = x->shape[1], H = r->hidden;
    *from_state = r->has_h && (r->stateful || r->pending);
    if (*from_state && r->h.shape[0] != N)
        return tl_fail(TL_ERR_STATE,
                       "%s: the %s state has batch size %d but the input has batch size "
                       "%d; call reset_state (or set_state with %d rows) first",
                       who(r), r->pending ? "state set by set_state" : "carried",
                       r->h.shape[0], N, N);
    r->x = NULL;
    TL_TRY(*from_state ? tl_tensor_copy(&r->h0, &r->h) : tl_tensor_zeros2(&r->h0, N, H));
    TL_TRY(tl_tensor_resize(&r->h, TL_REAL, 2, (int[]){N, H}));
    if (r->with_c) {
        TL_TRY(*from_state && r->has_c ? tl_tensor_copy(&r->c0, &r->c)
                                       : tl_tensor_zeros2(&r->c0, N, H));
        TL_TRY(tl_tensor_resize(&r->c, TL_REAL, 2, (int[]){N, H}));
    }
    TL_TRY(tl_tensor_resize(&r->y, TL_REAL, 3, (int[]){N, T, H}));
    r->window = window_steps(N, T);
    r->masked = r->mode.training && r->rec_p > 0;
    if (r->masked) {
        TL_TRY(tl_tensor_resize(&r->mask, TL_REAL, 2, (int[]){N, H}));
        TL_TRY(tl_tensor_resize(&r->hm, TL_REAL, 2, (int[]){N, H}));
        tl_dropout_mask(r->mask.data, r->mask.size,
                        tl_rng_key(r->mode.seed, r->mode.step, (uint64_t)r->mode.index, 1),
                        r->rec_p);
    }
    return TL_OK;
}

/* out = a ⊙ M row by row over N rows of H (row strides lda, ldo; M (N, H)). */
static void mask_rows(int N, int H, const tl_real *a, int lda, const tl_real *M, tl_real *out,
                      int ldo)
{
    for (int n = 0; n < N; n++)
        for (int u = 0; u < H; u++)
            out[(size_t)n * ldo + u] = a[(size_t)n * lda + u] * M[(size_t)n * H + u];
}

const tl_real *tl_recurrent_h_in(tl_recurrent *r, int N, const tl_real *h_prev, int *ldh)
{
    if (!r->masked || !h_prev)
        return h_prev;
    mask_rows(N, r->hidden, h_prev, *ldh, r->mask.data, r->hm.data, r->hidden);
    *ldh = r->hidden;
    return r->hm.data;
}

const tl_tensor *tl_recurrent_end(tl_recurrent *r, const tl_tensor *x, const tl_real *C)
{
    int N = x->shape[0], T = x->shape[1], H = r->hidden, ld = T * H;
    size_t last = (size_t)(T - 1) * H;
    tl_copy_rows(N, H, r->y.data + last, ld, r->h.data, H);
    if (C)
        tl_copy_rows(N, H, C + last, ld, r->c.data, H);
    r->has_h = true;
    r->has_c = C != NULL;
    r->pending = false;
    r->x = x;
    return &r->y;
}

tl_status tl_recurrent_begin_backward(tl_recurrent *r, const tl_tensor *dy)
{
    if (!r->x)
        return tl_fail(TL_ERR_STATE, "%s: backward called before a successful forward", who(r));
    if (!tl_tensor_same_shape(dy, &r->y)) {
        char what[48];
        snprintf(what, sizeof what, "%s backward", who(r));
        return tl_fail_shape(what, "dy", dy, "the shape of the last output");
    }
    int N = r->x->shape[0], H = r->hidden;
    TL_TRY(tl_tensor_resize(&r->dx, TL_REAL, 3, r->x->shape));
    TL_TRY(tl_tensor_resize(&r->dh, TL_REAL, 2, (int[]){N, H}));
    TL_TRY(tl_tensor_resize(&r->dh0, TL_REAL, 2, (int[]){N, H}));
    if (r->with_c)
        TL_TRY(tl_tensor_resize(&r->dc0, TL_REAL, 2, (int[]){N, H}));
    r->has_dh0 = true;
    return TL_OK;
}

tl_status tl_recurrent_prepare(tl_recurrent *r, const tl_real *Wh, int G, int N, bool backward,
                               int nbuf, tl_real **bufs)
{
    tl_workspace *w = r->layer.workspace ? r->layer.workspace : &r->own;
    int H = r->hidden;
    size_t rows = (size_t)r->window * N, pack, x, h, buf;
    pack = tl_workspace_bytes(tl_rec_pack_floats(H, G, N) * sizeof(float));
    x = tl_workspace_bytes(rows * r->layer.in_width * sizeof(tl_real));
    h = tl_workspace_bytes(rows * H * sizeof(tl_real));
    buf = tl_workspace_bytes((rows + N) * G * H * sizeof(tl_real));
    /* A forward in training mode reserves what its backward will take:
     * growing between the two would leave the smaller block in the C
     * library's free memory, resident. */
    bool reserve = backward || r->mode.training;
    TL_TRY(tl_workspace_begin(w, pack + (reserve ? x + h + nbuf * buf : 0), who(r)));
    tl_rec_prepare(&r->rec, Wh, H, G, backward, N, tl_workspace_take(w, pack));
    r->xw = backward ? tl_workspace_take(w, x) : NULL;
    r->hw = backward ? tl_workspace_take(w, h) : NULL;
    for (int i = 0; backward && i < nbuf; i++)
        bufs[i] = tl_workspace_take(w, buf);
    return TL_OK;
}

/* The copies of a window [t0, t1), by steps: in (gather) xw and hw for the
 * steps, X[n, t] and Hprev[n, t] = h0 or Y[n, t-1] (times the mask when the
 * forward used one); out (scatter) the window's dX rows from xw to dx. They
 * run on the pool when large (~0.6 MB per window for config B, between the
 * window's steps and its GEMMs, where the other threads would wait). */
typedef struct {
    tl_recurrent *r;
    int t0, t1;
    bool scatter;
} window_copy;

static void copy_steps(void *ctx, int part, int parts)
{
    const window_copy *c = ctx;
    tl_recurrent *r = c->r;
    int N = r->y.shape[0], T = r->y.shape[1], D = r->layer.in_width, H = r->hidden;
    int steps = c->t1 - c->t0;
    for (int j = steps * part / parts; j < steps * (part + 1) / parts; j++) {
        int t = c->t0 + j;
        size_t row = (size_t)j * N;
        if (c->scatter) {
            tl_copy_rows(N, D, r->xw + row * D, D, r->dx.data + (size_t)t * D, T * D);
            continue;
        }
        tl_copy_rows(N, D, r->x->data + (size_t)t * D, T * D, r->xw + row * D, D);
        tl_real *hp = r->hw + row * H;
        if (t)
            tl_copy_rows(N, H, r->y.data + (size_t)(t - 1) * H, T * H, hp, H);
        else
            tl_copy_rows(N, H, r->h0.data, H, hp, H);
        if (r->masked)
            mask_rows(N, H, hp, H, r->mask.data, hp, H);
    }
}

static void window_copies(tl_recurrent *r, int t0, int t1, bool scatter)
{
    /* Split by the window's size (X and Hprev rows), for the scatter too. */
    size_t floats = (size_t)(t1 - t0) * r->y.shape[0] * (r->layer.in_width + r->hidden);
    int parts = floats >= 4096 ? t1 - t0 : 1;
    tl_parallel_run(parts, copy_steps, &(window_copy){r, t0, t1, scatter});
}

/* Point c at step s of the window at t0. */
static void step_at(const tl_recurrent *r, tl_recurrent_step *c, int s, int t0)
{
    int T = r->y.shape[1];
    size_t slot = (size_t)c->N * c->ldd;
    c->dA_next = s + 1 < T ? c->dA + (size_t)(s + 1 - t0) * slot : NULL;
    c->dy_s = s >= 0 ? c->dy + (size_t)s * c->H : NULL;
    c->dh_in = c->carry && s + 1 < T ? r->dh.data : NULL;
    c->dh = s >= 0 ? r->dh.data : r->dh0.data;
    c->dA_s = c->dA + (size_t)(s >= 0 ? s - t0 : 0) * slot;
}

void tl_recurrent_backward_windows(tl_recurrent *r, tl_recurrent_step *c,
                                   void (*set_step)(void *ctx, int s),
                                   void (*part)(void *ctx, int part, int parts),
                                   void (*params)(void *ctx, int rows, const tl_real *xw,
                                                  const tl_real *hw, tl_real *dxw),
                                   void *ctx)
{
    int N = r->y.shape[0], T = r->y.shape[1], W = r->window;
    size_t slot = (size_t)N * c->ldd;
    for (int t1 = T, t0; t1 > 0; t1 = t0) {
        t0 = t1 > W ? t1 - W : 0;
        for (int s = t1 - 1; s >= (t0 ? t0 : -1); s--) {
            step_at(r, c, s, t0);
            set_step(ctx, s);
            tl_parallel_run_homed(c->parts, part, ctx);
        }
        window_copies(r, t0, t1, false);
        params(ctx, (t1 - t0) * N, r->xw, r->hw, r->xw);
        window_copies(r, t0, t1, true);
        int next = t0 > W ? t0 - W : 0;
        if (t0)
            memcpy(c->dA + (size_t)(t0 - next) * slot, c->dA, slot * sizeof *c->dA);
    }
}

void tl_recurrent_step_init(tl_recurrent *r, tl_recurrent_step *c, const tl_real *dy,
                            tl_real *dA, int G, bool carry)
{
    int N = r->y.shape[0], T = r->y.shape[1], H = r->hidden;
    *c = (tl_recurrent_step){.rec = &r->rec, .parts = tl_rec_parts(&r->rec, N), .N = N,
                             .H = H, .ld = T * H, .ldd = G * H,
                             .carry = carry, .dy = dy, .dA = dA,
                             .mask = r->masked ? r->mask.data : NULL, .prod = r->hm.data};
}

void tl_recurrent_step_dh(const tl_recurrent_step *c, int part, int parts, int *u0, int *u1)
{
    int N = c->N, H = c->H;
    tl_rec_split(c->rec, part, parts, u0, u1);
    size_t len = (size_t)(*u1 - *u0);
    /* Under the mask the product goes to prod first, to be masked and added. */
    bool masked = c->mask && c->dA_next;
    for (int n = 0; n < N; n++) {
        tl_real *dh = c->dh + (size_t)n * H + *u0;
        const tl_real *in = c->dh_in ? c->dh_in + (size_t)n * H + *u0 : NULL;
        const tl_real *dy = c->dy_s ? c->dy_s + (size_t)n * c->ld + *u0 : NULL;
        if (c->carry)
            for (size_t u = 0; u < len; u++)
                dh[u] = (in ? in[u] : 0) + (dy ? dy[u] : 0);
        else if (dy)
            memcpy(dh, dy, len * sizeof *dh);
        else
            memset(dh, 0, len * sizeof *dh);
        if (masked)
            memset(c->prod + (size_t)n * H + *u0, 0, len * sizeof *dh);
    }
    if (c->dA_next)
        tl_rec_backward(c->rec, N, c->dA_next, c->ldd, *u0, *u1, masked ? c->prod : c->dh, H);
    for (int n = 0; masked && n < N; n++) {
        tl_real *dh = c->dh + (size_t)n * H + *u0;
        const tl_real *m = c->mask + (size_t)n * H + *u0, *pr = c->prod + (size_t)n * H + *u0;
        for (size_t u = 0; u < len; u++)
            dh[u] += m[u] * pr[u];
    }
}

tl_status tl_recurrent_set_dropout(tl_layer *l, const tl_layer_ops *ops, const char *fn,
                                   double p)
{
    if (!l || l->ops != ops)
        return tl_fail(TL_ERR_ARG, "%s: %s is not a %s", fn, tl_layer_type(l), ops->type);
    tl_recurrent *r = (tl_recurrent *)l;
    if (!(p >= 0 && p < 1))
        return tl_fail(TL_ERR_ARG, "%s: the recurrent dropout rate must be in [0, 1) (got %g)",
                       who(r), p);
    r->rec_p = p;
    return TL_OK;
}

tl_param *tl_recurrent_params(tl_layer *l, int *count)
{
    tl_recurrent *r = (tl_recurrent *)l;
    *count = r->nparams;
    return r->params;
}

void tl_recurrent_set_mode(tl_layer *l, const tl_layer_mode *mode)
{
    ((tl_recurrent *)l)->mode = *mode;
}

tl_status tl_recurrent_config(const tl_layer *l, tl_layer_config *cfg)
{
    const tl_recurrent *r = (const tl_recurrent *)l;
    cfg->in_dim = l->in_width;
    cfg->out_dim = r->hidden;
    TL_TRY(tl_config_set_bool(cfg, "stateful", r->stateful));
    return r->rec_p > 0 ? tl_config_set_real(cfg, "rec_dropout", r->rec_p) : TL_OK;
}

void tl_recurrent_reset_state(tl_layer *l)
{
    tl_recurrent *r = (tl_recurrent *)l;
    r->has_h = r->has_c = false;
    r->pending = false;
}

tl_status tl_recurrent_get_state(tl_layer *l, const tl_tensor **h, const tl_tensor **c)
{
    tl_recurrent *r = (tl_recurrent *)l;
    *h = r->has_h ? &r->h : &r->none;
    *c = !r->with_c ? NULL : r->has_c ? &r->c : &r->none;
    return TL_OK;
}

tl_status tl_recurrent_set_state(tl_layer *l, const tl_tensor *h, const tl_tensor *c)
{
    tl_recurrent *r = (tl_recurrent *)l;
    int H = r->hidden;
    char expected[48];
    if (c && !r->with_c)
        return tl_fail(TL_ERR_ARG, "%s: set_state: the layer has no cell state; pass c = NULL",
                       who(r));
    if (h->ndim != 2 || h->shape[0] < 1 || h->shape[1] != H) {
        snprintf(expected, sizeof expected, "(N, %d) with N >= 1", H);
        char what[48];
        snprintf(what, sizeof what, "%s set_state", who(r));
        return tl_fail_shape(what, "h", h, expected);
    }
    if (c && !tl_tensor_same_shape(c, h)) {
        snprintf(expected, sizeof expected, "(%d, %d), the shape of h", h->shape[0], H);
        char what[48];
        snprintf(what, sizeof what, "%s set_state", who(r));
        return tl_fail_shape(what, "c", c, expected);
    }
    tl_status st = tl_tensor_copy(&r->h, h);
    if (!st && c)
        st = tl_tensor_copy(&r->c, c);
    if (st) {
        tl_recurrent_reset_state(l);  /* h may already hold the new rows: keep nothing half set */
        return st;
    }
    r->has_h = true;
    r->has_c = c != NULL;
    r->pending = true;
    return TL_OK;
}

tl_status tl_recurrent_state_grad(tl_layer *l, const tl_tensor **dh0, const tl_tensor **dc0)
{
    tl_recurrent *r = (tl_recurrent *)l;
    if (!r->has_dh0)
        return tl_fail(TL_ERR_STATE, "%s: state_grad called before backward", who(r));
    *dh0 = &r->dh0;
    *dc0 = r->with_c ? &r->dc0 : NULL;
    return TL_OK;
}

void tl_recurrent_free(tl_recurrent *r)
{
    tl_tensor *owned[] = {&r->h,  &r->c,  &r->h0,    &r->c0, &r->dh0,  &r->dc0,
                          &r->y,  &r->dx, &r->dh, &r->mask, &r->hm};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_workspace_free(&r->own);
}
