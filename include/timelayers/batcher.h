/* timelayers: batches for stateful truncated backpropagation through time.
 *
 * The reference trainer's scheme: of a corpus of len tokens, the inputs are
 * xs = corpus[0 .. L-1] and the targets ts = corpus[1 .. L], L = len - 1.
 * The stream is cut into B rows that start jump = L / B positions apart; row
 * i of a batch reads the T positions p = (i·jump + time_idx + t) mod L,
 * t = 0 .. T-1, giving xs[i][t] = corpus[p] and ts[i][t] = corpus[p + 1].
 * time_idx grows by T per batch and is never reset between epochs, so a row
 * runs into the next row's territory (and the last row wraps to the start)
 * as training goes on; an epoch is L / (B·T) batches.
 *
 * Example: corpus 0 .. 99, B = 4, T = 5: L = 99, jump = 24, 4 batches per
 * epoch. The first batch is xs rows 0-4, 24-28, 48-52, 72-76 with targets
 * one further; the sixth (time_idx 25) has the last row 97 98 0 1 2 with
 * targets 98 99 1 2 3.
 *
 * Evaluation: the reference's perplexity evaluation (B = 10, T = 35,
 * jump = (len - 1) / B, batch k reads corpus[(i·jump + k·T + t) mod len] and
 * the next position, for k < (len - 1) / (B·T)) reads exactly the first epoch
 * of a fresh batcher, because no position of that epoch reaches L and the
 * modulus never applies. So evaluation is tl_batcher_init followed by
 * tl_batcher_iters_per_epoch calls of tl_batcher_next.
 *
 * Row ranges: tl_batcher_set_rows makes a batcher fill only rows [first,
 * first + count) of each batch, unchanged in content. Members of a
 * data-parallel group (comm.h) each read their share of one batcher this way,
 * and gradient accumulation reads a batch in parts.
 */
#ifndef TIMELAYERS_BATCHER_H
#define TIMELAYERS_BATCHER_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_batcher {
    const int32_t *data;  /* the corpus, borrowed: keep it alive and unchanged */
    size_t len;           /* corpus length; L = len - 1 */
    int batch, time;      /* B, T */
    size_t jump;          /* L / B */
    size_t time_idx;      /* steps read per row so far; save and restore it to resume */
    int first, rows;      /* the rows tl_batcher_next fills: all B unless set_rows */
} tl_batcher;

/* Set up batches of `batch` rows of `time` steps over data[0 .. len-1], with
 * time_idx = 0. Errors: NULL b or data, batch or time not positive
 * (TL_ERR_ARG); L = len - 1 < batch·time (TL_ERR_ARG, "corpus of 50 tokens is
 * too short for batch 20 x time 35"). */
tl_status tl_batcher_init(tl_batcher *b, const int32_t *data, size_t len, int batch, int time);

/* L / (B·T): the batches in one epoch (at least 1 after a successful init; 0 for NULL). */
size_t tl_batcher_iters_per_epoch(const tl_batcher *b);

/* Read only rows [first, first + count) of every batch from now on:
 * tl_batcher_next then writes count·T ids, row first of the batch first.
 * TL_ERR_ARG unless 0 <= first, 1 <= count and first + count <= B. */
tl_status tl_batcher_set_rows(tl_batcher *b, int first, int count);

/* Fill xs and ts (rows·T ids each, row-major (rows, T); rows = B unless
 * tl_batcher_set_rows) with the next batch and advance time_idx by T. b must
 * have been set up by tl_batcher_init; of its fields only time_idx may be
 * changed afterwards (any value is valid). */
void tl_batcher_next(tl_batcher *b, int32_t *xs, int32_t *ts);

#ifdef __cplusplus
}
#endif
#endif
