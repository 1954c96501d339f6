/* Initialisation schemes (see init.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "timelayers/init.h"

typedef enum { ROLE_EMBEDDING, ROLE_RECURRENT, ROLE_LINEAR } role;

static role role_of(const tl_layer *l)
{
    if (l->in_dtype == TL_INT32)
        return ROLE_EMBEDDING;
    return tl_layer_has_state(l) ? ROLE_RECURRENT : ROLE_LINEAR;
}

static void fill_normal(tl_tensor *v, double sd, tl_rng *rng)
{
    for (size_t i = 0; i < v->size; i++)
        v->data[i] = (tl_real)(sd * tl_rng_normal(rng));
}

/* U(−a, a) summed over `draws` independent draws per value; the values from
 * `single` on get one draw (single = v->size: all get `draws`). */
static void fill_uniform(tl_tensor *v, double a, int draws, size_t single, tl_rng *rng)
{
    for (size_t i = 0; i < v->size; i++) {
        double x = 0;
        for (int k = 0; k < (i < single ? draws : 1); k++)
            x += a * (2 * tl_rng_uniform(rng) - 1);
        v->data[i] = (tl_real)x;
    }
}

static bool is_gru(const tl_layer *l) { return strcmp(tl_layer_type(l), "TimeGRU") == 0; }

/* Where a recurrent bias stops being PyTorch's b_ih + b_hh: a GRU's b ends
 * with b_in alone (b_hn, multiplied by r, is its own parameter bhn, which is
 * b_hn alone); every other recurrent bias is a sum throughout. */
static size_t bias_sum_end(const tl_layer *l, const tl_param *p)
{
    const tl_tensor *v = &p->value;
    if (!is_gru(l))
        return v->size;
    return strcmp(p->name, "b") == 0 ? 2 * (size_t)l->out_width : 0;
}

static void init_param(const tl_layer *l, tl_param *p, const tl_init *init, tl_rng *rng)
{
    tl_tensor *v = &p->value;
    role r = role_of(l);
    bool vector = v->ndim == 1;
    switch (init->kind) {
    case TL_INIT_TEXTBOOK:
        if (r == ROLE_EMBEDDING)
            fill_normal(v, 0.01, rng);
        else if (vector)
            memset(v->data, 0, v->size * sizeof *v->data);
        else
            fill_normal(v, 1 / sqrt((double)v->shape[0]), rng);
        break;
    case TL_INIT_UNIFORM:
        fill_uniform(v, init->scale, 1, v->size, rng);
        break;
    case TL_INIT_PYTORCH:
        if (r == ROLE_EMBEDDING)
            fill_normal(v, 1, rng);
        else if (r == ROLE_RECURRENT)
            fill_uniform(v, 1 / sqrt((double)l->out_width), vector ? 2 : 1,
                         vector ? bias_sum_end(l, p) : v->size, rng);
        else
            fill_uniform(v, 1 / sqrt((double)l->in_width), 1, v->size, rng);
        break;
    }
}

static bool is_lstm(const tl_layer *l) { return strcmp(tl_layer_type(l), "TimeLSTM") == 0; }

/* An LSTM's bias "b": 4H values, the forget gate's first. */
static void set_forget_bias(const tl_layer *l, tl_param *p, double b)
{
    if (!is_lstm(l) || strcmp(p->name, "b") != 0)
        return;
    for (int j = 0; j < l->out_width; j++)
        p->value.data[j] = (tl_real)b;
}

tl_status tl_model_init(tl_model *m, const tl_init *init, tl_rng *rng)
{
    if (!m || !init || !rng)
        return tl_fail(TL_ERR_ARG, "tl_model_init: NULL argument");
    if (init->kind != TL_INIT_TEXTBOOK && init->kind != TL_INIT_UNIFORM &&
        init->kind != TL_INIT_PYTORCH)
        return tl_fail(TL_ERR_ARG, "tl_model_init: unknown scheme %d", (int)init->kind);
    if (init->kind == TL_INIT_UNIFORM && !(init->scale > 0 && isfinite(init->scale)))
        return tl_fail(TL_ERR_ARG, "tl_model_init: the uniform scale must be a finite number "
                       "> 0 (got %g)", init->scale);
    if (init->forget_bias_set && !isfinite(init->forget_bias))
        return tl_fail(TL_ERR_ARG, "tl_model_init: the forget-gate bias is %g", init->forget_bias);
    if (init->forget_bias_set) {
        bool lstm = false;
        for (int i = 0; i < tl_model_num_layers(m) && !lstm; i++)
            lstm = is_lstm(tl_model_layer(m, i));
        if (!lstm)
            return tl_fail(TL_ERR_ARG, "tl_model_init: a forget-gate bias needs a TimeLSTM, and "
                           "the model has none (RNN and GRU cells have no forget gate)");
    }
    int count;
    TL_TRY(tl_model_param_count(m, &count));
    for (int i = 0; i < count; i++) {
        tl_named_param p;
        TL_TRY(tl_model_param(m, i, &p));
        const tl_layer *l = tl_model_layer(m, p.layer);
        init_param(l, p.param, init, rng);
        if (init->forget_bias_set)
            set_forget_bias(l, p.param, init->forget_bias);
    }
    return TL_OK;
}

static const char *const kind_names[] = {"textbook", "uniform", "pytorch"};

tl_status tl_init_parse(const char *spec, tl_init *out)
{
    if (!spec || !out)
        return tl_fail(TL_ERR_ARG, "tl_init_parse: NULL argument");
    tl_init in = {0};
    const char *fb = strstr(spec, ",forget_bias=");
    size_t len = fb ? (size_t)(fb - spec) : strlen(spec);
    char *end;
    int k = 0;
    while (k < 3 && !(strncmp(spec, kind_names[k], strlen(kind_names[k])) == 0))
        k++;
    const char *rest = k < 3 ? spec + strlen(kind_names[k]) : spec;
    bool ok = k < 3;
    in.kind = (tl_init_kind)k;
    if (ok && in.kind == TL_INIT_UNIFORM) {
        ok = *rest == ':' && rest + 1 < spec + len;
        if (ok) {
            in.scale = strtod(rest + 1, &end);
            ok = end == spec + len && in.scale > 0 && isfinite(in.scale);
        }
    } else if (ok) {
        ok = rest == spec + len;
    }
    if (ok && fb) {
        const char *b = fb + strlen(",forget_bias=");
        in.forget_bias_set = true;
        in.forget_bias = strtod(b, &end);
        ok = end != b && !*end && isfinite(in.forget_bias);
    }
    if (!ok)
        return tl_fail(TL_ERR_ARG, "bad initialisation '%s' (expected textbook, uniform:A with "
                       "A > 0, or pytorch, optionally followed by ,forget_bias=B)", spec);
    *out = in;
    return TL_OK;
}

void tl_init_describe(const tl_init *init, char *buf, size_t n)
{
    if (!buf || !n)
        return;
    unsigned k = init ? (unsigned)init->kind : 3;
    int w = snprintf(buf, n, "%s", k < 3 ? kind_names[k] : "unknown");
    if (k == TL_INIT_UNIFORM && w >= 0 && (size_t)w < n)
        w += tl_print_double(buf + w, n - (size_t)w, ":", init->scale);
    if (init && init->forget_bias_set && w >= 0 && (size_t)w < n)
        tl_print_double(buf + w, n - (size_t)w, ",forget_bias=", init->forget_bias);
}
