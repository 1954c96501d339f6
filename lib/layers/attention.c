/* TimeAttention: dot-product attention over a memory hs (N, S, H).
 *
 * Per batch row n, with h_n (T, H) the input, hs_n (S, H) the memory:
 *   forward:  S_n = h_n·hs_nᵀ (T, S);  A_n = softmax over each row of S_n;
 *             y_n = A_n·hs_n (T, H)
 *   backward: dA_n = dy_n·hs_nᵀ;  dS = A ⊙ (dA − Σ_j A⊙dA) row by row;
 *             dh_n = dS_n·hs_n;  dhs_n = A_nᵀ·dy_n + dS_nᵀ·h_n
 *
 * The reference loops over decoder steps with an (N, S, H) broadcast per step;
 * since its decoder's hidden states do not depend on the attention, all steps
 * can go at once, and each of the products above is one small GEMM per row n.
 * The weights A are kept for backward (and for looking at the alignment).
 */
#include <math.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../param.h"
#include "timelayers/attention.h"

typedef struct {
    tl_layer base;
    const tl_tensor *x, *hs;   /* borrowed: input and memory of the last forward */
    const tl_tensor *memory;   /* borrowed: set by set_memory */
    tl_tensor y, a, dx, dhs, da;
    bool backward_done;
} attention;

static const tl_layer_ops attention_ops;

static tl_status as_attention(tl_layer *l, const char *fn, attention **out)
{
    if (!l || l->ops != &attention_ops)
        return tl_fail(TL_ERR_ARG, "%s: layer is %s, not TimeAttention", fn, tl_layer_type(l));
    *out = (attention *)l;
    return TL_OK;
}

/* a ← softmax(a) over each of the rows of width S, after subtracting the
 * row maximum so that no exponential overflows. */
static void softmax_rows(int rows, int S, tl_real *a)
{
    for (int r = 0; r < rows; r++) {
        tl_real *p = a + (size_t)r * S, m = p[0];
        for (int j = 1; j < S; j++)
            m = p[j] > m ? p[j] : m;
        double sum = 0;
        for (int j = 0; j < S; j++) {
            p[j] = (tl_real)exp((double)(p[j] - m));
            sum += p[j];
        }
        for (int j = 0; j < S; j++)
            p[j] = (tl_real)(p[j] / sum);
    }
}

static tl_status attention_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    attention *at = (attention *)l;
    int H = l->in_width;
    const tl_tensor *hs = at->memory;
    if (!hs)
        return tl_fail(TL_ERR_STATE, "TimeAttention: forward before set_memory");
    if (x->ndim != 3 || x->shape[2] != H || x->shape[0] < 1 || x->shape[1] < 1)
        return tl_fail_shape("TimeAttention", "input", x, "(N, T, H) with the layer's H");
    int N = x->shape[0], T = x->shape[1], S = hs->shape[1];
    if (hs->shape[0] != N)
        return tl_fail(TL_ERR_SHAPE, "TimeAttention: input batch %d differs from the memory's %d",
                       N, hs->shape[0]);
    TL_TRY(tl_tensor_resize(&at->y, TL_REAL, 3, (int[]){N, T, H}));
    TL_TRY(tl_tensor_resize(&at->a, TL_REAL, 3, (int[]){N, T, S}));
    for (int n = 0; n < N; n++) {
        const tl_real *h = x->data + (size_t)n * T * H, *m = hs->data + (size_t)n * S * H;
        tl_real *a = at->a.data + (size_t)n * T * S;
        tl_gemm(false, true, T, S, H, 1, h, H, m, H, 0, a, S);
        softmax_rows(T, S, a);
        tl_gemm(false, false, T, H, S, 1, a, S, m, H, 0, at->y.data + (size_t)n * T * H, H);
    }
    at->x = x;
    at->hs = hs;
    at->backward_done = false;
    *y = &at->y;
    return TL_OK;
}

