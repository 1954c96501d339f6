#include "blas_core.h"
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

void cli_fix_openblas_core(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv("TL_KEEP_OPENBLAS_CORE"))
        return;
    const char *core = better_core();
    if (!core || setenv("OPENBLAS_CORETYPE", core, 1) != 0)
        return;
    /* The variable now set, the new image returns above: no exec loop. */
    execv("/proc/self/exe", argv);
}
