/* Central-difference gradient checks for layers and models.
 *
 * One routine, check_buffer, perturbs the elements of any buffer the scalar
 * objective depends on and compares with an analytic gradient captured
 * beforehand. Layers and models only differ in how the objective is
 * evaluated (the `objective` callback).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "timelayers/gradcheck.h"
#include "timelayers/rng.h"

typedef struct objective {
    tl_status (*eval)(struct objective *o, double *L);
} objective;

typedef struct {
    tl_gradcheck_entry *out;
    int cap, n;
    double eps;
    size_t max_per_tensor;
} report;

static tl_status check_buffer(objective *o, report *r, const char *name, tl_real *v,
                              const tl_real *analytic, size_t n)
{
    tl_gradcheck_entry e = {0};
    snprintf(e.name, sizeof e.name, "%s", name);
    size_t stride = (r->max_per_tensor && n > r->max_per_tensor) ? n / r->max_per_tensor : 1;
    for (size_t i = 0; i < n; i += stride) {
        tl_real saved = v[i];
        double lp, lm;
        v[i] = (tl_real)(saved + r->eps);
        tl_status st = o->eval(o, &lp);
        if (!st) {
            v[i] = (tl_real)(saved - r->eps);
            st = o->eval(o, &lm);
        }
        v[i] = saved;
        if (st)
            return st;
        double num = (lp - lm) / (2 * r->eps), a = analytic[i];
        double abs_err = fabs(a - num);
        double rel = abs_err / fmax(1e-8, fabs(a) + fabs(num));
        if (rel > e.max_rel_error)
            e.max_rel_error = rel;
        if (abs_err > e.max_abs_error)
            e.max_abs_error = abs_err;
        e.checked++;
    }
    if (r->n < r->cap)
        r->out[r->n] = e;
    r->n++;
    return TL_OK;
}

static void fill_normal(tl_tensor *t, tl_rng *rng)
{
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = (tl_real)tl_rng_normal(rng);
}

/* ---- layers ----------------------------------------------------------- */

typedef struct {
    objective base;
    tl_layer *l;
    tl_tensor x, R, h0, c0;   /* x: owned copy of the input (perturbable) */
    const tl_tensor *targets;
    bool has_c;
} layer_objective;

static tl_status layer_eval(objective *o, double *L)
{
    layer_objective *lo = (layer_objective *)o;
    if (lo->h0.size)
        TL_TRY(tl_layer_set_state(lo->l, &lo->h0, lo->has_c ? &lo->c0 : NULL));
    if (tl_layer_is_loss(lo->l))
        return tl_layer_loss(lo->l, &lo->x, lo->targets, L);
    const tl_tensor *y;
    TL_TRY(tl_layer_forward(lo->l, &lo->x, &y));
    if (!lo->R.size)
        return tl_fail(TL_ERR_STATE, "gradcheck: projection not prepared");
    double s = 0;
    for (size_t i = 0; i < y->size; i++)
        s += (double)y->data[i] * lo->R.data[i];
    *L = s;
    return TL_OK;
}

/* Copy of an analytic gradient, since later evaluations overwrite buffers. */
static tl_status snapshot(tl_tensor *dst, const tl_tensor *src) { return tl_tensor_copy(dst, src); }

static tl_status gradcheck_layer(layer_objective *lo, report *r, tl_rng *rng)
{
    tl_layer *l = lo->l;
    bool is_loss = tl_layer_is_loss(l);
    const tl_tensor *y;

    /* A first forward from the zero state gives the output and state shapes. */
    tl_layer_reset_state(l);
    if (tl_layer_has_state(l)) {
        TL_TRY(tl_layer_forward(l, &lo->x, &y));
        const tl_tensor *h, *c = NULL;
        TL_TRY(tl_layer_get_state(l, &h, &c));
        TL_TRY(tl_tensor_copy(&lo->h0, h));
        fill_normal(&lo->h0, rng);
        if (c && c->size) {
            TL_TRY(tl_tensor_copy(&lo->c0, c));
            fill_normal(&lo->c0, rng);
            lo->has_c = true;
        }
    }
    if (!is_loss) {
        TL_TRY(tl_layer_forward(l, &lo->x, &y));
        TL_TRY(tl_tensor_copy(&lo->R, y));
        fill_normal(&lo->R, rng);
    }

    /* Analytic gradients. */
    double L;
    tl_layer_zero_grad(l);
    TL_TRY(layer_eval(&lo->base, &L));
    const tl_tensor *dx;
    TL_TRY(tl_layer_backward(l, is_loss ? NULL : &lo->R, &dx));
    tl_tensor gdx = {0}, gdh = {0}, gdc = {0};
    tl_status st = TL_OK;
    if (dx && lo->x.dtype == TL_REAL)
        st = snapshot(&gdx, dx);
    if (!st && lo->h0.size) {
        const tl_tensor *dh0, *dc0 = NULL;
        st = tl_layer_state_grad(l, &dh0, &dc0);
        if (!st)
            st = snapshot(&gdh, dh0);
        if (!st && lo->has_c)
            st = snapshot(&gdc, dc0);
    }

    int np;
    tl_param *p = tl_layer_params(l, &np);
    for (int i = 0; !st && i < np; i++)
        st = check_buffer(&lo->base, r, p[i].name, p[i].value.data, p[i].grad.data,
                          p[i].value.size);
    if (!st && gdx.size)
        st = check_buffer(&lo->base, r, "x", lo->x.data, gdx.data, lo->x.size);
    if (!st && gdh.size)
        st = check_buffer(&lo->base, r, "h0", lo->h0.data, gdh.data, lo->h0.size);
    if (!st && gdc.size)
        st = check_buffer(&lo->base, r, "c0", lo->c0.data, gdc.data, lo->c0.size);
    tl_tensor_free(&gdx);
    tl_tensor_free(&gdh);
    tl_tensor_free(&gdc);
    return st;
}

