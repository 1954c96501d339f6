/* Evaluation in parts, for data-parallel groups (comm.c). Not installed. */
#ifndef TL_EVAL_INTERNAL_H
#define TL_EVAL_INTERNAL_H

#include "timelayers/eval.h"

/* Member rank of size's part of tl_eval_perplexity: the sum of the per-token
 * losses of its rows and their number (reference mode: rows rank·10/size ..
 * (rank+1)·10/size of each batch; stream mode: all on member 0, none
 * elsewhere). Summed over the members, sum/count is the full mean loss. The
 * model's state is reset before and after. */
tl_status tl_eval_shard(tl_model *m, const int32_t *ids, size_t len, tl_eval_mode mode,
                        int time, int rank, int size, double *sum, size_t *count);

/* mean = sum / count and its perplexity; TL_ERR_NUMERIC when not finite. */
tl_status tl_eval_finish(double sum, size_t count, double *mean_loss, double *ppl);

#endif
