/* The FMA peak of this CPU, measured: what the bench divides by to say how
 * close a configuration runs to the limit of the arithmetic units. */
#ifndef TL_BENCH_FMA_PEAK_H
#define TL_BENCH_FMA_PEAK_H

typedef enum { FMA_PORTABLE, FMA_AVX2, FMA_AVX512, FMA_ISAS } fma_isa;

/* "portable", "AVX2+FMA", "AVX-512". */
const char *fma_isa_name(fma_isa isa);

/* Whether this CPU runs the ISA's loop. */
int fma_isa_available(fma_isa isa);

/* GFLOP/s of the ISA's multiply-add loop on `threads` threads at once (the
 * best of several runs of about 20 ms), NAN when the ISA is not available or
 * a thread could not be started. */
double fma_peak(fma_isa isa, int threads);

#endif
