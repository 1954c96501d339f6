/* tl_gemm: the library's own GEMM (gemm.c, gemv.c) or CBLAS (OpenBLAS by
 * default, -Dblas), and the small row/column helpers around it; the BLAS's
 * thread count. */
#include <cblas.h>
#include <string.h>
#include <unistd.h>
#include "kernels.h"
#ifdef TL_BLAS_BLIS
#include <blis.h>
#endif

/* Only OpenBLAS and BLIS have a thread-count API. Another CBLAS gets none:
 * its threads, if any, follow its own environment variables, and the
 * library's default thread count is the number of online processors. */
int tl_blas_get_threads(void)
{
#if defined(TL_BLAS_OPENBLAS)
    return openblas_get_num_threads();
#elif defined(TL_BLAS_BLIS)
    return (int)bli_thread_get_num_threads();
#elif defined(_SC_NPROCESSORS_ONLN)
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
#else
    return 1;
#endif
}

void tl_blas_set_threads(int n)
{
#if defined(TL_BLAS_OPENBLAS)
    openblas_set_num_threads(n);
#elif defined(TL_BLAS_BLIS)
    bli_thread_set_num_threads((dim_t)n);
#else
    (void)n;
#endif
}

/* One output row (batch-1 generation): C = alpha · a·op(B) + beta · C with
 * the row a = op(A) of K values, as the matrix-vector product op(B)ᵀ·a.
 * OpenBLAS's GEMM spends most of such a call packing B for a kernel made for
 * many rows; GEMV streams B once. B as stored (K x N) goes to the library's
 * own kernel (gemv.c) in the float build, and so does a B with a bf16 copy
 * in use (generation with bf16 weights, bf16.c). */
static void tl_gemv_row(bool trans_a, bool trans_b, int N, int K, tl_real alpha,
                        const tl_real *A, int lda, const tl_real *B, int ldb, tl_real beta,
                        tl_real *C)
{
    /* op(A) is 1 x K: A's row, or A's column (stride lda) when transposed. */
    int inc = trans_a ? lda : 1;
    /* op(B) is K x N; op(B)ᵀ·a is B as stored (N x K) times a when trans_b,
     * else the transpose of B as stored (K x N). */
#ifdef TL_REAL_DOUBLE
    if (trans_b)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, inc, beta, C, 1);
    else
        cblas_dgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, inc, beta, C, 1);
#else
    const uint16_t *w16 = tl_bf16_find(B, trans_b, K, N, ldb);
    if (w16)
        tl_gemv_rows_bf16(N, K, alpha, A, inc, w16, N, beta, C);
    else if (trans_b)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, inc, beta, C, 1);
    else
        tl_gemv_rows(N, K, alpha, A, inc, B, ldb, beta, C);
#endif
}

void tl_gemm(bool trans_a, bool trans_b, int M, int N, int K, tl_real alpha, const tl_real *A,
             int lda, const tl_real *B, int ldb, tl_real beta, tl_real *C, int ldc)
{
    if (M == 0 || N == 0)
        return;
    if (M == 1) {
        tl_gemv_row(trans_a, trans_b, N, K, alpha, A, lda, B, ldb, beta, C);
        return;
    }
#ifdef TL_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    if (tl_sgemm_chosen()) {
        tl_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

void tl_add_row_vector(int M, int N, const tl_real *b, tl_real *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        tl_real *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] += b[j];
    }
}

void tl_add_column_sums(int M, int N, const tl_real *A, int lda, tl_real *out)
{
    for (int i = 0; i < M; i++) {
        const tl_real *a = A + (size_t)i * lda;
        for (int j = 0; j < N; j++)
            out[j] += a[j];
    }
}

void tl_copy_rows(int M, int N, const tl_real *A, int lda, tl_real *C, int ldc)
{
    for (int i = 0; i < M; i++)
        memcpy(C + (size_t)i * ldc, A + (size_t)i * lda, (size_t)N * sizeof(tl_real));
}

void tl_add_rows(int M, int N, const tl_real *A, int lda, const tl_real *B, int ldb, tl_real *C,
                 int ldc)
{
    for (int i = 0; i < M; i++) {
        const tl_real *a = A + (size_t)i * lda, *b = B + (size_t)i * ldb;
        tl_real *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++)
            c[j] = a[j] + b[j];
    }
}
