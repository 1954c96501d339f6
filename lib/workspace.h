/* Workspaces: memory that a layer uses during one call and gives back when
 * the call returns. Internal: not installed.
 *
 * A model owns one workspace and lends it to each of its layers (the
 * tl_layer header's `workspace`, set by tl_model_add), so that the buffers
 * which live only inside one call (a recurrent layer's packed Wh, its
 * backward window; the fused output pass's block of scores) share one piece
 * of memory instead of each layer keeping its own: the largest call's need
 * rather than the sum. A layer on its own has workspace NULL and uses one
 * of its own. Nothing survives from one call to the next, so calls may come
 * in any order; a model serves one thread at a time, and so does its
 * workspace.
 */
#ifndef TL_WORKSPACE_H
#define TL_WORKSPACE_H

#include <stddef.h>
#include "internal.h"

typedef struct tl_workspace {
    unsigned char *data;   /* 64-byte aligned (tl_alloc) */
    size_t cap;            /* bytes */
    size_t reserved;       /* bytes the current call asked tl_workspace_begin for */
    size_t used;           /* bytes handed out since the last tl_workspace_begin */
    tl_pending lent;       /* while lent.pooled: a job still using the memory */
    size_t lent_from;      /* from this byte on */
    bool lent_waited;      /* a call has waited for a lent job: lending does not pay here */
} tl_workspace;

/* Start a call needing `bytes` in all: grows the workspace when it is
 * smaller (the old memory is freed first: its contents are lost) and
 * forgets what earlier calls took. */
tl_status tl_workspace_begin(tl_workspace *w, size_t bytes, const char *who);

/* The next `bytes` of the call's memory, 64-byte aligned (NULL for 0). Each
 * take uses tl_workspace_bytes(bytes) of what tl_workspace_begin reserved
 * (the last one may end inside its rounding). A take past the reservation is
 * a bug in the caller, not bad input: it aborts with a message rather than
 * hand out memory that another take owns, or none at all. */
void *tl_workspace_take(tl_workspace *w, size_t bytes);

/* Bytes that tl_workspace_take(bytes) uses up: whole 64-byte lines. */
size_t tl_workspace_bytes(size_t bytes);

/* Lend the memory of the current call from byte `from` on to a job that
 * outlives the call: the caller starts it into the handle returned
 * (tl_parallel_start). The next tl_workspace_begin whose need reaches that
 * memory, tl_workspace_finish and tl_workspace_free finish the job first
 * (tl_parallel_finish); a call needing less runs alongside it. The owner of
 * the workspace finishes it before anything reads what the job writes. A
 * call that had to wait sets lent_waited for good: the layers that use this
 * workspace need the memory while such a job runs, so a lender should stop
 * lending it (the job then costs a hand-off and saves nothing). */
tl_pending *tl_workspace_lend(tl_workspace *w, size_t from);

/* Finish the job the workspace's memory is lent to, if any. */
void tl_workspace_finish(tl_workspace *w);

void tl_workspace_free(tl_workspace *w);

#endif
