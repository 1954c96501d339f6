/* A hand-written multiply-add loop per instruction set: the arithmetic limit
 * every timing of the bench is compared with.
 *
 * Each loop keeps `acc` independent accumulator registers, each updated by one
 * fused multiply-add per iteration: acc = acc·a + b. An FMA has a latency of
 * 4-5 cycles and two issue per cycle, so at least 10 chains must be in flight
 * to keep the units busy: 12 on AVX2 (with a and b, 14 of its 16 registers;
 * 16 chains would spill to memory and halve the rate), 16 on AVX-512 (32
 * registers). With a < 1 the values
 * converge to b / (1 − a) and never become subnormal (which would be slow).
 * The portable loop is plain C over 16 floats (the compiler's baseline vector
 * code: on x86-64, SSE2 multiply and add, no FMA): the limit of code that
 * assumes nothing about the CPU.
 *
 * FLOP per iteration: accumulators × lanes × 2.
 *
 * Each thread times itself in CPU time (CLOCK_THREAD_CPUTIME_ID), so that a
 * shared machine where other processes take turns on the cores does not
 * lower the figure: it is the rate of a core while it runs the loop. The
 * threads run at the same time, so what two busy cores share (clock, power)
 * is in the figure for two threads, which is the sum of their rates.
 */
#include "fma_peak.h"
#include <math.h>
#include <pthread.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86 1
#include <immintrin.h>
#endif

enum { ACC = 16, ITERS = 1000000, RUNS = 5 };

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each loop returns a sum of its accumulators so that none is optimised away. */
static float loop_portable(long iters, double *flop)
{
    float acc[ACC];
    for (int k = 0; k < ACC; k++)
        acc[k] = (float)k;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++)
            acc[k] = acc[k] * 0.999999f + 1e-6f;
    float s = 0;
    for (int k = 0; k < ACC; k++)
        s += acc[k];
    *flop = 2.0 * ACC * (double)iters;
    return s;
}

#ifdef HAVE_X86
#define FMA_LOOP(vec, set1, fmadd, add, first, lanes, nacc) \
    vec acc[nacc], a = set1(0.999999f), b = set1(1e-6f);     \
    for (int k = 0; k < nacc; k++)                           \
        acc[k] = set1((float)k);                            \
    for (long i = 0; i < iters; i++) {                      \
        _Pragma("GCC unroll 16")                            \
        for (int k = 0; k < nacc; k++)                       \
            acc[k] = fmadd(acc[k], a, b);                   \
    }                                                       \
    for (int k = 1; k < nacc; k++)                           \
        acc[0] = add(acc[0], acc[k]);                       \
    *flop = 2.0 * (nacc) * (lanes) * (double)iters;            \
    return first(acc[0]);

__attribute__((target("avx2,fma"))) static float loop_avx2(long iters, double *flop)
{
    FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_cvtss_f32, 8, 12)
}

__attribute__((target("avx512f"))) static float loop_avx512(long iters, double *flop)
{
    FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_cvtss_f32, 16, 16)
}
#endif

const char *fma_isa_name(fma_isa isa)
{
    static const char *const names[FMA_ISAS] = {"portable", "AVX2+FMA", "AVX-512"};
    return isa >= 0 && isa < FMA_ISAS ? names[isa] : "?";
}

int fma_isa_available(fma_isa isa)
{
    if (isa == FMA_PORTABLE)
        return 1;
#ifdef HAVE_X86
    __builtin_cpu_init();
    if (isa == FMA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == FMA_AVX512)
        return __builtin_cpu_supports("avx512f");
#endif
    return 0;
}

typedef struct {
    fma_isa isa;
    long iters;
    double flop, seconds;
    volatile float sink;
} fma_job;

static void *run_loop(void *arg)
{
    fma_job *j = arg;
    float s = 0;
    double t0 = cpu_now();
    switch (j->isa) {
    case FMA_PORTABLE: s = loop_portable(j->iters, &j->flop); break;
#ifdef HAVE_X86
    case FMA_AVX2: s = loop_avx2(j->iters, &j->flop); break;
    case FMA_AVX512: s = loop_avx512(j->iters, &j->flop); break;
#endif
    default: j->flop = 0;
    }
    j->seconds = cpu_now() - t0;
    j->sink = s;
    return NULL;
}

double fma_peak(fma_isa isa, int threads)
{
    enum { MAX_THREADS = 64 };
    if (!fma_isa_available(isa) || threads < 1 || threads > MAX_THREADS)
        return NAN;
    fma_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    double best = 0;
    /* The portable loop is several times slower: fewer iterations. */
    long iters = isa == FMA_PORTABLE ? ITERS / 4 : ITERS;
    for (int r = 0; r < RUNS + 1; r++) {
        double rate = 0;
        int started = 0;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (fma_job){.isa = isa, .iters = iters};
            if (t > 0 && pthread_create(&tid[t], NULL, run_loop, &jobs[t]) != 0)
                break;
            started = t + 1;
        }
        if (started < threads) {
            for (int t = 1; t < started; t++)
                pthread_join(tid[t], NULL);
            return NAN;
        }
        run_loop(&jobs[0]);
        for (int t = 1; t < threads; t++)
            pthread_join(tid[t], NULL);
        for (int t = 0; t < threads; t++)
            rate += jobs[t].seconds > 0 ? jobs[t].flop / jobs[t].seconds : 0;
        if (r > 0 && rate > best)   /* the first run warms the units up */
            best = rate;
    }
    return best * 1e-9;
}
