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

/* Counter-based random bits: tl_rng_key folds (seed, step, layer, stream)
 * into a key, and tl_rng_at(key, i) is the i-th 64-bit value of that key's
 * sequence: a pure function, so any element of a mask can be drawn
 * independently, in any order, on any thread. The sequence is SplitMix64
 * started at the key (Steele, Lea and Flood 2014), which passes BigCrush;
 * keys are themselves SplitMix64 outputs, so distinct (seed, step, layer,
 * stream) give unrelated sequences. */
uint64_t tl_rng_key(uint64_t seed, uint64_t step, uint64_t layer, uint64_t stream);

static inline uint64_t tl_rng_at(uint64_t key, uint64_t i)
{
    uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#ifdef __cplusplus
}
#endif
#endif
