/* timelayers: how many threads the library uses.
 *
 * Two kinds of work run in parallel: the large matrix products (through
 * OpenBLAS and its own threads) and the per-time-step recurrent kernels of
 * TimeLSTM (through a small pool of library threads, which sleep while
 * OpenBLAS runs). One setting governs both.
 *
 * Default: the environment variable TL_NUM_THREADS when it holds an integer
 * in [1, 64]; otherwise OpenBLAS's thread count (OPENBLAS_NUM_THREADS, else
 * the number of cores) capped at 4, because the per-step kernels have too
 * little work to split further. The default does not change OpenBLAS.
 *
 * The pool threads start on the first parallel step and live until the
 * process exits. One parallel step runs at a time: a step that finds the
 * pool busy (another thread of the caller in the library) runs on its
 * calling thread alone, with the same result.
 */
#ifndef TIMELAYERS_THREADS_H
#define TIMELAYERS_THREADS_H

#include "timelayers/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Use n threads (1 <= n <= 64) from now on, for the pool and for OpenBLAS
 * (openblas_set_num_threads). TL_ERR_ARG outside that range. Call it while
 * no other thread is inside the library. */
tl_status tl_set_num_threads(int n);

/* The current setting (the default above until tl_set_num_threads). */
int tl_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
