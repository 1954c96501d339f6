/* OpenBLAS's environment: its kernels on CPUs it does not recognise, and how
 * long its idle threads spin. */
#ifndef TL_CLI_BLAS_CORE_H
#define TL_CLI_BLAS_CORE_H

/* OpenBLAS (a DYNAMIC_ARCH build such as Debian's) chooses its kernels from
 * the CPU model when it is loaded. On a CPU model it does not know - many
 * virtual machines report a generic one - it falls back to its SSE3
 * "Prescott" kernels, which run matrix products 2-5x slower than the AVX2 or
 * AVX-512 kernels the CPU can run. OPENBLAS_CORETYPE overrides the choice,
 * but only at load time. So when OpenBLAS reports Prescott, the CPU has
 * AVX-512 (or AVX2 + FMA), and neither OPENBLAS_CORETYPE nor
 * TL_KEEP_OPENBLAS_CORE is set, this sets OPENBLAS_CORETYPE to SkylakeX (or
 * Haswell). Likewise, unless OPENBLAS_THREAD_TIMEOUT is set, it sets it to 4
 * (idle OpenBLAS threads sleep at once instead of spinning for about 0.1 s
 * next to the library's threads; docs/performance.md). When it set anything
 * it executes the program again with the same arguments. It returns
 * (changing nothing) in every other case, including a failed exec. Call it
 * first thing in main. */
void cli_fix_openblas_env(char **argv);

#endif
