/* GEMM through OpenBLAS and the small row/column helpers around it. */
#include <cblas.h>
#include <string.h>
#include "kernels.h"

void tl_gemm(bool trans_a, bool trans_b, int M, int N, int K, tl_real alpha, const tl_real *A,
             int lda, const tl_real *B, int ldb, tl_real beta, tl_real *C, int ldc)
{
    if (M == 0 || N == 0)
        return;
#ifdef TL_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
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
