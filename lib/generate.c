/* Sampling from a language model: temperature, top-k, top-p, greedy, skip list. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "kernels/kernels.h"
#include "timelayers/affine.h"
#include "timelayers/generate.h"
#if defined(TL_HAVE_AVX2) && !defined(TL_REAL_DOUBLE)
#include <immintrin.h>
#endif

enum { LANES = 8 };

/* The largest of v[0..n) (n >= 1), over LANES lanes so that it vectorises. */
TL_MULTIVERSION
static double max_of(const double *v, int n)
{
    double m[LANES];
    for (int k = 0; k < LANES; k++)
        m[k] = v[0];
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            m[k] = v[i + k] > m[k] ? v[i + k] : m[k];
    for (; i < n; i++)
        m[0] = v[i] > m[0] ? v[i] : m[0];
    for (int k = 1; k < LANES; k++)
        m[0] = m[k] > m[0] ? m[k] : m[0];
    return m[0];
}

/* logit[i] = scores[i] / t over n elements (t = 1 divides by nothing: x/1
 * is x); whether all scores are finite. */
TL_MULTIVERSION
static int scale_scores(const tl_real *scores, int n, double t, double *logit)
{
    int finite = 1;
    if (t == 1)
        for (int i = 0; i < n; i++) {
            finite &= isfinite(scores[i]);
            logit[i] = scores[i];
        }
    else
        for (int i = 0; i < n; i++) {
            finite &= isfinite(scores[i]);
            logit[i] = scores[i] / t;
        }
    return finite;
}

/* The largest of s[0..n) (n >= 1) in *best, and whether all are finite: the
 * first pass of a draw at temperature 1 without top-k, top-p or skip list,
 * where the scores themselves are the logits. The maximum is exact, so the
 * AVX2 loop and the portable one give the same; x·0 is 0 for a finite x and
 * NaN otherwise, a test that vectorises where isfinite does not. */
TL_MULTIVERSION
static int max_finite_portable(const tl_real *s, int n, tl_real *best)
{
    tl_real m[LANES];
    int finite = 1;
    for (int k = 0; k < LANES; k++)
        m[k] = s[0];
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            finite &= isfinite(s[i + k]);
            m[k] = s[i + k] > m[k] ? s[i + k] : m[k];
        }
    for (; i < n; i++) {
        finite &= isfinite(s[i]);
        m[0] = s[i] > m[0] ? s[i] : m[0];
    }
    for (int k = 1; k < LANES; k++)
        m[0] = m[k] > m[0] ? m[k] : m[0];
    *best = m[0];
    return finite;
}

#if defined(TL_HAVE_AVX2) && !defined(TL_REAL_DOUBLE)
__attribute__((target("avx2"))) static int max_finite_avx2(const float *s, int n, float *best)
{
    const __m256 zero = _mm256_setzero_ps();
    __m256 m0 = _mm256_set1_ps(s[0]), m1 = m0, m2 = m0, m3 = m0, z = zero;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 x0 = _mm256_loadu_ps(s + i), x1 = _mm256_loadu_ps(s + i + 8);
        __m256 x2 = _mm256_loadu_ps(s + i + 16), x3 = _mm256_loadu_ps(s + i + 24);
        z = _mm256_add_ps(z, _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(x0, zero),
                                                         _mm256_mul_ps(x1, zero)),
                                           _mm256_add_ps(_mm256_mul_ps(x2, zero),
                                                         _mm256_mul_ps(x3, zero))));
        m0 = _mm256_max_ps(x0, m0);
        m1 = _mm256_max_ps(x1, m1);
        m2 = _mm256_max_ps(x2, m2);
        m3 = _mm256_max_ps(x3, m3);
    }
    float lane[8], zl[8], m = s[0];
    _mm256_storeu_ps(lane, _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
    _mm256_storeu_ps(zl, z);
    int finite = 1;
    for (int k = 0; k < 8; k++) {
        finite &= zl[k] == 0;
        m = lane[k] > m ? lane[k] : m;
    }
    for (; i < n; i++) {
        finite &= isfinite(s[i]);
        m = s[i] > m ? s[i] : m;
    }
    *best = m;
    return finite;
}
#endif

