/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
#include <math.h>
#include "timelayers/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tl_rng_seed(tl_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tl_rng_next(tl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tl_rng_uniform(tl_rng *r) { return (double)(tl_rng_next(r) >> 11) * 0x1.0p-53; }

double tl_rng_normal(tl_rng *r)
{
    /* 1 - u lies in (0, 1], so the log is finite. */
    double u1 = 1.0 - tl_rng_uniform(r);
    double u2 = tl_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t tl_rng_below(tl_rng *r, uint64_t n)
{
    /* Reject the top sliver of outputs that would bias the modulo. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = tl_rng_next(r);
    while (x >= limit);
    return x % n;
}

uint64_t tl_rng_key(uint64_t seed, uint64_t step, uint64_t layer, uint64_t stream)
{
    return tl_rng_at(tl_rng_at(tl_rng_at(seed, step), layer), stream);
}
