/* Helpers shared by the cmocka tests: random tensors, closeness checks,
 * golden files and gradient-check reporting. Include after cmocka.h. */
#ifndef TL_TESTUTIL_H
#define TL_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "timelayers/timelayers.h"

#ifdef TL_REAL_DOUBLE
#define TU_DOUBLE 1
#else
#define TU_DOUBLE 0
#endif

/* Tolerance for comparing a computation with a reference: tight in the
 * double build, float rounding in the float build. */
#define TU_RTOL (TU_DOUBLE ? 1e-9 : 2e-4)
#define TU_ATOL (TU_DOUBLE ? 1e-11 : 1e-5)

/* Relative-error bound for central-difference gradient checks in double
 * precision (semantics.md: a correct layer is far below 1e-6). */
#define TU_GRADCHECK_BOUND 1e-6

/* Fail the test (with the message) unless st is TL_OK. */
#define TU_OK(expr)                                                             \
    do {                                                                        \
        tl_status tu_st_ = (expr);                                              \
        if (tu_st_ != TL_OK)                                                    \
            fail_msg("%s failed: %s: %s", #expr, tl_status_name(tu_st_),        \
                     tl_last_error());                                          \
    } while (0)

/* Fill a real tensor of the given shape with scale * N(0, 1). */
void tu_randn(tl_tensor *t, tl_rng *rng, double scale, int ndim, const int *shape);

/* Fill an int32 tensor with uniform ids in [0, n). */
void tu_randint(tl_tensor *t, tl_rng *rng, int n, int ndim, const int *shape);

/* Assert |a[i] - b[i]| <= atol + rtol * |b[i]| for all i, reporting the first
 * offending index with `what`. */
void tu_assert_close(const char *what, const tl_real *a, const double *b, size_t n, double rtol,
                     double atol);
void tu_assert_close_real(const char *what, const tl_real *a, const tl_real *b, size_t n,
                          double rtol, double atol);

/* Fail unless a and b have the same shape and values within TU_RTOL, TU_ATOL. */
void tu_assert_same_tensor(const char *what, const tl_tensor *a, const tl_tensor *b);

/* True when some element of a and b (of the same size) differs by more than
 * 1e-3: clearly different outputs, not rounding. */
bool tu_differs(const tl_tensor *a, const tl_tensor *b);

/* x[:, t0:t1, :] of an (N, T, W) real tensor as an (N, t1 - t0, W) tensor in out. */
void tu_time_slice(const tl_tensor *x, int t0, int t1, tl_tensor *out);

/* Free the listed tensors: TU_FREE_ALL(&x, &y, ...). */
void tu_free_tensors(tl_tensor *const *t, size_t n);
#define TU_COUNT(type, ...) (sizeof((type[]){__VA_ARGS__}) / sizeof(type))
#define TU_FREE_ALL(...)                                                                          \
    tu_free_tensors((tl_tensor *[]){__VA_ARGS__}, TU_COUNT(tl_tensor *, __VA_ARGS__))

/* Golden files (tests/golden/NAME.txt, written by the scripts in tools/golden):
 * blocks of "name ndim d0 .. dk" followed by the values, '#' comments. */
typedef struct tu_golden tu_golden;
tu_golden *tu_golden_load(const char *file);   /* fails the test when unreadable */
/* The named array; fails the test unless it exists with `count` elements. */
const double *tu_golden_get(const tu_golden *g, const char *name, size_t count);
/* Copy a named array into a real tensor of the given shape. */
void tu_golden_tensor(const tu_golden *g, const char *name, tl_tensor *t, int ndim,
                      const int *shape);
void tu_golden_ids(const tu_golden *g, const char *name, tl_tensor *t, int ndim, const int *shape);
void tu_golden_free(tu_golden *g);
/* The array named prefix + name (the goldens of one variant share a file). */
const double *tu_golden_get_prefixed(const tu_golden *g, const char *prefix, const char *name,
                                     size_t count);
/* Fail unless the gradient of every parameter equals `times` the golden
 * array prefix + "d" + its name (times 2 after two accumulating backwards). */
void tu_check_param_grads(const tu_golden *g, const char *prefix, const tl_param *p, int np,
                          double times);

/* Print each gradient-check entry (so the measured errors appear in the test
 * log) and fail if any exceeds bound or checked nothing. */
void tu_check_gradients(const char *what, const tl_gradcheck_entry *e, int n, double bound);

/* Central differences of f(ctx) over every element of v against `analytic`,
 * with the step (1e-5) and the relative-error formula of lib/gradcheck.c. */
tl_gradcheck_entry tu_central_difference(double (*f)(void *ctx), void *ctx, const char *name,
                                         tl_real *v, const tl_real *analytic, size_t n);
/* The same for each of the np parameters against the gradients they hold
 * now (copied first: the differences run f again); writes e[0..np). */
void tu_central_difference_params(double (*f)(void *ctx), void *ctx, tl_param *p, int np,
                                  tl_gradcheck_entry *e);

/* Fail unless the sample sd of w is within 3% of 1/sqrt(fan_in) and
 * |mean| < mean_bound (checks of the default initialisation). */
void tu_assert_init_scale(const tl_tensor *w, int fan_in, double mean_bound);

/* A (rows, width) matrix stored with leading dimension width + pad; the pad
 * holds NaN so that reading it poisons the result and writing it shows.
 * init (rows x width, dense) or NULL for zeros. */
typedef struct {
    int rows, width, ld;
    tl_real *v;
} tu_strided;
tu_strided tu_strided_new(int rows, int width, int pad, const double *init);
/* Compare with a dense array and check the pad is untouched. */
void tu_strided_check(const char *what, const tu_strided *s, const double *expect);
void tu_strided_free(tu_strided *const *s, size_t n);
#define TU_STRIDED_FREE_ALL(...)                                                                  \
    tu_strided_free((tu_strided *[]){__VA_ARGS__}, TU_COUNT(tu_strided *, __VA_ARGS__))

/* Scratch directories and files: make a fresh /tmp/tl_test_XXXXXX (dir has
 * room for 64 bytes), count the entries of a directory, remove it with its
 * files, read a whole file (malloc'd, *n bytes). Failures fail the test. */
void tu_make_dir(char *dir);
int tu_count_files(const char *dir);
void tu_remove_dir(const char *dir);
unsigned char *tu_read_bytes(const char *path, size_t *n);

/* Vocabulary (level), corpus from text, tl_lm_create(lm with its vocab set
 * from the corpus, rng seeded with seed), Adam with defaults, a trainer on
 * the whole corpus with cfg. Returns the first failure (without failing the
 * test, for fault-injection tests); tu_lm_free frees whatever was made. */
typedef struct tu_lm {
    tl_vocab *vocab;
    tl_corpus corpus;
    tl_model *m;
    tl_optim *opt;
    tl_trainer *t;
} tu_lm;
tl_status tu_lm_make(tu_lm *s, const char *text, size_t n, tl_level level, tl_lm_config lm,
                     uint64_t seed, const tl_train_config *cfg);
void tu_lm_free(tu_lm *s);

#endif