static int max_finite(const tl_real *s, int n, tl_real *best)
{
#if defined(TL_HAVE_AVX2) && !defined(TL_REAL_DOUBLE)
    if (tl_simd_active() >= TL_SIMD_AVX2)
        return max_finite_avx2(s, n, best);
#endif
    return max_finite_portable(s, n, best);
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The smallest logit that takes part in the draw: with top_k the k-th
 * largest allowed one; with top_p, of those (largest first), the one at which
 * their softmax mass first reaches top_p of the mass of all of them (top-k
 * first, then top-p, as Hugging Face's samplers). best is the largest logit;
 * work holds V doubles. */
static double cutoff(const double *logit, int V, int top_k, double top_p, double best,
                     double *work)
{
    bool nucleus = top_p > 0 && top_p < 1;
    if (!top_k && !nucleus)
        return -INFINITY;
    int n = 0;
    for (int i = 0; i < V; i++)
        if (logit[i] > -INFINITY)
            work[n++] = logit[i];
    qsort(work, (size_t)n, sizeof *work, cmp_desc);
    if (top_k && top_k < n)
        n = top_k;
    if (!nucleus)
        return work[n - 1];
    double total = 0, mass = 0;
    for (int i = 0; i < n; i++)
        total += exp(work[i] - best);
    for (int i = 0; i < n - 1; i++) {
        mass += exp(work[i] - best);
        if (mass >= top_p * total)
            return work[i];
    }
    return work[n - 1];
}

/* w[i] = exp(logit[i] − best) where logit[i] >= cut, else 0; returns Σ w.
 * In tl_real precision (a float rounding in a weight is nothing for
 * a draw); −inf gives the exact 0. */
TL_MULTIVERSION
static double weights(const double *logit, int V, double best, double cut, tl_real *w)
{
    for (int i = 0; i < V; i++)
        w[i] = logit[i] >= cut ? (tl_real)(logit[i] - best) : -(tl_real)INFINITY;
    return tl_vexp_sum(V, w, 0, w);
}

/* The bucket of w[0..V) (weights summing to total) that a uniform draw
 * lands in, or -1 when rounding leaves it past the last one. */
static int draw(const tl_real *w, int V, double total, tl_rng *rng)
{
    double u = tl_rng_uniform(rng) * total;
    int j = 0;
    while (j < V && !(w[j] > 0 && (u -= w[j]) < 0))
        j++;
    return j < V ? j : -1;
}

/* The first i with v[i] == best. */
#define FIRST_EQUAL(v, best, out)                                                          \
    do {                                                                                   \
        int i_ = 0;                                                                        \
        while ((v)[i_] != (best))                                                          \
            i_++;                                                                          \
        *(out) = i_;                                                                       \
    } while (0)

tl_status tl_sample(const tl_real *scores, int V, const tl_sample_opts *opts, tl_rng *rng,
                    double *work, int32_t *out)
{
    static const tl_sample_opts defaults = {0};
    const tl_sample_opts *o = opts ? opts : &defaults;
    if (!scores || V <= 0 || !out || (!rng && !o->greedy))
        return tl_fail(TL_ERR_ARG, "tl_sample: scores, V, rng or out invalid");
    if (o->temperature < 0 || !isfinite(o->temperature) || o->top_k < 0 || o->nskip < 0 ||
        (o->nskip && !o->skip) || !(o->top_p >= 0 && o->top_p <= 1))
        return tl_fail(TL_ERR_ARG, "tl_sample: temperature must be >= 0, top_k and nskip >= 0, "
                                   "top_p in [0, 1]");
    double t = o->temperature > 0 ? o->temperature : 1.0;
    bool nucleus = o->top_p > 0 && o->top_p < 1;
    /* Temperature 1 and nothing cut: the scores are the logits, and the
     * weights exp(s − best) come from them in one pass. s − best rounded
     * to tl_real is the value the general path rounds from double (the
     * difference of two floats whose exponents differ by less than 29 is
     * exact in double; otherwise both round to the larger one), so the
     * draws are the same (tested). */
    bool plain = t == 1 && !o->top_k && !nucleus && !o->nskip;
    double *own = NULL;
    if (!work && !(plain && o->greedy)) {
        TL_TRY(tl_alloc((void **)&own, 2 * (size_t)V, sizeof(double), "tl_sample"));
        work = own;
    }
    double *logit = work;
    tl_status st = TL_OK;
    int j;
    if (plain) {
        tl_real best;
        if (!max_finite(scores, V, &best))
            goto not_finite;
        if (o->greedy) {
            FIRST_EQUAL(scores, best, out);
            goto done;
        }
        tl_real *w = (tl_real *)work;
        j = draw(w, V, tl_vexp_sum(V, scores, best, w), rng);
        if (j < 0)
            FIRST_EQUAL(scores, best, &j);
        *out = j;
        goto done;
    }
    /* Loops without early exits or calls, so that they vectorise: V is
     * 10,000 for a word model and this runs once per generated token. */
    if (!scale_scores(scores, V, t, logit))
        goto not_finite;
    for (int i = 0; i < o->nskip; i++)
        if (o->skip[i] >= 0 && o->skip[i] < V)
            logit[o->skip[i]] = -INFINITY;
    double best = max_of(logit, V);
    if (best == -INFINITY) {
        st = tl_fail(TL_ERR_ARG, "tl_sample: all %d ids are in the skip list", V);
        goto done;
    }
    if (o->greedy) {  /* the first largest */
        FIRST_EQUAL(logit, best, out);
        goto done;
    }
    double cut = cutoff(logit, V, o->top_k, o->top_p, best, work + V);
    tl_real *w = (tl_real *)(work + V);   /* top-k is done with this half */
    j = draw(w, V, weights(logit, V, best, cut, w), rng);
    if (j < 0)
        FIRST_EQUAL(logit, best, &j);
    *out = j;
    goto done;
not_finite:
    j = 0;
    while (isfinite(scores[j]))
        j++;
    st = tl_fail(TL_ERR_NUMERIC, "tl_sample: score of id %d is %g", j, (double)scores[j]);
done:
    tl_free(own);
    return st;
}

#ifndef TL_REAL_DOUBLE
/* bf16 copies of the weights a generated token streams, in the shapes of
 * their one-row products: the input and recurrent weights Wx (D, G·H) and Wh
 * (H, G·H) of the recurrent layers, and TimeAffine's W (D, V), or for an
 * affine tied to an embedding's table E (V, D) the copy of Eᵀ (the
 * embedding's own lookups keep reading E). The model must be built: its
 * parameters sit where they will stay. */
static tl_status streamed_weights_bf16(tl_model *m, tl_bf16_set *s)
{
    for (int i = 0; i < tl_model_num_layers(m); i++) {
        tl_layer *l = tl_model_layer(m, i);
        const char *type = tl_layer_type(l);
        if (!strcmp(type, "TimeAffine")) {
            const tl_tensor *w;
            bool tr;
            TL_TRY(tl_time_affine_weight(l, &w, &tr, NULL));
            int rows = w->shape[0], cols = w->shape[1];
            TL_TRY(tr ? tl_bf16_set_add(s, w->data, true, cols, rows, cols)
                      : tl_bf16_set_add(s, w->data, false, rows, cols, cols));
        } else if (!strcmp(type, "TimeRNN") || !strcmp(type, "TimeLSTM") ||
                   !strcmp(type, "TimeGRU")) {
            int n;
            tl_param *p = tl_layer_params(l, &n);
            for (int k = 0; k < n; k++)
                if (!strcmp(p[k].name, "Wx") || !strcmp(p[k].name, "Wh"))
                    TL_TRY(tl_bf16_set_add(s, p[k].value.data, false, p[k].value.shape[0],
                                           p[k].value.shape[1], p[k].value.shape[1]));
        }
    }
    return TL_OK;
}
#endif

/* Feed the prompt, then draw and feed back count tokens. With bf16 the
 * prompt goes in one token at a time, so that every product of the call is
 * a one-row product and reads the bf16 copies: the result is then that of
 * the float model with those weights rounded, whatever the prompt's length. */
static tl_status run(tl_model *m, const int32_t *prompt, int nprompt, int count,
                     const tl_sample_opts *opts, tl_rng *rng, int32_t *out, bool bf16)
{
    const tl_tensor *scores;
    int32_t last;
    tl_model_reset_state(m);
    for (int i = 0; i < (bf16 ? nprompt : 1); i++) {
        tl_tensor x = tl_tensor_wrap_ids((int32_t *)prompt + i, 2,
                                         (int[]){1, bf16 ? 1 : nprompt});
        TL_TRY(tl_model_predict(m, &x, &scores));
    }
    int V = scores->shape[scores->ndim - 1];
    double *work;
    TL_TRY(tl_alloc((void **)&work, 2 * (size_t)V, sizeof(double), "tl_generate"));
    tl_status st = TL_OK;
    for (int k = 0; k < count && !st; k++) {
        const tl_real *row = scores->data + scores->size - (size_t)V;
        st = tl_sample(row, V, opts, rng, work, &last);
        if (st)
            break;
        out[k] = last;
        tl_tensor x = tl_tensor_wrap_ids(&last, 2, (int[]){1, 1});
        st = tl_model_predict(m, &x, &scores);
    }
    tl_free(work);
    return st;
}

static tl_status generate(const char *fn, tl_model *m, const int32_t *prompt, int nprompt,
                          int count, const tl_sample_opts *opts, tl_rng *rng, int32_t *out,
                          bool bf16)
{
    if (!m || !prompt || nprompt < 1 || count < 0 || (count && !out))
        return tl_fail(TL_ERR_ARG, "%s: needs a model, a prompt of at least one id, count >= 0 "
                                   "and an output array", fn);
    /* A non-stateful recurrent layer would restart from zeros at every
     * token: every prediction after the prompt would ignore the context. */
    for (int i = 0; i < tl_model_num_layers(m); i++) {
        tl_layer *l = tl_model_layer(m, i);
        tl_layer_config c;
        bool stateful = false;
        if (tl_layer_has_state(l) && (tl_layer_get_config(l, &c) ||
                                      tl_config_bool(&c, "stateful", false, &stateful) ||
                                      !stateful))
            return tl_fail(TL_ERR_STATE, "%s: layer %d (%s) is not stateful; generation feeds "
                           "one token at a time and needs the state carried", fn, i,
                           tl_layer_type(l));
    }
    if (!bf16)
        return run(m, prompt, nprompt, count, opts, rng, out, false);
#ifdef TL_REAL_DOUBLE
    return tl_fail(TL_ERR_ARG, "%s: bf16 weights need the float build of the library (this is "
                               "the double build, libtimelayers_f64)", fn);
#else
    int nparams;
    tl_bf16_set set = {0};
    tl_status st = tl_model_param_count(m, &nparams);  /* builds the model */
    if (!st)
        st = streamed_weights_bf16(m, &set);
    if (!st) {
        tl_bf16_use(&set);
        st = run(m, prompt, nprompt, count, opts, rng, out, true);
        tl_bf16_use(NULL);
    }
    tl_bf16_set_free(&set);
    return st;
#endif
}

tl_status tl_generate(tl_model *m, const int32_t *prompt, int nprompt, int count,
                      const tl_sample_opts *opts, tl_rng *rng, int32_t *out)
{
    return generate("tl_generate", m, prompt, nprompt, count, opts, rng, out, false);
}

tl_status tl_generate_bf16(tl_model *m, const int32_t *prompt, int nprompt, int count,
                           const tl_sample_opts *opts, tl_rng *rng, int32_t *out)
{
    return generate("tl_generate_bf16", m, prompt, nprompt, count, opts, rng, out, true);
}
