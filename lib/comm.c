/* Data-parallel helpers over any transport (comm.h): the public wrappers of
 * the ops table and the operations built on it. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "eval_internal.h"
#include "internal.h"
#include "timelayers/comm.h"

int tl_comm_rank(const tl_comm *c) { return c ? c->rank : 0; }
int tl_comm_size(const tl_comm *c) { return c ? c->size : 1; }
bool tl_comm_is_writer(const tl_comm *c) { return !c || c->rank == 0; }

tl_status tl_comm_sum(tl_comm *c, double *v, size_t n)
{
    if (!v && n)
        return tl_fail(TL_ERR_ARG, "tl_comm_sum: values are NULL");
    return c && c->size > 1 && n ? c->ops->sum_double(c, v, n) : TL_OK;
}

tl_status tl_comm_sum_reals(tl_comm *c, tl_real *v, size_t n)
{
    if (!v && n)
        return tl_fail(TL_ERR_ARG, "tl_comm_sum_reals: values are NULL");
    return c && c->size > 1 && n ? c->ops->sum_real(c, v, n) : TL_OK;
}

tl_status tl_comm_allreduce_grads(tl_comm *c, tl_model *m, double weight, double *total)
{
    tl_real *grads;
    size_t n;
    if (!m)
        return tl_fail(TL_ERR_ARG, "tl_comm_allreduce_grads: model is NULL");
    TL_TRY(tl_model_flat(m, NULL, &grads, &n));
    /* The weights travel first: every member must learn of a bad one, or those with
     * good ones would wait in the gradient sum for a member that left. */
    double w[2] = {isfinite(weight) && weight >= 0 ? weight : 0, !(isfinite(weight) && weight >= 0)};
    TL_TRY(tl_comm_sum(c, w, 2));
    if (w[1] > 0)
        return tl_fail(TL_ERR_ARG, "tl_comm_allreduce_grads: %s weight must be finite and >= 0 "
                       "(this member's is %g)", isfinite(weight) && weight >= 0 ?
                       "another member's" : "the", weight);
    if (total)
        *total = w[0];
    if (tl_comm_size(c) == 1)
        return TL_OK;
    /* g_r · w_r / W, then the sum. */
    tl_real scale = (tl_real)(w[0] > 0 ? weight / w[0] : 0);
    for (size_t i = 0; i < n; i++)
        grads[i] *= scale;
    return tl_comm_sum_reals(c, grads, n);
}

tl_status tl_comm_broadcast_params(tl_comm *c, tl_model *m)
{
    tl_real *values;
    size_t n;
    if (!m)
        return tl_fail(TL_ERR_ARG, "tl_comm_broadcast_params: model is NULL");
    TL_TRY(tl_model_flat(m, &values, NULL, &n));
    if (tl_comm_size(c) == 1)
        return TL_OK;
    /* Members of a different size would read past their buffers: compare first. */
    uint64_t count = n;
    TL_TRY(tl_comm_check_same(c, "parameter count", &count, sizeof count));
    return c->ops->broadcast(c, values, n * sizeof *values, 0);
}

tl_status tl_comm_shard_batcher(const tl_comm *c, tl_batcher *b)
{
    if (!b)
        return tl_fail(TL_ERR_ARG, "tl_comm_shard_batcher: batcher is NULL");
    int P = tl_comm_size(c), r = tl_comm_rank(c);
    if (b->batch % P)
        return tl_fail(TL_ERR_ARG, "batch %d cannot be split among %d members: give a batch "
                       "divisible by %d", b->batch, P, P);
    return tl_batcher_set_rows(b, r * (b->batch / P), b->batch / P);
}

/* FNV-1a, 64 bits, eight bytes a round: a checksum against mistakes (another
 * file, another option), not against an adversary. */
static uint64_t hash64(const void *data, size_t bytes)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3u;
        h ^= h >> 29;
    }
    for (; i < bytes; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h ^ bytes;
}

tl_status tl_comm_check_same(tl_comm *c, const char *what, const void *data, size_t bytes)
{
    if (!what || (!data && bytes))
        return tl_fail(TL_ERR_ARG, "tl_comm_check_same: NULL argument");
    if (tl_comm_size(c) == 1)
        return TL_OK;
    uint64_t mine = hash64(data, bytes), first = mine;
    TL_TRY(c->ops->broadcast(c, &first, sizeof first, 0));
    double differ = mine != first;
    TL_TRY(tl_comm_sum(c, &differ, 1));
    if (mine != first)
        return tl_fail(TL_ERR_ARG, "mismatch in %s between processes: process %d's hash %016"
                       PRIx64 " is not process 0's %016" PRIx64, what, c->rank, mine, first);
    if (differ > 0)
        return tl_fail(TL_ERR_ARG, "mismatch in %s between processes: %.0f of the %d do not "
                       "hold what process 0 holds", what, differ, c->size);
    return TL_OK;
}

tl_status tl_comm_eval_perplexity(tl_comm *c, tl_model *m, const int32_t *ids, size_t len,
                                  tl_eval_mode mode, int time, double *mean_loss, double *ppl)
{
    size_t count;
    double v[3] = {0};
    tl_status st = tl_eval_shard(m, ids, len, mode, time, tl_comm_rank(c), tl_comm_size(c),
                                 &v[0], &count);
    /* Every member takes part in the sum, failed or not, so that none waits. */
    v[1] = (double)count;
    v[2] = st != TL_OK;
    TL_TRY(tl_comm_sum(c, v, 3));
    if (st)
        return st;
    if (v[2] > 0)
        return tl_fail(TL_ERR_STATE, "evaluation failed on %.0f other member(s)", v[2]);
    return tl_eval_finish(v[0], (size_t)v[1], mean_loss, ppl);
}

void tl_comm_destroy(tl_comm *c)
{
    if (c)
        c->ops->destroy(c);
}
