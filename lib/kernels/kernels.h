/* Numerical kernels shared by the layers: BLAS calls and element-wise math.
 * Every matrix is row-major; ld* are leading dimensions (row strides) so that
 * a time-step slice of an (N, T, H) buffer is passed as a matrix with
 * ld = T*H without copying. */
#ifndef TL_KERNELS_H
#define TL_KERNELS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "timelayers/tensor.h"

/* Hand-written x86 kernels exist in the float build only. */
#if !defined(TL_REAL_DOUBLE) && defined(__x86_64__) && defined(__GNUC__)
#define TL_HAVE_AVX2 1
#endif

/* The BLAS's own thread count (OpenBLAS, BLIS; for another CBLAS the
 * number of online processors, and set does nothing). */
int tl_blas_get_threads(void);
void tl_blas_set_threads(int n);

/* C = alpha * op(A) · op(B) + beta * C, op(X) = X or Xᵀ; C is M x N and the
 * inner dimension is K. M = 1: tl_gemv_rows in the float build when
 * op(B) = B, tl_gemv_rows_bf16 when B has a bf16 copy in use
 * (tl_bf16_use), else BLAS gemv; otherwise tl_sgemm in the float build when
 * tl_sgemm_chosen(), else the BLAS (sgemm or dgemm). */
void tl_gemm(bool trans_a, bool trans_b, int M, int N, int K, tl_real alpha, const tl_real *A,
             int lda, const tl_real *B, int ldb, tl_real beta, tl_real *C, int ldc);

/* The library's own GEMM (float build, gemm.c): the contract of tl_gemm for
 * any M, N, K >= 0; beta = 0 does not read C. Packed blocks and a
 * register-blocked micro-kernel at tl_simd_active()'s level (AVX-512, AVX2
 * or portable C); large products are split over the pool by blocks of C,
 * and the result has the same bits for any thread count. tl_sgemm_chosen:
 * whether tl_gemm uses it now: TL_GEMM=own always, TL_GEMM=blas never,
 * otherwise where it was measured faster than the BLAS (gemm.c). */
