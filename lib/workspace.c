/* Workspaces (workspace.h). */
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"
#include "workspace.h"

size_t tl_workspace_bytes(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

tl_status tl_workspace_begin(tl_workspace *w, size_t bytes, const char *who)
{
    if (w->lent.pooled && bytes > w->lent_from) {
        w->lent_waited = true;
        tl_workspace_finish(w);
    }
    w->used = 0;
    w->reserved = 0;
    if (bytes > w->cap) {
        /* Freed before the new block is allocated, so that the two are never
         * resident together. */
        tl_free(w->data);
        w->data = NULL;
        w->cap = 0;
        TL_TRY(tl_alloc((void **)&w->data, bytes, 1, who));
        w->cap = bytes;
    }
    w->reserved = bytes;
    return TL_OK;
}

void *tl_workspace_take(tl_workspace *w, size_t bytes)
{
    if (!bytes)
        return NULL;
    /* The block itself must lie inside the reservation; its rounding to a
     * whole line may reach past the end, and then nothing more fits. */
    if (w->used > w->reserved || bytes > w->reserved - w->used) {
        fprintf(stderr, "timelayers: internal error: a workspace take of %zu bytes after %zu "
                        "of the %zu reserved\n", bytes, w->used, w->reserved);
        abort();
    }
    void *p = w->data + w->used;
    w->used += tl_workspace_bytes(bytes);
    return p;
}

tl_pending *tl_workspace_lend(tl_workspace *w, size_t from)
{
    tl_workspace_finish(w);
    w->lent_from = from;
    return &w->lent;
}

void tl_workspace_finish(tl_workspace *w) { tl_parallel_finish(&w->lent); }

void tl_workspace_free(tl_workspace *w)
{
    tl_workspace_finish(w);
    tl_free(w->data);
    *w = (tl_workspace){0};
}
