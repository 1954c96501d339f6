/* Numerical kernels shared by the layers: BLAS calls and element-wise math.
 * Every matrix is row-major; ld* are leading dimensions (row strides) so that
 * a time-step slice of an (N, T, H) buffer is passed as a matrix with
 * ld = T*H without copying. */
#ifndef TL_KERNELS_H
#define TL_KERNELS_H

#include <math.h>
#include <stdbool.h>
#include "timelayers/tensor.h"

/* C = alpha * op(A) · op(B) + beta * C, op(X) = X or Xᵀ; C is M x N and the
 * inner dimension is K. One call to OpenBLAS (sgemm or dgemm; sgemv or dgemv
 * when M = 1). */
void tl_gemm(bool trans_a, bool trans_b, int M, int N, int K, tl_real alpha, const tl_real *A,
             int lda, const tl_real *B, int ldb, tl_real beta, tl_real *C, int ldc);

/* C[i, :] += b for each of the M rows. */
void tl_add_row_vector(int M, int N, const tl_real *b, tl_real *C, int ldc);

/* out[j] += sum_i A[i, j]. */
void tl_add_column_sums(int M, int N, const tl_real *A, int lda, tl_real *out);

/* Copy M rows of N elements between strided matrices (e.g. time-step slices). */
void tl_copy_rows(int M, int N, const tl_real *A, int lda, tl_real *C, int ldc);

/* C = A + B element-wise over M rows of N elements; C may be A or B itself. */
void tl_add_rows(int M, int N, const tl_real *A, int lda, const tl_real *B, int ldb, tl_real *C,
                 int ldc);

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

#endif