#ifndef TL_REAL_DOUBLE
void tl_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* op(B) (K x N) packed once for several products that share it (the output
 * layer's Wᵀ in every block of the fused pass): tl_sgemm_packed_size floats
 * at dst, in the layout of tl_simd_active()'s kernel, which must not change
 * before the products. tl_sgemm_prepacked is tl_sgemm reading op(B) from Bp
 * (B and ldb are still needed: for the BLAS when a pack buffer of A cannot
 * be had, and for a last panel of at most a quarter of the kernel's width,
 * which the packed copy leaves out; the size is 0 when N is at most that);
 * the same bits as tl_sgemm. */
size_t tl_sgemm_packed_size(int K, int N);
void tl_sgemm_pack_b(bool trans_b, int K, int N, const float *B, int ldb, float *dst);
void tl_sgemm_prepacked(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, const float *Bp,
                        float beta, float *C, int ldc);
bool tl_sgemm_chosen(void);
/* For tests: the least multiply-adds of a part when a product is cut into
 * several per thread (gemm.c, run_job), so that small products take that
 * path; 0 restores the default. */
void tl__sgemm_min_part(double fmas);
#endif

/* One row, c[0..n) = alpha · Σ_k a[k·inc]·B[k, 0..n) + beta · c, B (K, n)
 * row-major with row stride ldb; beta = 0 does not read c (float build,
 * gemv.c: AVX-512, AVX2 or portable by tl_simd_active; large products
 * split by columns over the pool, with the same bits for any thread count).
 * tl_gemm sends its one-row products here. */
#ifndef TL_REAL_DOUBLE
void tl_gemv_rows(int n, int K, float alpha, const float *a, int inc, const float *B, int ldb,
                  float beta, float *c);

/* bf16 ("brain float"): the upper 16 bits of an IEEE float, i.e. a float
 * with an 8-bit significand (7 bits stored) and the full exponent range.
 * tl_bf16_from_float rounds to nearest, ties to even; infinities stay
 * infinite, values beyond the largest bf16 round to infinity, subnormals
 * round like any other value, a NaN stays a NaN of the same sign (made
 * quiet, never rounded into an infinity). tl_bf16_to_float is exact. */
uint16_t tl_bf16_from_float(float x);
static inline float tl_bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* tl_gemv_rows with B in bf16: each weight widened to float (exactly),
 * products and sums in float as in tl_gemv_rows (same order, same bound).
 * Half the bytes of B to stream: generation with bf16 weights (bf16.c). */
void tl_gemv_rows_bf16(int n, int K, float alpha, const float *a, int inc, const uint16_t *B,
                       int ldb, float beta, float *c);

/* bf16 copies of weight matrices that stand in for them in one-row products
 * (generation with bf16 weights, tl_generate_bf16). A copy holds op(W), the
 * K x N matrix a product reads (Wᵀ for a weight used transposed: a tied
 * affine layer), row-major, rounded by tl_bf16_from_float. While a set is
 * in use on a thread (tl_bf16_use), every tl_gemm of one row on that thread
 * whose B, transposition, K, N and ldb are those of a copy's W reads the
 * copy through tl_gemv_rows_bf16 instead; all other products are untouched.
 * The set does not own the float weights, which must neither move nor
 * change while it is in use; it owns the copies (tl_bf16_set_free). A
 * zeroed struct is empty. */
typedef struct tl_bf16_weight {
    const float *W;
    bool trans;
    int K, N, ld;
    uint16_t *copy;
} tl_bf16_weight;

typedef struct tl_bf16_set {
    tl_bf16_weight *w;
    int n, cap;
} tl_bf16_set;

/* Add a copy of op(W) (W is K x N with row stride ld, or N x K when trans).
 * TL_ERR_NOMEM when the copy cannot be allocated. */
tl_status tl_bf16_set_add(tl_bf16_set *s, const float *W, bool trans, int K, int N, int ld);
void tl_bf16_set_free(tl_bf16_set *s);
/* Use s on the calling thread until tl_bf16_use(NULL). */
void tl_bf16_use(const tl_bf16_set *s);
/* The copy standing in for B in this product, or NULL. */
const uint16_t *tl_bf16_find(const float *B, bool trans, int K, int N, int ldb);
#endif

/* C[i, :] += b for each of the M rows. */
void tl_add_row_vector(int M, int N, const tl_real *b, tl_real *C, int ldc);

/* out[j] += sum_i A[i, j]. */
void tl_add_column_sums(int M, int N, const tl_real *A, int lda, tl_real *out);

/* Copy M rows of N elements between strided matrices (e.g. time-step slices). */
void tl_copy_rows(int M, int N, const tl_real *A, int lda, tl_real *C, int ldc);

/* C = A + B element-wise over M rows of N elements; C may be A or B itself. */
void tl_add_rows(int M, int N, const tl_real *A, int lda, const tl_real *B, int ldb, tl_real *C,
                 int ldc);

/* Inverted-dropout mask: m[i] = 1/(1−p) with probability 1 − p, else 0, for
 * i = 0 .. n-1, a pure function of (key, i) (tl_rng_key, tl_rng_at);
 * 0 <= p < 1. */
void tl_dropout_mask(tl_real *m, size_t n, uint64_t key, double p);

/* Logistic function in a form that never overflows: exp() only ever sees a
 * non-positive argument. */
static inline tl_real tl_sigmoid(tl_real x)
{
    if (x >= 0) {
        tl_real z = (tl_real)exp(-x);
        return 1 / (1 + z);
    }
    tl_real z = (tl_real)exp(x);
    return z / (1 + z);
}

static inline tl_real tl_tanh(tl_real x) { return (tl_real)tanh(x); }

/* d = dy ⊙ act'(x) over n elements, the derivative taken from the output
 * y = act(x): 1 − y² for tanh, y(1 − y) for the sigmoid. d may be dy. */
static inline void tl_dact_from_output(bool is_tanh, int n, const tl_real *y, const tl_real *dy,
                                       tl_real *d)
{
    if (is_tanh)
        for (int j = 0; j < n; j++)
            d[j] = dy[j] * (1 - y[j] * y[j]);
    else
        for (int j = 0; j < n; j++)
            d[j] = dy[j] * y[j] * (1 - y[j]);
}

/* Which hand-written SIMD kernels run (vmath.c, recurrent.c). They exist
 * only in the float build on x86-64: TL_SIMD_AVX2 on CPUs with AVX2 and FMA,
 * TL_SIMD_AVX512 (the GEMM and recurrent micro-kernels and the softmax
 * loss's row passes; the rest stays AVX2) on CPUs with AVX-512 F and VL too.
 * Otherwise (and below tl_simd_limit) the portable loops and plain BLAS run. tl_simd_limit is for tests and measurements
 * comparing the paths: call it while no other thread runs kernels. */
typedef enum tl_simd { TL_SIMD_NONE = 0, TL_SIMD_AVX2 = 1, TL_SIMD_AVX512 = 2 } tl_simd;
tl_simd tl_simd_active(void);
void tl_simd_limit(tl_simd max);

/* y = sigmoid(x), y = tanh(x) over n elements; y may be x. Accurate to a few
 * float ulps, exact saturation (0, ±1), NaN in gives NaN out. */
void tl_vsigmoid(int n, const tl_real *x, tl_real *y);
void tl_vtanh(int n, const tl_real *x, tl_real *y);

/* y = exp(x − shift) over n elements for x <= shift (y may be x); returns
 * Σ y, accumulated in double (float lanes over blocks of 512 on the AVX2
 * path). Relative error 3.6e-9 before rounding on the AVX2 path (libm
 * otherwise), exactly 0 for x − shift < −104, subnormals kept; NaN gives NaN
 * and so does the sum. The softmax loss and sampling use it. */
double tl_vexp_sum(int n, const tl_real *x, tl_real shift, tl_real *y);

/* tl_vexp_sum that also fetches the elements at next (the row the caller
 * reads next; NULL: none) into the cache on the AVX2 and AVX-512 paths, a
 * line per 64 bytes of y, as far as the vector loop goes (not the last n mod
 * 16 elements, nothing when n < 16): a row just written by a GEMM sits in the L3
 * cache or memory, and the first pass over it waited for every line. The
 * same results as tl_vexp_sum. */
double tl_vexp_sum_ahead(int n, const tl_real *x, tl_real shift, tl_real *y,
                         const tl_real *next);

/* The softmax loss's other passes over a row of n >= 1 scores.
 * tl_vadd_max: s = x + b when b is not NULL (s may be x; with b NULL, s is
 * not written and x is the row); returns the row's maximum and sets *lo to
 * its minimum, exactly, as long as the row holds numbers (a NaN may be
 * skipped: the exponential's sum turns NaN for it).
 * tl_vscale_acc: d *= c, then acc = d (first) or acc += d unless acc is
 * NULL (acc is not d). Both give the same bits at every SIMD level. */
tl_real tl_vadd_max(int n, const tl_real *x, const tl_real *b, tl_real *s, tl_real *lo);
void tl_vscale_acc(int n, tl_real c, tl_real *d, tl_real *acc, bool first);

/* The LSTM gate loops (lstm_cell.c has the math) for units [0, n) of one row.
 * a holds the pre-activations f, g, i, o at a, a+H, a+2H, a+3H and is
 * overwritten by the activations; c_prev NULL means zeros. */
void tl_lstm_gates_forward(int n, int H, tl_real *a, const tl_real *c_prev, tl_real *c_next,
                           tl_real *h_next);
/* dA (f, g, i, o blocks H apart, like gates) and dc_prev (skipped when NULL)
 * from the gates, c_prev (NULL: zeros), c_next, dh and dc. dA may be gates
 * and dc_prev may be dc. */
void tl_lstm_gates_backward(int n, int H, const tl_real *gates, const tl_real *c_prev,
                            const tl_real *c_next, const tl_real *dh, const tl_real *dc,
                            tl_real *dA, tl_real *dc_prev);

/* The GRU gate loops (gru_cell.c has the math) for units [0, n) of one row.
 * a holds the pre-activations A_r, A_z, A_n (x·Wx + b) at a, a+H, a+2H; hh
 * holds h·Wh + [0, 0, bhn] likewise. a becomes r, z, n, and a+3H receives hn;
 * h_prev NULL means zeros; h_next may be h_prev. */
void tl_gru_gates_forward(int n, int H, tl_real *a, const tl_real *hh, const tl_real *h_prev,
                          tl_real *h_next);
/* From the gates (r, z, n, hn), h_prev (NULL: zeros) and dh: dAh = [dr̃, dz̃,
 * dhn] and dAx = [dr̃, dz̃, dñ] (blocks H apart), and dh_prev = z⊙dh unless
 * NULL (it may be dh). */
void tl_gru_gates_backward(int n, int H, const tl_real *gates, const tl_real *h_prev,
                           const tl_real *dh, tl_real *dAh, tl_real *dAx, tl_real *dh_prev);
/* Units [u0, u1) of the N rows of hh (N, 3H): [0, 0, bhn], the start of a
 * step's recurrent product. */
void tl_gru_hh_init(int N, int H, const tl_real *bhn, tl_real *hh, int ldhh, int u0, int u1);

/* The per-step recurrent products of a time layer with G gate blocks of H
 * units, Wh (H, G·H) row-major (recurrent.c):
 *   forward   a[:, q·H + u] += h·Wh[:, q·H + u]    for each gate block q
 *   backward  dh[:, u]      += dA·Whᵀ[:, u]
 * for the units u in [u0, u1). tl_rec_prepare takes Wh for one pass (it must
 * not change until the pass ends) and packs it, split over the library's
 * threads, into `pack`, the caller's tl_rec_pack_floats(H, G, N) floats
 * (64-byte aligned), when the packed kernel runs: float build, AVX2, N >= 2
 * rows per step. Otherwise the products are BLAS calls on Wh itself (and
 * pack may be NULL). */
typedef struct tl_rec {
    const tl_real *Wh;
    int H, G;
    bool packed;
    const float *pack;       /* Wh (forward) or Whᵀ (backward) packed, the caller's */
} tl_rec;

size_t tl_rec_pack_floats(int H, int G, int N);
void tl_rec_prepare(tl_rec *r, const tl_real *Wh, int H, int G, bool backward, int N,
                    float *pack);
/* How many parts (tl_parallel_run) a step of N rows is worth splitting into
 * (1 without the packed kernel or with one thread), and the units of one
 * part: ranges start on panel boundaries, together they cover [0, H). */
int tl_rec_parts(const tl_rec *r, int N);
void tl_rec_split(const tl_rec *r, int part, int parts, int *u0, int *u1);
void tl_rec_forward(const tl_rec *r, int N, const tl_real *h, int ldh, int u0, int u1,
                    tl_real *a, int lda);
void tl_rec_backward(const tl_rec *r, int N, const tl_real *dA, int ldda, int u0, int u1,
                     tl_real *dh, int lddh);

/* A hot loop marked TL_MULTIVERSION is compiled twice, for the x86-64
 * baseline (SSE2) and for x86-64-v3 (AVX2, FMA); the loader picks the
 * version the CPU runs (GCC function multi-versioning, an ifunc on glibc):
 * the bf16 rounding and sampling's scaling and maxima. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__)
#define TL_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TL_MULTIVERSION
#endif

#endif