static tl_status attention_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    attention *at = (attention *)l;
    if (!at->x)
        return tl_fail(TL_ERR_STATE, "TimeAttention: backward called before forward");
    if (!tl_tensor_same_shape(dy, &at->y))
        return tl_fail_shape("TimeAttention backward", "dy", dy, "the shape of the last output");
    const tl_tensor *x = at->x, *hs = at->hs;
    int N = x->shape[0], T = x->shape[1], H = l->in_width, S = hs->shape[1];
    TL_TRY(tl_tensor_resize(&at->dx, TL_REAL, 3, x->shape));
    TL_TRY(tl_tensor_resize(&at->dhs, TL_REAL, 3, hs->shape));
    TL_TRY(tl_tensor_resize(&at->da, TL_REAL, 2, (int[]){T, S}));
    for (int n = 0; n < N; n++) {
        const tl_real *h = x->data + (size_t)n * T * H, *m = hs->data + (size_t)n * S * H;
        const tl_real *a = at->a.data + (size_t)n * T * S, *g = dy->data + (size_t)n * T * H;
        tl_real *ds = at->da.data, *dm = at->dhs.data + (size_t)n * S * H;
        tl_gemm(false, true, T, S, H, 1, g, H, m, H, 0, ds, S);
        for (int t = 0; t < T; t++) {
            tl_real *d = ds + (size_t)t * S;
            const tl_real *p = a + (size_t)t * S;
            double dot = 0;
            for (int j = 0; j < S; j++)
                dot += (double)p[j] * d[j];
            for (int j = 0; j < S; j++)
                d[j] = (tl_real)(p[j] * (d[j] - dot));
        }
        tl_gemm(false, false, T, H, S, 1, ds, S, m, H, 0, at->dx.data + (size_t)n * T * H, H);
        tl_gemm(true, false, S, H, T, 1, a, S, g, H, 0, dm, H);
        tl_gemm(true, false, S, H, T, 1, ds, S, h, H, 1, dm, H);
    }
    at->backward_done = true;
    *dx = &at->dx;
    return TL_OK;
}

tl_status tl_time_attention_set_memory(tl_layer *l, const tl_tensor *hs)
{
    attention *at = NULL;
    TL_TRY(as_attention(l, "tl_time_attention_set_memory", &at));
    if (!hs || hs->dtype != TL_REAL || hs->ndim != 3 || hs->shape[0] < 1 || hs->shape[1] < 1 ||
        hs->shape[2] != l->in_width)
        return tl_fail_shape("TimeAttention", "memory", hs, "a real (N, S, H) tensor");
    at->memory = hs;
    return TL_OK;
}

tl_status tl_time_attention_memory_grad(tl_layer *l, const tl_tensor **dhs)
{
    attention *at = NULL;
    TL_TRY(as_attention(l, "tl_time_attention_memory_grad", &at));
    if (!dhs)
        return tl_fail(TL_ERR_ARG, "tl_time_attention_memory_grad: dhs is NULL");
    if (!at->backward_done)
        return tl_fail(TL_ERR_STATE, "TimeAttention: no backward since the last forward");
    *dhs = &at->dhs;
    return TL_OK;
}

tl_status tl_time_attention_weights(tl_layer *l, const tl_tensor **a)
{
    attention *at = NULL;
    TL_TRY(as_attention(l, "tl_time_attention_weights", &at));
    if (!a)
        return tl_fail(TL_ERR_ARG, "tl_time_attention_weights: a is NULL");
    if (!at->x)
        return tl_fail(TL_ERR_STATE, "TimeAttention: no forward yet");
    *a = &at->a;
    return TL_OK;
}

static tl_param *attention_params(tl_layer *l, int *count)
{
    (void)l;
    *count = 0;
    return NULL;
}

static void attention_destroy(tl_layer *l)
{
    attention *at = (attention *)l;
    tl_tensor_free(&at->y);
    tl_tensor_free(&at->a);
    tl_tensor_free(&at->dx);
    tl_tensor_free(&at->dhs);
    tl_tensor_free(&at->da);
    tl_free(at);
}

static const tl_layer_ops attention_ops = {
    .type = "TimeAttention",
    .forward = attention_forward,
    .backward = attention_backward,
    .params = attention_params,
    .destroy = attention_destroy,
};

tl_status tl_time_attention_create(tl_layer **out, int hidden)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_attention_create: out is NULL");
    *out = NULL;
    if (hidden <= 0)
        return tl_fail(TL_ERR_ARG, "TimeAttention: hidden width must be positive (got %d)",
                       hidden);
    attention *at = NULL;
    TL_TRY(tl_calloc((void **)&at, 1, sizeof *at, "TimeAttention"));
    at->base = (tl_layer){.ops = &attention_ops, .in_dtype = TL_REAL, .in_width = hidden,
                          .out_width = hidden};
    *out = &at->base;
    return TL_OK;
}
