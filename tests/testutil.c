#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"

void tu_randn(tl_tensor *t, tl_rng *rng, double scale, int ndim, const int *shape)
{
    TU_OK(tl_tensor_resize(t, TL_REAL, ndim, shape));
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = (tl_real)(scale * tl_rng_normal(rng));
}

void tu_randint(tl_tensor *t, tl_rng *rng, int n, int ndim, const int *shape)
{
    TU_OK(tl_tensor_resize(t, TL_INT32, ndim, shape));
    for (size_t i = 0; i < t->size; i++)
        t->ids[i] = (int32_t)tl_rng_below(rng, (uint64_t)n);
}

static void close_at(const char *what, size_t i, double a, double b, double rtol, double atol)
{
    if (!(fabs(a - b) <= atol + rtol * fabs(b)))
        fail_msg("%s[%zu]: got %.10g, expected %.10g (rtol %g, atol %g)", what, i, a, b, rtol,
                 atol);
}

void tu_assert_close(const char *what, const tl_real *a, const double *b, size_t n, double rtol,
                     double atol)
{
    for (size_t i = 0; i < n; i++)
        close_at(what, i, a[i], b[i], rtol, atol);
}

void tu_assert_close_real(const char *what, const tl_real *a, const tl_real *b, size_t n,
                          double rtol, double atol)
{
    for (size_t i = 0; i < n; i++)
        close_at(what, i, a[i], b[i], rtol, atol);
}

void tu_assert_same_tensor(const char *what, const tl_tensor *a, const tl_tensor *b)
{
    if (!tl_tensor_same_shape(a, b)) {
        char sa[48], sb[48];
        fail_msg("%s: shape %s vs %s", what, tl_tensor_shape_str(a, sa, sizeof sa),
                 tl_tensor_shape_str(b, sb, sizeof sb));
    }
    tu_assert_close_real(what, a->data, b->data, a->size, TU_RTOL, TU_ATOL);
}

bool tu_differs(const tl_tensor *a, const tl_tensor *b)
{
    for (size_t i = 0; i < a->size; i++)
        if (fabs(a->data[i] - b->data[i]) > 1e-3)
            return true;
    return false;
}

void tu_time_slice(const tl_tensor *x, int t0, int t1, tl_tensor *out)
{
    int n = x->shape[0], t = x->shape[1], w = x->shape[2];
    TU_OK(tl_tensor_resize(out, TL_REAL, 3, (int[]){n, t1 - t0, w}));
    for (int i = 0; i < n; i++)
        memcpy(out->data + (size_t)i * (t1 - t0) * w, x->data + ((size_t)i * t + t0) * w,
               (size_t)(t1 - t0) * w * sizeof(tl_real));
}

void tu_free_tensors(tl_tensor *const *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tl_tensor_free(t[i]);
}

typedef struct {
    char name[64];
    size_t n;
    double *v;
} golden_array;

struct tu_golden {
    golden_array *a;
    int n;
};

tu_golden *tu_golden_load(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TL_GOLDEN_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open golden file %s", path);
    tu_golden *g = calloc(1, sizeof *g);
    assert_non_null(g);
    char word[64];
    while (fscanf(f, " %63s", word) == 1) {
        if (word[0] == '#') {
            int c;
            while ((c = fgetc(f)) != '\n' && c != EOF)
                ;
            continue;
        }
        int ndim;
        size_t n = 1;
        if (fscanf(f, "%d", &ndim) != 1 || ndim < 0 || ndim > 4)
            fail_msg("%s: bad header for %s", path, word);
        for (int i = 0; i < ndim; i++) {
            long d;
            if (fscanf(f, "%ld", &d) != 1 || d < 0)
                fail_msg("%s: bad dimension for %s", path, word);
            n *= (size_t)d;
        }
        g->a = realloc(g->a, (size_t)(g->n + 1) * sizeof *g->a);
        assert_non_null(g->a);
        golden_array *ga = &g->a[g->n++];
        snprintf(ga->name, sizeof ga->name, "%s", word);
        ga->n = n;
        ga->v = malloc((n ? n : 1) * sizeof(double));
        assert_non_null(ga->v);
        for (size_t i = 0; i < n; i++)
            if (fscanf(f, "%lf", &ga->v[i]) != 1)
                fail_msg("%s: %s has fewer than %zu values", path, word, n);
    }
    fclose(f);
    return g;
}

