/* The output layer and its loss in one pass: TimeAffine + TimeSoftmaxWithLoss
 * forward and backward (dloss = 1), a block of rows at a time.
 *
 *   for each block B of rows:   S = x_B·W                     (scores, |B| × V)
 *                               S ← dS = scale·(softmax(S + b) − onehot(t_B)),
 *                                   db += Σ_rows dS           (one pass over the rows)
 *                               dx_B = dS·Wᵀ,  dW += x_Bᵀ·dS
 *
 * Layer by layer, the scores of all R = N·T rows are written to memory by the
 * forward GEMM, read and rewritten by the softmax, read again by two backward
 * GEMMs: an R × V buffer (28 MB for V = 10,000, R = 700) streamed through
 * memory four times. Here a block of scores is made, turned into its
 * gradient and consumed while it sits in the cache, and only one block ever
 * exists (config C: peak RSS 194 -> 169 MB). The price is that dW (D × V) is
 * updated once per block rather than once, and a GEMM that packs W does so
 * once per block: blocks are as large as the cache budget allows
 * (BLOCK_BYTES) so that both stay small next to the products. (The library's
 * own GEMM reads W in place in the forward product and takes Wᵀ packed
 * once per pass for dx where that copy is small, PACKED_MAX.)
 *
 * Nothing here depends on how W is stored: a W tied to an embedding table
 * (V, D) comes transposed, which changes only the GEMMs' transpose flags.
 */
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../param.h"
#include "../workspace.h"
#include "output.h"
#include "timelayers/threads.h"

/* Scores per block: at most 7 MB (in the L3 cache of current x86 servers),
 * never fewer than MIN_ROWS rows, and the rows shared out evenly over the
 * blocks this takes. Every block reads all of W and reads and writes all of
 * dW (26 MB each for config C), so fewer blocks mean less memory traffic:
 * config C, Zen 5, 4 blocks of 175 rows against 6 of at most 128: 0.939 of
 * the step time on 2 threads, 0.959 on 1, for 1.9 MB more scratch; with
 * fewer than MIN_ROWS the K = rows update of dW and the packing of W per
 * block cost more than the cache saves (52-row blocks: 11% more CPU time). */
enum { BLOCK_BYTES = 7 << 20, MIN_ROWS = 128 };

/* The dx products (dS·Wᵀ, K = V) read Wᵀ, which the library's GEMM packs
 * (a transposition) in every part of every block: each thread packed all
 * of it once per block (config A: 4.5 MB, 6 blocks, 2 threads). Up to
 * PACKED_MAX it is packed once per pass instead, after the block's scores
 * in the affine layer's scratch buffer; above (config C's 26 MB) the
 * memory is not spent. */
#define PACKED_MAX ((size_t)8 << 20)

static int block_rows_override;

void tl__affine_loss_block_rows(int rows) { block_rows_override = rows > 0 ? rows : 0; }

static int block_rows(int V, int R)
{
    int rows = block_rows_override;
    if (!rows) {
        rows = (int)(BLOCK_BYTES / sizeof(tl_real) / (size_t)V);
        rows = rows < MIN_ROWS ? MIN_ROWS : rows;
        if (rows < R) {
            int blocks = (R + rows - 1) / rows;
            rows = (R + blocks - 1) / blocks;
        }
    }
    return rows < R ? rows : R;
}

/* The last block's dW product is left running on the pool
 * (tl_parallel_start) while the layers below go through their backward:
 * config A's recurrent layer runs its steps on one thread (too small to
 * share), and the second thread had nothing to do then. The job's parts are
 * DW_COLS columns of dW (a multiple of every kernel's panel width: each
 * column gets the tiles, and so the bits, it gets in one product); it reads
 * the block's dscores and a copy of its rows of x in the workspace, lent to
 * it (workspace.h) until the model finishes it after backward. Only where
 * this pass needs the largest share of the workspace: a layer below that
 * needs more (config C's LSTM) would wait for the job at its first call.
 * Not with a tied W, whose gradient the embedding's backward adds to. Nor
 * once a layer below has had to wait for the job (lent_waited): config
 * B-RNN's recurrent layer needs the lent memory at once, and there the job
 * cost 6% of a step (two threads, 17.4 against 16.3 ms, quiet). */
enum { DW_COLS = 1024 };

typedef struct {
    int D, V, n;
    const tl_real *x, *S;
    tl_real *dW;
} dw_job;

static void dw_part(void *ctx, int part, int parts)
{
    const dw_job *j = ctx;
    (void)parts;
    int c0 = part * DW_COLS, c1 = c0 + DW_COLS < j->V ? c0 + DW_COLS : j->V;
    tl_gemm(true, false, j->D, c1 - c0, j->n, 1, j->x, j->D, j->S + c0, j->V, 1, j->dW + c0,
            j->V);
}

static bool dw_never;

void tl__affine_loss_dw_later(bool allow) { dw_never = !allow; }

static bool dw_later(const tl_workspace *ws, bool wt, size_t bytes)
{
#ifdef TL_REAL_DOUBLE
    (void)ws, (void)wt, (void)bytes;
    return false;
#else
    return !dw_never && !wt && tl_sgemm_chosen() && tl_get_num_threads() > 1 &&
           ws->cap <= bytes && !ws->lent_waited;
#endif
}

