/* TBPTT batches: row i, step t of a batch reads p = (i·jump + time_idx + t)
 * mod L, xs = data[p], ts = data[p + 1]. A row's T positions are contiguous
 * apart from at most one wrap (T <= L), so each row is two block copies. */
#include <string.h>
#include "../internal.h"
#include "timelayers/batcher.h"

tl_status tl_batcher_init(tl_batcher *b, const int32_t *data, size_t len, int batch, int time)
{
    size_t need;
    if (!b || !data)
        return tl_fail(TL_ERR_ARG, "tl_batcher_init: batcher or data is NULL");
    if (batch <= 0 || time <= 0)
        return tl_fail(TL_ERR_ARG, "tl_batcher_init: batch %d and time %d must be positive",
                       batch, time);
    if (!tl_mul_ok((size_t)batch, (size_t)time, &need) || len < 2 || len - 1 < need)
        return tl_fail(TL_ERR_ARG, "corpus of %zu tokens is too short for batch %d x time %d",
                       len, batch, time);
    *b = (tl_batcher){.data = data, .len = len, .batch = batch, .time = time,
                      .jump = (len - 1) / (size_t)batch, .time_idx = 0, .first = 0,
                      .rows = batch};
    return TL_OK;
}

size_t tl_batcher_iters_per_epoch(const tl_batcher *b)
{
    return b ? (b->len - 1) / ((size_t)b->batch * (size_t)b->time) : 0;
}

tl_status tl_batcher_set_rows(tl_batcher *b, int first, int count)
{
    if (!b)
        return tl_fail(TL_ERR_ARG, "tl_batcher_set_rows: batcher is NULL");
    if (first < 0 || count < 1 || first > b->batch - count)
        return tl_fail(TL_ERR_ARG, "tl_batcher_set_rows: rows [%d, %d + %d) are not within the "
                       "%d rows of the batch", first, first, count, b->batch);
    b->first = first;
    b->rows = count;
    return TL_OK;
}

/* dst[t] = src[(start + t) mod L] for t < T, with start < L and T <= L. */
static void copy_wrapped(int32_t *dst, const int32_t *src, size_t L, size_t start, size_t T)
{
    size_t head = L - start < T ? L - start : T;
    memcpy(dst, src + start, head * sizeof *dst);
    memcpy(dst + head, src, (T - head) * sizeof *dst);
}

void tl_batcher_next(tl_batcher *b, int32_t *xs, int32_t *ts)
{
    size_t L = b->len - 1, T = (size_t)b->time, shift = b->time_idx % L;
    for (size_t i = 0; i < (size_t)b->rows; i++) {
        size_t start = ((b->first + i) * b->jump + shift) % L;
        copy_wrapped(xs + i * T, b->data, L, start, T);
        copy_wrapped(ts + i * T, b->data + 1, L, start, T);
    }
    b->time_idx += T;
}
