/* Dropout masks from the counter-based generator (rng.h). Portable C only:
 * no instruction-set-specific path, so nothing to dispatch or compare. */
#include <math.h>
#include "kernels.h"
#include "timelayers/rng.h"

/* Element i keeps its value when the 32-bit uniform u_i >= threshold = p·2^32,
 * so P(keep) = 1 − p up to 2^-32; one 64-bit draw serves two elements. */
void tl_dropout_mask(tl_real *m, size_t n, uint64_t key, double p)
{
    uint32_t threshold = (uint32_t)fmin(ldexp(p, 32), 4294967295.0);
    tl_real scale = (tl_real)(1 / (1 - p));
    size_t pairs = n / 2;
    for (size_t j = 0; j < pairs; j++) {
        uint64_t r = tl_rng_at(key, j);
        m[2 * j] = (uint32_t)r >= threshold ? scale : 0;
        m[2 * j + 1] = (uint32_t)(r >> 32) >= threshold ? scale : 0;
    }
    if (n % 2)
        m[n - 1] = (uint32_t)tl_rng_at(key, pairs) >= threshold ? scale : 0;
}