tl_status tl_affine_loss_fused(tl_layer *affine, tl_layer *loss, const tl_tensor *x,
                               const tl_tensor *t, double *loss_out, const tl_tensor **dx)
{
    tl_affine_view a;
    if (!tl_affine_view_of(affine, &a) || !tl_is_softmax_loss(loss))
        return tl_fail(TL_ERR_ARG, "fused output pass: needs a TimeAffine and a "
                                   "TimeSoftmaxWithLoss");
    int D = a.D, V = a.M, R;
    if (!x || !t || !loss_out || !dx)
        return tl_fail(TL_ERR_ARG, "fused output pass: NULL argument");
    if (x->dtype != TL_REAL)
        return tl_fail_shape("TimeAffine", "x", x, "real numbers");
    TL_TRY(tl_rows_of("TimeAffine", x, D, &R));
    if (loss->in_width && loss->in_width != V)
        return tl_fail(TL_ERR_SHAPE, "TimeSoftmaxWithLoss expects %d scores, TimeAffine makes %d",
                       loss->in_width, V);
    bool ok = t->dtype == TL_INT32 && t->ndim == x->ndim - 1 && t->size == (size_t)R;
    for (int d = 0; ok && d < t->ndim; d++)
        ok = t->shape[d] == x->shape[d];
    if (!ok)
        return tl_fail_shape("TimeSoftmaxWithLoss", "targets", t,
                             "int32 ids with the leading dimensions of the scores");
    double scale;
    TL_TRY(tl_softmax_loss_scale(loss, t, x->shape[0], V, &scale));

    int rb = block_rows(V, R);
    *a.x = NULL;   /* the layer's own backward has nothing to differentiate now */
    /* W as the GEMMs see it: op(W) is D × V either way. */
    bool wt = a.W_transposed;
    int ldw = wt ? D : V;
    /* Scratch, in this order: Wᵀ packed for the dx products (wp floats, 0:
     * none), the row pass's db partials, the scores of a block, and for a
     * last dW left running (see dw_later) a copy of the block's rows of x
     * and the job. From the model's workspace (workspace.h) when the layer
     * is in a model, else the layer's own output buffer. */
    size_t wp = 0;
    bool later = false;
#ifndef TL_REAL_DOUBLE
    if (!wt && tl_sgemm_chosen() && (wp = tl_sgemm_packed_size(V, D)) > PACKED_MAX / sizeof(float))
        wp = 0;
#endif
    size_t wp_b = tl_workspace_bytes(wp * sizeof(float));
    size_t s_at = wp_b + tl_workspace_bytes((size_t)TL_LOSS_PARTS * V * sizeof(tl_real));
    size_t x_at = s_at + tl_workspace_bytes((size_t)rb * V * sizeof(tl_real));
    size_t bytes = x_at;
    tl_workspace *ws = affine->workspace;
    unsigned char *base;
    if (ws) {
        later = dw_later(ws, wt, x_at + tl_workspace_bytes((size_t)rb * D * sizeof(tl_real)) +
                                     sizeof(dw_job));
        if (later)
            bytes = x_at + tl_workspace_bytes((size_t)rb * D * sizeof(tl_real)) + sizeof(dw_job);
        TL_TRY(tl_workspace_begin(ws, bytes, "fused output pass"));
        base = tl_workspace_take(ws, bytes);
    } else {
        int rows = (int)((bytes + (size_t)V * sizeof(tl_real) - 1) / ((size_t)V * sizeof(tl_real)));
        TL_TRY(tl_tensor_resize(a.scratch, TL_REAL, 2, (int[]){rows, V}));
        base = (unsigned char *)a.scratch->data;
    }
    TL_TRY(tl_tensor_resize(a.dx, TL_REAL, x->ndim, x->shape));
    double total = 0;
    tl_real *db_parts = (tl_real *)(base + wp_b), *S = (tl_real *)(base + s_at);
#ifndef TL_REAL_DOUBLE
    float *Wp = (float *)base;
    if (wp)
        tl_sgemm_pack_b(true, V, D, a.W, ldw, Wp);
#endif
    for (int r0 = 0; r0 < R; r0 += rb) {
        int n = R - r0 < rb ? R - r0 : rb;
        const tl_real *xb = x->data + (size_t)r0 * D;
        tl_gemm(false, wt, n, V, D, 1, xb, D, a.W, ldw, 0, S, V);
        double nll;
        TL_TRY(tl_softmax_loss_rows(t, (size_t)r0, n, V, scale, S, a.b, S, db_parts, a.db,
                                    &nll));
        total += nll;
        tl_real *dxb = a.dx->data + (size_t)r0 * D;
#ifndef TL_REAL_DOUBLE
        if (wp)
            tl_sgemm_prepacked(false, true, n, D, V, 1, S, V, a.W, ldw, Wp, 0, dxb, D);
        else
#endif
            tl_gemm(false, !wt, n, D, V, 1, S, V, a.W, ldw, 0, dxb, D);
        if (later && r0 + n == R) {
            /* The job and its copy of x live in the lent memory. */
            tl_real *xc = (tl_real *)(base + x_at);
            dw_job *job = (dw_job *)(base + bytes - sizeof(dw_job));
            memcpy(xc, xb, (size_t)n * D * sizeof *xc);
            *job = (dw_job){D, V, n, xc, S, a.dW};
            tl_parallel_start((V + DW_COLS - 1) / DW_COLS, dw_part, job, tl_workspace_lend(ws, s_at));
        } else if (wt)
            tl_gemm(true, false, V, D, n, 1, S, V, xb, D, 1, a.dW, D);
        else
            tl_gemm(true, false, D, V, n, 1, xb, D, S, V, 1, a.dW, V);
    }
    *loss_out = total * scale;
    *dx = a.dx;
    return TL_OK;
}
