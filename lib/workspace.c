/* Workspaces (workspace.h). */
#include "internal.h"
#include "workspace.h"

size_t tl_workspace_bytes(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

tl_status tl_workspace_begin(tl_workspace *w, size_t bytes, const char *who)
{
    w->used = 0;
    if (bytes <= w->cap)
        return TL_OK;
    /* Freed before the new block is allocated, so that the two are never
     * resident together. */
    tl_free(w->data);
    w->data = NULL;
    w->cap = 0;
    TL_TRY(tl_alloc((void **)&w->data, bytes, 1, who));
    w->cap = bytes;
    return TL_OK;
}

void *tl_workspace_take(tl_workspace *w, size_t bytes)
{
    if (!bytes)
        return NULL;
    void *p = w->data + w->used;
    w->used += tl_workspace_bytes(bytes);
    return p;
}

void tl_workspace_free(tl_workspace *w)
{
    tl_free(w->data);
    *w = (tl_workspace){0};
}