static tl_status prepare_report(report *r, const tl_gradcheck_opts *opts, tl_gradcheck_entry *out,
                                int cap, int *n, uint64_t *seed)
{
    if (!n || (cap > 0 && !out) || cap < 0)
        return tl_fail(TL_ERR_ARG, "gradcheck: output array or count is NULL");
    *n = 0;
    *r = (report){.out = out, .cap = cap, .eps = 1e-5};
    *seed = 1234;
    if (opts) {
        if (opts->eps > 0)
            r->eps = opts->eps;
        r->max_per_tensor = opts->max_per_tensor;
        *seed = opts->seed;
    }
    return TL_OK;
}

tl_status tl_gradcheck_layer(tl_layer *l, const tl_tensor *x, const tl_tensor *targets,
                             const tl_gradcheck_opts *opts, tl_gradcheck_entry *out, int cap,
                             int *n)
{
    report r;
    uint64_t seed = 0;
    TL_TRY(prepare_report(&r, opts, out, cap, n, &seed));
    if (!l || !x)
        return tl_fail(TL_ERR_ARG, "tl_gradcheck_layer: layer or input is NULL");
    if (tl_layer_is_loss(l) && !targets)
        return tl_fail(TL_ERR_ARG, "tl_gradcheck_layer: a loss layer needs targets");
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    layer_objective lo = {.base.eval = layer_eval, .l = l, .targets = targets};
    tl_status st = tl_tensor_copy(&lo.x, x);
    if (!st)
        st = gradcheck_layer(&lo, &r, &rng);
    tl_tensor_free(&lo.x);
    tl_tensor_free(&lo.R);
    tl_tensor_free(&lo.h0);
    tl_tensor_free(&lo.c0);
    *n = r.n < cap ? r.n : cap;
    return st;
}

/* ---- models ----------------------------------------------------------- */

typedef struct {
    objective base;
    tl_model *m;
    const tl_tensor *xs, *ts;
    uint64_t step;   /* every evaluation runs at this step: the same dropout masks */
} model_objective;

static tl_status model_eval(objective *o, double *L)
{
    model_objective *mo = (model_objective *)o;
    tl_model_reset_state(mo->m);
    tl_model_set_step(mo->m, mo->step);
    return tl_model_forward(mo->m, mo->xs, mo->ts, L);
}

tl_status tl_gradcheck_model(tl_model *m, const tl_tensor *xs, const tl_tensor *ts,
                             const tl_gradcheck_opts *opts, tl_gradcheck_entry *out, int cap,
                             int *n)
{
    report r;
    uint64_t seed = 0;
    TL_TRY(prepare_report(&r, opts, out, cap, n, &seed));
    if (!m || !xs || !ts)
        return tl_fail(TL_ERR_ARG, "tl_gradcheck_model: model or batch is NULL");
    model_objective mo = {.base.eval = model_eval, .m = m, .xs = xs, .ts = ts,
                          .step = tl_model_step(m)};
    double L;
    tl_model_zero_grad(m);
    TL_TRY(model_eval(&mo.base, &L));
    TL_TRY(tl_model_backward(m));

    int count;
    TL_TRY(tl_model_param_count(m, &count));
    tl_status st = TL_OK;
    tl_tensor g = {0};
    for (int i = 0; !st && i < count; i++) {
        tl_named_param p;
        st = tl_model_param(m, i, &p);
        if (!st)
            st = snapshot(&g, &p.param->grad);
        if (!st)
            st = check_buffer(&mo.base, &r, p.name, p.param->value.data, g.data, g.size);
    }
    tl_tensor_free(&g);
    *n = r.n < cap ? r.n : cap;
    return st;
}

/* ---- any computation ---------------------------------------------------- */

typedef struct {
    objective base;
    tl_gradcheck_loss_fn fn;
    void *ctx;
} fn_objective;

static tl_status fn_eval(objective *o, double *L)
{
    fn_objective *fo = (fn_objective *)o;
    return fo->fn(fo->ctx, L);
}

tl_status tl_gradcheck_buffers(tl_gradcheck_loss_fn fn, void *ctx, const tl_gradcheck_buffer *b,
                               int nb, const tl_gradcheck_opts *opts, tl_gradcheck_entry *out,
                               int cap, int *n)
{
    report r;
    uint64_t seed = 0;
    TL_TRY(prepare_report(&r, opts, out, cap, n, &seed));
    if (!fn || nb < 0 || (nb && !b))
        return tl_fail(TL_ERR_ARG, "tl_gradcheck_buffers: NULL function or buffers");
    fn_objective fo = {.base.eval = fn_eval, .fn = fn, .ctx = ctx};
    tl_status st = TL_OK;
    for (int i = 0; !st && i < nb; i++) {
        if (b[i].n && (!b[i].value || !b[i].grad))
            st = tl_fail(TL_ERR_ARG, "tl_gradcheck_buffers: buffer %d is NULL", i);
        else
            st = check_buffer(&fo.base, &r, b[i].name ? b[i].name : "", b[i].value, b[i].grad,
                              b[i].n);
    }
    *n = r.n < cap ? r.n : cap;
    return st;
}

double tl_gradcheck_worst(const tl_gradcheck_entry *e, int n)
{
    double w = 0;
    for (int i = 0; i < n; i++)
        if (e[i].max_rel_error > w)
            w = e[i].max_rel_error;
    return w;
}
