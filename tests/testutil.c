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