const double *tu_golden_get(const tu_golden *g, const char *name, size_t count)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->a[i].name, name) == 0) {
            if (g->a[i].n != count)
                fail_msg("golden %s has %zu values, expected %zu", name, g->a[i].n, count);
            return g->a[i].v;
        }
    fail_msg("golden array %s not found", name);
    return NULL;
}

void tu_golden_tensor(const tu_golden *g, const char *name, tl_tensor *t, int ndim,
                      const int *shape)
{
    TU_OK(tl_tensor_resize(t, TL_REAL, ndim, shape));
    const double *v = tu_golden_get(g, name, t->size);
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = (tl_real)v[i];
}

void tu_golden_ids(const tu_golden *g, const char *name, tl_tensor *t, int ndim, const int *shape)
{
    TU_OK(tl_tensor_resize(t, TL_INT32, ndim, shape));
    const double *v = tu_golden_get(g, name, t->size);
    for (size_t i = 0; i < t->size; i++)
        t->ids[i] = (int32_t)v[i];
}

const double *tu_golden_get_prefixed(const tu_golden *g, const char *prefix, const char *name,
                                     size_t count)
{
    char key[128];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    return tu_golden_get(g, key, count);
}

void tu_check_param_grads(const tu_golden *g, const char *prefix, const tl_param *p, int np,
                          double times)
{
    for (int i = 0; i < np; i++) {
        char key[128];
        snprintf(key, sizeof key, "%sd%s", prefix, p[i].name);
        const tl_tensor *gr = &p[i].grad;
        const double *want = tu_golden_get(g, key, gr->size);
        for (size_t k = 0; k < gr->size; k++)
            if (fabs(gr->data[k] - times * want[k]) > TU_ATOL + TU_RTOL * fabs(times * want[k]))
                fail_msg("%s (accumulated %g times)[%zu]: got %.10g, expected %.10g", key, times,
                         k, (double)gr->data[k], times * want[k]);
    }
}

void tu_golden_free(tu_golden *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n; i++)
        free(g->a[i].v);
    free(g->a);
    free(g);
}

void tu_check_gradients(const char *what, const tl_gradcheck_entry *e, int n, double bound)
{
    if (n == 0)
        fail_msg("%s: gradient check compared nothing", what);
    for (int i = 0; i < n; i++) {
        printf("gradcheck %-28s %-16s n=%-6zu max_rel=%.3e max_abs=%.3e (bound %.0e)\n", what,
               e[i].name, e[i].checked, e[i].max_rel_error, e[i].max_abs_error, bound);
        if (e[i].checked == 0)
            fail_msg("%s: %s: no element checked", what, e[i].name);
    }
    for (int i = 0; i < n; i++)
        if (!(e[i].max_rel_error <= bound))
            fail_msg("%s: %s: relative error %.3e exceeds %.0e", what, e[i].name,
                     e[i].max_rel_error, bound);
}

tl_gradcheck_entry tu_central_difference(double (*f)(void *ctx), void *ctx, const char *name,
                                         tl_real *v, const tl_real *analytic, size_t n)
{
    const double eps = 1e-5;
    tl_gradcheck_entry e = {0};
    snprintf(e.name, sizeof e.name, "%s", name);
    for (size_t i = 0; i < n; i++) {
        tl_real saved = v[i];
        v[i] = (tl_real)(saved + eps);
        double lp = f(ctx);
        v[i] = (tl_real)(saved - eps);
        double lm = f(ctx);
        v[i] = saved;
        double num = (lp - lm) / (2 * eps), abs_err = fabs(analytic[i] - num);
        double rel = abs_err / fmax(1e-8, fabs(analytic[i]) + fabs(num));
        e.max_rel_error = fmax(e.max_rel_error, rel);
        e.max_abs_error = fmax(e.max_abs_error, abs_err);
        e.checked++;
    }
    return e;
}

