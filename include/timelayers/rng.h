/* timelayers: a small, seedable random number generator (xoshiro256**).
 *
 * Its whole state is four 64-bit words, so it can be saved in a checkpoint
 * and restored to continue exactly. Not for cryptography.
 */
#ifndef TIMELAYERS_RNG_H
#define TIMELAYERS_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_rng {
    uint64_t s[4];
} tl_rng;

/* Seed deterministically from one 64-bit value (splitmix64 expansion). */
void tl_rng_seed(tl_rng *r, uint64_t seed);

/* Next raw 64-bit output. */
uint64_t tl_rng_next(tl_rng *r);

/* Uniform double in [0, 1) with 53 random bits. */
double tl_rng_uniform(tl_rng *r);

/* Standard normal N(0, 1) (Box-Muller; uses two uniforms per call). */
double tl_rng_normal(tl_rng *r);

/* Uniform integer in [0, n) without modulo bias; n must be > 0. */
uint64_t tl_rng_below(tl_rng *r, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif
