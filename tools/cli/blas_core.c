#include "blas_core.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cblas.h>

/* The OpenBLAS core whose kernels the CPU runs, or NULL for none better than
 * what OpenBLAS chose (always NULL with another BLAS, -Dblas). */
static const char *better_core(void)
{
#if defined(TL_BLAS_OPENBLAS) && defined(__x86_64__) && defined(__GNUC__)
    const char *core = openblas_get_corename();
    if (!core || strcmp(core, "Prescott") != 0)
        return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

void cli_fix_openblas_env(char **argv)
{
    bool changed = false;
    if (!getenv("OPENBLAS_CORETYPE") && !getenv("TL_KEEP_OPENBLAS_CORE")) {
        const char *core = better_core();
        changed = core && setenv("OPENBLAS_CORETYPE", core, 1) == 0;
    }
    /* OpenBLAS's idle workers spin (calling sched_yield) for 2^28 cycles,
     * about 0.1 s, after every product, so they compete for the cores with
     * the library's own threads (recurrent steps, softmax rows) between the
     * products: on 2 cores, config A took twice the CPU time per step. 2^4
     * cycles (OpenBLAS's minimum) puts them to sleep at once. */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT") && setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1) == 0)
        changed = true;
    /* The variables now set, the new image changes nothing: no exec loop. */
    if (changed)
        execv("/proc/self/exe", argv);
}