void tu_central_difference_params(double (*f)(void *ctx), void *ctx, tl_param *p, int np,
                                  tl_gradcheck_entry *e)
{
    for (int i = 0; i < np; i++) {
        tl_tensor grad = {0};
        TU_OK(tl_tensor_copy(&grad, &p[i].grad));
        e[i] = tu_central_difference(f, ctx, p[i].name, p[i].value.data, grad.data, grad.size);
        tl_tensor_free(&grad);
    }
}

void tu_assert_init_scale(const tl_tensor *w, int fan_in, double mean_bound)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < w->size; i++) {
        s += w->data[i];
        s2 += (double)w->data[i] * w->data[i];
    }
    double mean = s / (double)w->size, sd = sqrt(s2 / (double)w->size - mean * mean);
    assert_true(fabs(sd * sqrt(fan_in) - 1) < 0.03);
    assert_true(fabs(mean) < mean_bound);
}

tu_strided tu_strided_new(int rows, int width, int pad, const double *init)
{
    tu_strided s = {rows, width, width + pad, NULL};
    s.v = malloc((size_t)rows * s.ld * sizeof(tl_real));
    assert_non_null(s.v);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < s.ld; j++)
            s.v[r * s.ld + j] = j < width ? (init ? (tl_real)init[r * width + j] : 0) : NAN;
    return s;
}

void tu_strided_check(const char *what, const tu_strided *s, const double *expect)
{
    for (int r = 0; r < s->rows; r++) {
        tu_assert_close(what, s->v + r * s->ld, expect + r * s->width, (size_t)s->width, TU_RTOL,
                        TU_ATOL);
        for (int j = s->width; j < s->ld; j++)
            if (!isnan(s->v[r * s->ld + j]))
                fail_msg("%s: row %d: padding element %d was written", what, r, j);
    }
}

void tu_strided_free(tu_strided *const *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]->v);
}

/* ---- Scratch directories and files ---- */

void tu_make_dir(char *dir)
{
    strcpy(dir, "/tmp/tl_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

int tu_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

void tu_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            assert_int_equal(unlink(path), 0);
        }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

unsigned char *tu_read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *p = malloc(*n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* ---- A language model ready to train ---- */

tl_status tu_lm_make(tu_lm *s, const char *text, size_t n, tl_level level, tl_lm_config lm,
                     uint64_t seed, const tl_train_config *cfg)
{
    tl_rng rng;
    size_t np;
    memset(s, 0, sizeof *s);
    tl_rng_seed(&rng, seed);
    tl_status st = tl_vocab_create(&s->vocab, level);
    if (!st)
        st = tl_corpus_from_text(text, n, s->vocab, true, &s->corpus);
    lm.vocab = tl_vocab_size(s->vocab);
    if (!st)
        st = tl_lm_create(&s->m, &lm, &rng);
    if (!st)
        st = tl_model_flat(s->m, NULL, NULL, &np);
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
    if (!st)
        st = tl_optim_create(&s->opt, &oc, np);
    if (!st)
        st = tl_trainer_create(&s->t, s->m, s->opt, s->vocab, s->corpus.ids, s->corpus.len, NULL,
                               0, cfg);
    return st;
}

void tu_lm_free(tu_lm *s)
{
    tl_trainer_destroy(s->t);
    tl_optim_destroy(s->opt);
    tl_model_destroy(s->m);
    tl_corpus_free(&s->corpus);
    tl_vocab_destroy(s->vocab);
    memset(s, 0, sizeof *s);
}
