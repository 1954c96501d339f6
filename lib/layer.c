/* Public wrappers around the layer ops table: argument checks and a clear
 * error when a layer lacks an operation, so callers never touch the table. */
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "timelayers/layer.h"

#define CHECK_LAYER(l, fn)                                          \
    do {                                                            \
        if (!(l) || !(l)->ops)                                      \
            return tl_fail(TL_ERR_ARG, "%s: layer is NULL", fn);    \
    } while (0)

static tl_status unsupported(const tl_layer *l, const char *what)
{
    return tl_fail(TL_ERR_STATE, "%s does not support %s", l->ops->type, what);
}

static tl_status check_input(const tl_layer *l, const tl_tensor *x, const char *what)
{
    if (!x || (x->size && !x->data))
        return tl_fail(TL_ERR_ARG, "%s: %s is NULL", l->ops->type, what);
    TL_TRY(tl_tensor_check(x, l->ops->type, what));
    if (x->dtype != l->in_dtype)
        return tl_fail(TL_ERR_ARG, "%s: %s must hold %s", l->ops->type, what,
                       l->in_dtype == TL_INT32 ? "int32 token ids" : "real numbers");
    return TL_OK;
}

tl_status tl_layer_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    CHECK_LAYER(l, "tl_layer_forward");
    if (!l->ops->forward)
        return unsupported(l, "forward (it is a loss layer: use tl_layer_loss)");
    if (!y)
        return tl_fail(TL_ERR_ARG, "%s: output pointer is NULL", l->ops->type);
    TL_TRY(check_input(l, x, "input"));
    return l->ops->forward(l, x, y);
}

tl_status tl_layer_loss(tl_layer *l, const tl_tensor *scores, const tl_tensor *targets,
                        double *loss)
{
    CHECK_LAYER(l, "tl_layer_loss");
    if (!l->ops->loss)
        return unsupported(l, "loss (it is not a loss layer)");
    if (!loss)
        return tl_fail(TL_ERR_ARG, "%s: loss pointer is NULL", l->ops->type);
    TL_TRY(check_input(l, scores, "scores"));
    if (!targets || (targets->size && !targets->ids) ||
        (targets->dtype != TL_INT32 && targets->dtype != TL_REAL))
        return tl_fail(TL_ERR_ARG, "%s: targets must be an int32 tensor of ids or a real "
                       "tensor of one-hot rows", l->ops->type);
    TL_TRY(tl_tensor_check(targets, l->ops->type, "targets"));
    return l->ops->loss(l, scores, targets, loss);
}

tl_status tl_layer_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    CHECK_LAYER(l, "tl_layer_backward");
    if (!dx)
        return tl_fail(TL_ERR_ARG, "%s: dx pointer is NULL", l->ops->type);
    if (!l->ops->loss && (!dy || dy->dtype != TL_REAL || (dy->size && !dy->data)))
        return tl_fail(TL_ERR_ARG, "%s: dy must be a real tensor", l->ops->type);
    if (!l->ops->loss)
        TL_TRY(tl_tensor_check(dy, l->ops->type, "dy"));
    return l->ops->backward(l, dy, dx);
}

tl_param *tl_layer_params(tl_layer *l, int *count)
{
    int n = 0;
    tl_param *p = (l && l->ops && l->ops->params) ? l->ops->params(l, &n) : NULL;
    if (count)
        *count = n;
    return p;
}

void tl_layer_zero_grad(tl_layer *l)
{
    int n;
    tl_param *p = tl_layer_params(l, &n);
    for (int i = 0; i < n; i++)
        tl_tensor_clear(&p[i].grad);
}

bool tl_layer_has_state(const tl_layer *l) { return l && l->ops && l->ops->reset_state; }

void tl_layer_reset_state(tl_layer *l)
{
    if (tl_layer_has_state(l))
        l->ops->reset_state(l);
}

tl_status tl_layer_get_state(tl_layer *l, const tl_tensor **h, const tl_tensor **c)
{
    CHECK_LAYER(l, "tl_layer_get_state");
    if (!l->ops->get_state)
        return unsupported(l, "get_state (it has no recurrent state)");
    if (!h)
        return tl_fail(TL_ERR_ARG, "%s: get_state: h pointer is NULL", l->ops->type);
    const tl_tensor *dummy;
    return l->ops->get_state(l, h, c ? c : &dummy);
}

tl_status tl_layer_set_state(tl_layer *l, const tl_tensor *h, const tl_tensor *c)
{
    CHECK_LAYER(l, "tl_layer_set_state");
    if (!l->ops->set_state)
        return unsupported(l, "set_state (it has no recurrent state)");
    if (!h || h->dtype != TL_REAL || (c && c->dtype != TL_REAL))
        return tl_fail(TL_ERR_ARG, "%s: set_state needs a real h tensor", l->ops->type);
    TL_TRY(tl_tensor_check(h, l->ops->type, "h"));
    if (c)
        TL_TRY(tl_tensor_check(c, l->ops->type, "c"));
    return l->ops->set_state(l, h, c);
}

tl_status tl_layer_state_grad(tl_layer *l, const tl_tensor **dh0, const tl_tensor **dc0)
{
    CHECK_LAYER(l, "tl_layer_state_grad");
    if (!l->ops->state_grad)
        return unsupported(l, "state_grad (it has no recurrent state)");
    if (!dh0)
        return tl_fail(TL_ERR_ARG, "%s: state_grad: dh0 pointer is NULL", l->ops->type);
    const tl_tensor *dummy;
    return l->ops->state_grad(l, dh0, dc0 ? dc0 : &dummy);
}

void tl_layer_set_mode(tl_layer *l, const tl_layer_mode *mode)
{
    if (l && l->ops && l->ops->set_mode && mode)
        l->ops->set_mode(l, mode);
}

tl_status tl_layer_get_config(const tl_layer *l, tl_layer_config *cfg)
{
    CHECK_LAYER(l, "tl_layer_get_config");
    if (!cfg)
        return tl_fail(TL_ERR_ARG, "tl_layer_get_config: cfg is NULL");
    if (!l->ops->config)
        return unsupported(l, "config");
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->type, sizeof cfg->type, "%s", l->ops->type);
    return l->ops->config(l, cfg);
}

const char *tl_layer_type(const tl_layer *l) { return l && l->ops ? l->ops->type : "(null)"; }

bool tl_layer_is_loss(const tl_layer *l) { return l && l->ops && l->ops->loss; }

void tl_layer_destroy(tl_layer *l)
{
    if (l && l->ops)
        l->ops->destroy(l);
}
