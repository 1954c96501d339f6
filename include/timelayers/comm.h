/* timelayers: a group of processes training one model together (data parallelism).
 *
 * A communicator joins `size` members numbered 0 .. size-1, each holding a replica of
 * the same model. Every member computes the gradient of its share of a batch; the
 * shares are summed (an all-reduce), every member applies the same update, and the
 * replicas stay identical. The library knows no transport: a transport implements the
 * small ops table below, and timelayers/mpi.h provides one over MPI in the separate
 * library timelayers_mpi (the core library does not link MPI). NULL stands for a
 * group of one everywhere a tl_comm * is taken.
 *
 * A C user with a loop of their own needs four calls besides the usual step:
 *
 *   tl_comm_broadcast_params(c, m);              once: every replica starts from member 0's
 *   tl_comm_shard_batcher(c, &b);                once: this member reads its rows of b
 *   each step:  zero_grad; forward on the member's rows; backward;
 *               tl_comm_allreduce_grads(c, m, targets_counted, &total);
 *               clip; optimizer step                 (clip sees the global gradient)
 *
 * Collective calls: every member must make the same collective calls in the same order
 * (all functions below except rank/size/is_writer/destroy). A member that fails between
 * two collectives must end the group (the CLI aborts the MPI job) or the others wait
 * for it forever. docs/distributed.md describes the semantics and the trainer's use.
 */
#ifndef TIMELAYERS_COMM_H
#define TIMELAYERS_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include "timelayers/batcher.h"
#include "timelayers/eval.h"
#include "timelayers/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_comm tl_comm;

/* What a transport implements. Every entry is required and collective; each returns
 * TL_OK or a status with a message (a lost member, a transport error). */
typedef struct tl_comm_ops {
    const char *name;
    /* Element-wise sum over all members, in place; every member gets the same bits. */
    tl_status (*sum_real)(tl_comm *c, tl_real *v, size_t n);
    tl_status (*sum_double)(tl_comm *c, double *v, size_t n);
    /* Copy member root's bytes to every member. */
    tl_status (*broadcast)(tl_comm *c, void *buf, size_t bytes, int root);
    /* Member root receives every member's `bytes` bytes in rank order in out (size ·
     * bytes); out is not used on the other members. */
    tl_status (*gather)(tl_comm *c, const void *in, size_t bytes, void *out, int root);
    void (*destroy)(tl_comm *c);
} tl_comm_ops;

/* The common header of every communicator (its first member, as with tl_layer). */
struct tl_comm {
    const tl_comm_ops *ops;
    int rank, size;
};

/* This member's number (0 for NULL), the group's size (1 for NULL), and whether this
 * member is the one that prints, logs and writes files (member 0). */
int tl_comm_rank(const tl_comm *c);
int tl_comm_size(const tl_comm *c);
bool tl_comm_is_writer(const tl_comm *c);

/* The scalar reduction: v[i] = Σ over members of v[i], for losses, counts and flags. */
tl_status tl_comm_sum(tl_comm *c, double *v, size_t n);

/* The same over tl_real arrays (a flat gradient buffer). */
tl_status tl_comm_sum_reals(tl_comm *c, tl_real *v, size_t n);

/* Turn each member's gradient into the gradient of the group's loss: with w_r this
 * member's weight and g_r its gradient (of its own mean loss),
 *     g <- Σ_r w_r · g_r / Σ_r w_r      (zero when every weight is zero)
 * on every member. With the weight the number of targets a member counted, g is the
 * gradient of the mean over all counted targets of the group: members may count
 * different numbers (ignored targets, uneven shares). *total (may be NULL) receives
 * Σ_r w_r. A negative or non-finite weight is TL_ERR_ARG on every member. */
tl_status tl_comm_allreduce_grads(tl_comm *c, tl_model *m, double weight, double *total);

/* Copy member 0's parameter values to every member. */
tl_status tl_comm_broadcast_params(tl_comm *c, tl_model *m);

/* Give this member its rows of b: with B = b->batch rows and size P dividing B, member
 * r reads rows [r·B/P, (r+1)·B/P) of exactly the batches the unsharded batcher makes
 * (tl_batcher_set_rows). TL_ERR_ARG when P does not divide B. Not collective. */
tl_status tl_comm_shard_batcher(const tl_comm *c, tl_batcher *b);

/* Refuse to go on unless every member holds the same bytes: compares a 64-bit hash of
 * data[0, bytes) with member 0's. On a difference every member returns TL_ERR_ARG,
 * with "what" in the message ("mismatch in the training data between processes: process
 * 1's hash ... is not process 0's ..."). */
tl_status tl_comm_check_same(tl_comm *c, const char *what, const void *data, size_t bytes);

/* tl_eval_perplexity (eval.h) with the rows of reference mode shared out among the
 * members and the losses summed: every member gets the same *mean_loss and *ppl (either
 * may be NULL). Stream mode (one row) is computed by member 0 alone. */
tl_status tl_comm_eval_perplexity(tl_comm *c, tl_model *m, const int32_t *ids, size_t len,
                                  tl_eval_mode mode, int time, double *mean_loss, double *ppl);

/* Free a communicator made by a transport (tl_mpi_comm_create). NULL is a no-op. */
void tl_comm_destroy(tl_comm *c);

#ifdef __cplusplus
}
#endif
#endif
