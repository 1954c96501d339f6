/* timelayers: learning-rate schedules.
 *
 * A schedule gives the rate of each training step from the base rate (the
 * optimizer's rate when training started), the epoch and the step:
 *
 *   TL_LR_CONSTANT  the optimizer's rate, never changed.
 *   TL_LR_PLATEAU   divide the rate by factor (> 1) after an epoch whose
 *                   validation perplexity is not the best so far (the
 *                   textbook's PTB scripts: factor 4). Depends on the
 *                   validation history: the current rate is the state.
 *   TL_LR_STEP      base · factor^max(0, e − hold) in epoch e = 1, 2, ...:
 *                   hold epochs at the base rate, then multiplied by factor
 *                   (in (0, 1]) at every epoch (Zaremba et al. 2014: hold 4,
 *                   factor 0.5 small; hold 6, factor 0.8 medium).
 *   TL_LR_COSINE    linear warm-up over the first `warmup` steps, base · s /
 *                   warmup at step s = 1, 2, ...; then half a cosine from the
 *                   base rate down towards factor · base (factor in [0, 1))
 *                   over the remaining steps of the run:
 *                   f·base + (1 − f)·base·(1 + cos(π·k/K))/2, k = s − warmup − 1
 *                   of K = total − warmup (Loshchilov & Hutter 2017).
 *
 * Except for the plateau rule, the rate is a function of (base, epoch,
 * step), so a resumed run continues the schedule exactly when it knows the
 * base rate (the trainer stores it in its checkpoints).
 */
#ifndef TIMELAYERS_SCHEDULE_H
#define TIMELAYERS_SCHEDULE_H

#include <stddef.h>
#include "timelayers/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_lr_kind {
    TL_LR_CONSTANT = 0,
    TL_LR_PLATEAU = 1,
    TL_LR_STEP = 2,
    TL_LR_COSINE = 3
} tl_lr_kind;

/* A zeroed schedule is the constant one. */
typedef struct tl_lr_schedule {
    tl_lr_kind kind;
    double factor;  /* plateau: divisor > 1; step: multiplier in (0, 1];
                       cosine: final rate / base rate in [0, 1) */
    int hold;       /* step: epochs at the base rate, >= 0 */
    long warmup;    /* cosine: warm-up steps, >= 0 */
} tl_lr_schedule;

/* TL_ERR_ARG naming the field when a value is outside the ranges above. */
tl_status tl_lr_schedule_check(const tl_lr_schedule *s);

/* The rate of step `step` (1-based) in epoch `epoch` (1-based) of a run of
 * `total` steps, from the base rate; for the constant and plateau rules,
 * `current` (the optimizer's rate) unchanged. The schedule must be valid. */
double tl_lr_at(const tl_lr_schedule *s, double base, double current, int epoch, long step,
                long total);

/* Text and back: "constant", "plateau:F", "step:E:F", "cosine[:W[:F]]"
 * ("step:4:0.5", "cosine:1000:0.1"). TL_ERR_ARG names a bad spec; *s is
 * written only on success. tl_lr_schedule_describe writes the spec that
 * parses back to *s into buf (n bytes; 64 are enough). */
tl_status tl_lr_schedule_parse(const char *spec, tl_lr_schedule *s);
void tl_lr_schedule_describe(const tl_lr_schedule *s, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
