/* Element-wise math over arrays: sigmoid, tanh, the LSTM and GRU gate loops and the
 * shifted exponential with its sum (the softmax loss, sampling): the
 * library's one float exponential.
 *
 * Float build on x86-64: AVX2+FMA versions chosen at run time
 * (__builtin_cpu_supports), eight lanes at a time, tails through masked
 * loads so every element takes the same path. Everything else (the double
 * build, other CPUs, tl_simd_limit(TL_SIMD_NONE)) runs the portable loops on
 * libm (tl_sigmoid, tl_tanh, exp/expf).
 *
 * The vector exp(x) is for x <= 0 only, which is all sigmoid, tanh and a
 * softmax (x − max) need:
 *   x = n·ln2 + r, |r| <= ln2/2, n = round(x/ln2);  e^r = 1 + r + r²·Q(r)
 *   with Q of degree 4 (least-squares fit of the relative error on Chebyshev
 *   nodes: max relative error 3.6e-9, a tenth of a float ulp), then
 *   e^x = e^r · 2^n1 · 2^n2 with n1 = n/2, n2 = n - n1 so that each factor is
 *   a normal float and only the last product rounds into the subnormals;
 *   when all eight lanes are >= -86.5 (normal results) n is simply added to
 *   the exponent field of e^r, the same value in fewer operations.
 *   x < -104 gives exactly 0 (e^-104 is below half the least subnormal).
 * sigmoid(x): e = exp(-|x|) ∈ [0, 1]; 1/(1+e) for x >= 0, e/(1+e) below:
 *   never overflows, 1 exactly once e < 2^-24, 0 exactly for x < -104.
 * tanh(|x|): below 0.625 the odd polynomial x + x³·P(x²), P of degree 4
 *   (relative error 4.6e-9) because (1-e)/(1+e) cancels near 0; above it
 *   (1-e)/(1+e) with e = exp(-2|x|) <= 0.29, exactly 1 once e < 2^-25; the
 *   sign is copied from x.
 * NaN inputs give NaN: every clamp keeps a NaN operand (max_ps returns its
 * second operand when either is NaN) and every comparison on NaN is false.
 */
#include <math.h>
#include "kernels.h"

#ifdef TL_HAVE_AVX2
#include <immintrin.h>
#endif

static tl_simd simd_max = TL_SIMD_AVX512;

void tl_simd_limit(tl_simd max) { simd_max = max; }

tl_simd tl_simd_active(void)
{
#ifdef TL_HAVE_AVX2
    if (simd_max < TL_SIMD_AVX2 || !__builtin_cpu_supports("avx2") ||
        !__builtin_cpu_supports("fma"))
        return TL_SIMD_NONE;
    if (simd_max >= TL_SIMD_AVX512 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl"))
        return TL_SIMD_AVX512;
    return TL_SIMD_AVX2;
#endif
    return TL_SIMD_NONE;
}

/* Portable versions: one element at a time. The gate loops read all of
 * element j before writing, so dA may be the gates and dc_prev may be dc. */

static void sigmoid_scalar(int n, const tl_real *x, tl_real *y)
{
    for (int j = 0; j < n; j++)
        y[j] = tl_sigmoid(x[j]);
}

static void tanh_scalar(int n, const tl_real *x, tl_real *y)
{
    for (int j = 0; j < n; j++)
        y[j] = tl_tanh(x[j]);
}

/* The sum in double, one element at a time. */
static double exp_sum_scalar(int n, const tl_real *x, tl_real shift, tl_real *y)
{
    double sum = 0;
    for (int j = 0; j < n; j++) {
#ifdef TL_REAL_DOUBLE
        y[j] = exp(x[j] - shift);
#else
        y[j] = expf(x[j] - shift);
#endif
        sum += y[j];
    }
    return sum;
}

static tl_real add_max_scalar(int n, const tl_real *x, const tl_real *b, tl_real *s, tl_real *lo)
{
    tl_real hi = b ? x[0] + b[0] : x[0], low = hi;
    for (int j = 0; j < n; j++) {
        tl_real v = b ? (s[j] = x[j] + b[j]) : x[j];
        hi = v > hi ? v : hi;
        low = v < low ? v : low;
    }
    *lo = low;
    return hi;
}

static void scale_acc_scalar(int n, tl_real c, tl_real *d, tl_real *acc, bool first)
{
    for (int j = 0; j < n; j++) {
        d[j] *= c;
        if (acc)
            acc[j] = first ? d[j] : acc[j] + d[j];
    }
}

static void lstm_fwd_scalar(int n, int H, tl_real *a, const tl_real *c_prev, tl_real *c_next,
                            tl_real *h_next)
{
    tl_real *f = a, *g = a + H, *i = g + H, *o = i + H;
    for (int j = 0; j < n; j++) {
        f[j] = tl_sigmoid(f[j]);
        g[j] = tl_tanh(g[j]);
        i[j] = tl_sigmoid(i[j]);
        o[j] = tl_sigmoid(o[j]);
        tl_real c = (c_prev ? f[j] * c_prev[j] : 0) + g[j] * i[j];
        c_next[j] = c;
        h_next[j] = o[j] * tl_tanh(c);
    }
}

static void lstm_bwd_scalar(int n, int H, const tl_real *gates, const tl_real *c_prev,
                            const tl_real *c_next, const tl_real *dh, const tl_real *dc,
                            tl_real *dA, tl_real *dc_prev)
{
    const tl_real *f = gates, *g = f + H, *i = g + H, *o = i + H;
    tl_real *df = dA, *dg = df + H, *di = dg + H, *dout = di + H;
    for (int j = 0; j < n; j++) {
        tl_real fj = f[j], gj = g[j], ij = i[j], oj = o[j], tc = tl_tanh(c_next[j]);
        tl_real ds = dc[j] + dh[j] * oj * (1 - tc * tc);
        df[j] = c_prev ? ds * c_prev[j] * fj * (1 - fj) : 0;
        dg[j] = ds * ij * (1 - gj * gj);
        di[j] = ds * gj * ij * (1 - ij);
        dout[j] = dh[j] * tc * oj * (1 - oj);
        if (dc_prev)
            dc_prev[j] = ds * fj;
    }
}

static void gru_fwd_scalar(int n, int H, tl_real *a, const tl_real *hh, const tl_real *h_prev,
                           tl_real *h_next)
{
    tl_real *r = a, *z = r + H, *nn = z + H, *hn = nn + H;
    for (int j = 0; j < n; j++) {
        tl_real rj = tl_sigmoid(r[j] + hh[j]), zj = tl_sigmoid(z[j] + hh[H + j]);
        tl_real hnj = hh[2 * H + j], nj = tl_tanh(nn[j] + rj * hnj);
        tl_real h = h_prev ? h_prev[j] : 0;
        r[j] = rj;
        z[j] = zj;
        nn[j] = nj;
        hn[j] = hnj;
        h_next[j] = nj + zj * (h - nj);
    }
}

static void gru_bwd_scalar(int n, int H, const tl_real *gates, const tl_real *h_prev,
                           const tl_real *dh, tl_real *dAh, tl_real *dAx, tl_real *dh_prev)
{
    const tl_real *r = gates, *z = r + H, *nn = z + H, *hn = nn + H;
    for (int j = 0; j < n; j++) {
        tl_real rj = r[j], zj = z[j], nj = nn[j], d = dh[j], h = h_prev ? h_prev[j] : 0;
        tl_real dn = d * (1 - zj) * (1 - nj * nj);
        tl_real dr = dn * hn[j] * rj * (1 - rj), dz = d * (h - nj) * zj * (1 - zj);
        dAh[j] = dAx[j] = dr;
        dAh[H + j] = dAx[H + j] = dz;
        dAh[2 * H + j] = dn * rj;
        dAx[2 * H + j] = dn;
        if (dh_prev)
            dh_prev[j] = d * zj;
    }
}

#ifdef TL_HAVE_AVX2
#define AVX2 __attribute__((target("avx2,fma")))
/* Inlined even where GCC would not, so that a constant "full" folds away. */
#define AVX2_INLINE static inline __attribute__((always_inline)) AVX2

/* 1.5·2^23: adding it to a float of magnitude below 2^22 rounds that to
 * the nearest integer (ties to even) and leaves the integer + 2^22 in the
 * low mantissa bits; the exponentials below use it to find n. */
#define EXP_SHIFTER 12582912.0f

/* e^r for xc = n·ln2 + r (see the top of the file), xc >= −104 or NaN;
 * *t = n + EXP_SHIFTER (its bits: n + 2^22 in the low mantissa). */
static inline AVX2 __m256 exp_poly8(__m256 xc, __m256 *t)
{
    const __m256 magic = _mm256_set1_ps(EXP_SHIFTER);
    *t = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504f)), magic);
    __m256 n = _mm256_sub_ps(*t, magic);
    /* ln2 in two parts: n·ln2_hi is exact for |n| < 2^9. */
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
    __m256 q = _mm256_set1_ps(0.00137514079f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.00836891634f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.0416695331f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.166665185f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.499999886f));
    return _mm256_fmadd_ps(_mm256_mul_ps(r, r), q, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
}

/* exp(x) when every lane is >= −86.5 (n >= −125): e^x is normal, and adding
 * n to the exponent field of p = e^r is the exact product p·2^n;
 * (n + 2^22)·2^23 wraps to n·2^23. x needs no clamp then. */
static inline AVX2 __m256 exp_normal8(__m256 x)
{
    __m256 t, p = exp_poly8(x, &t);
    return _mm256_castsi256_ps(
        _mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(_mm256_castps_si256(t), 23)));
}

/* The lanes of x for which exp_normal8 does not hold (below −86.5 or NaN). */
static inline AVX2 __m256 exp_not_normal8(__m256 x)
{
    return _mm256_cmp_ps(x, _mm256_set1_ps(-86.5f), _CMP_NGE_UQ);
}

/* exp(x) for x <= 0 (see the top of the file): exp_normal8 where every lane
 * allows it, else (small, −inf or NaN lanes) the two-factor form. */
static inline AVX2 __m256 exp_neg8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-104.0f);
    if (!_mm256_movemask_ps(exp_not_normal8(x)))
        return exp_normal8(x);
    __m256 t, p = exp_poly8(_mm256_max_ps(lo, x), &t);   /* NaN stays NaN */
    __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t),
                                  _mm256_castps_si256(_mm256_set1_ps(EXP_SHIFTER)));
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 e = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), e);
}

static inline AVX2 __m256 abs8(__m256 x)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

static inline AVX2 __m256 negabs8(__m256 x)
{
    return _mm256_or_ps(_mm256_set1_ps(-0.0f), x);
}

static inline AVX2 __m256 sigmoid8(__m256 x)
{
    __m256 e = exp_neg8(negabs8(x));
    __m256 pos = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    /* e/(1+e) = e·(1/(1+e)) */
    return _mm256_blendv_ps(pos, _mm256_mul_ps(e, pos), x);
}

static inline AVX2 __m256 tanh8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 ax = abs8(x);
    __m256 e = exp_neg8(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    __m256 big = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    __m256 z = _mm256_mul_ps(ax, ax);
    __m256 p = _mm256_set1_ps(-0.00571897886f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.0206531408f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-0.0537446636f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(0.133315127f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-0.333332852f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(z, ax), p, ax);
    __m256 t = _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    return _mm256_or_ps(t, _mm256_and_ps(x, _mm256_set1_ps(-0.0f)));
}

/* Lanes [0, rem) of a tail of rem < 8 elements. */
static inline AVX2 __m256i tail_mask(int rem)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rem),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Eight lanes at p: a plain load or store for a full block, masked for a
 * tail. AMD cores run masked stores (vmaskmovps) as slow microcode, about ten
 * times the cost of a plain store, so full blocks must not use them. */
AVX2_INLINE __m256 ld8(const float *p, __m256i m, bool full)
{
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}

AVX2_INLINE void st8(float *p, __m256i m, __m256 v, bool full)
{
    if (full)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, m, v);
}

/* Apply op to x[0..n) eight at a time; the tail through a mask. */
#define MAP8(op, n, x, y)                                                  \
    do {                                                                   \
        int j_ = 0;                                                        \
        for (; j_ + 8 <= (n); j_ += 8)                                     \
            _mm256_storeu_ps((y) + j_, op(_mm256_loadu_ps((x) + j_)));     \
        if (j_ < (n)) {                                                    \
            __m256i m_ = tail_mask((n) - j_);                              \
            _mm256_maskstore_ps((y) + j_, m_, op(_mm256_maskload_ps((x) + j_, m_))); \
        }                                                                  \
    } while (0)

static AVX2 void sigmoid_avx2(int n, const float *x, float *y) { MAP8(sigmoid8, n, x, y); }

/* Sixteen float lanes (two vectors, so that consecutive additions do not wait
 * on each other) summed over blocks of EXP_BLOCK elements, each block's
 * total added in double: every lane adds at most 32 values <= 1. The main
 * loop takes four vectors at a time, one test deciding for all four whether
 * they are normal, so that four independent polynomials are in flight: a
 * row of 4,096 in the L1 cache took 9.1 cycles per 16 elements one vector
 * at a time on AVX-512 (Zen 5), 6.2 four at a time. next, when not NULL, is
 * fetched a cache line per 64 bytes of y (see tl_vexp_sum_ahead). */
enum { EXP_BLOCK = 512 };

static AVX2 double exp_sum_avx2(int n, const float *x, float shift, float *y, const float *next)
{
    const __m256 s = _mm256_set1_ps(shift);
    double sum = 0;
    for (int j0 = 0; j0 < n; j0 += EXP_BLOCK) {
        int end = n - j0 < EXP_BLOCK ? n : j0 + EXP_BLOCK, j = j0;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (; j + 32 <= end; j += 32) {
            if (next) {
                _mm_prefetch((const char *)(next + j), _MM_HINT_T0);
                _mm_prefetch((const char *)(next + j + 16), _MM_HINT_T0);
            }
            __m256 v[4], e[4], odd = _mm256_setzero_ps();
            for (int u = 0; u < 4; u++) {
                v[u] = _mm256_sub_ps(_mm256_loadu_ps(x + j + 8 * u), s);
                odd = _mm256_or_ps(odd, exp_not_normal8(v[u]));
            }
            if (_mm256_movemask_ps(odd))
                for (int u = 0; u < 4; u++)
                    e[u] = exp_neg8(v[u]);
            else
                for (int u = 0; u < 4; u++)
                    e[u] = exp_normal8(v[u]);
            for (int u = 0; u < 4; u++)
                _mm256_storeu_ps(y + j + 8 * u, e[u]);
            a0 = _mm256_add_ps(_mm256_add_ps(a0, e[0]), e[2]);
            a1 = _mm256_add_ps(_mm256_add_ps(a1, e[1]), e[3]);
        }
        if (j + 16 <= end) {
            if (next)
                _mm_prefetch((const char *)(next + j), _MM_HINT_T0);
            __m256 e0 = exp_neg8(_mm256_sub_ps(_mm256_loadu_ps(x + j), s));
            __m256 e1 = exp_neg8(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), s));
            _mm256_storeu_ps(y + j, e0);
            _mm256_storeu_ps(y + j + 8, e1);
            a0 = _mm256_add_ps(a0, e0);
            a1 = _mm256_add_ps(a1, e1);
            j += 16;
        }
        for (; j < end; j += 8) {
            __m256i m = tail_mask(end - j);   /* all ones unless fewer than 8 remain */
            __m256 e = exp_neg8(_mm256_sub_ps(_mm256_maskload_ps(x + j, m), s));
            _mm256_maskstore_ps(y + j, m, e);
            a0 = _mm256_add_ps(a0, _mm256_and_ps(e, _mm256_castsi256_ps(m)));
        }
        float lane[8];
        _mm256_storeu_ps(lane, _mm256_add_ps(a0, a1));
        for (int k = 0; k < 8; k++)
            sum += lane[k];
    }
    return sum;
}
static AVX2 void tanh_avx2(int n, const float *x, float *y) { MAP8(tanh8, n, x, y); }

/* The end of add_max at either width: the elements [j, n) the vector loop
 * left, then the lanes' maxima hl and minima ll. */
static float add_max_finish(int j, int n, const float *x, const float *b, float *s,
                            const float *hl, const float *ll, int lanes, float *lo)
{
    float hi = hl[0], low = ll[0];
    for (; j < n; j++) {
        float v = b ? (s[j] = x[j] + b[j]) : x[j];
        hi = v > hi ? v : hi;
        low = v < low ? v : low;
    }
    for (int k = 0; k < lanes; k++) {
        hi = hl[k] > hi ? hl[k] : hi;
        low = ll[k] < low ? ll[k] : low;
    }
    *lo = low;
    return hi;
}

/* The softmax row's first and last passes at one vector width: V the vector
 * type, W its lanes, P the intrinsics' prefix (_mm256, _mm512). The AVX2
 * and AVX-512 versions are these loops at 8 and 16 lanes; a tail of fewer
 * than W takes the scalar loop (no masked stores). In add_max a NaN v
 * leaves h (max's second operand). */
#define DEFINE_ROW_PASSES(ISA, TARGET, V, W, P)                                           \
    static TARGET float add_max_##ISA(int n, const float *x, const float *b, float *s,     \
                                      float *lo)                                           \
    {                                                                                      \
        V h = P##_set1_ps(b ? x[0] + b[0] : x[0]), l = h;                                  \
        int j = 0;                                                                         \
        for (; j + W <= n; j += W) {                                                       \
            V v = P##_loadu_ps(x + j);                                                     \
            if (b) {                                                                       \
                v = P##_add_ps(v, P##_loadu_ps(b + j));                                    \
                P##_storeu_ps(s + j, v);                                                   \
            }                                                                              \
            h = P##_max_ps(v, h);                                                          \
            l = P##_min_ps(v, l);                                                          \
        }                                                                                  \
        float hl[W], ll[W];                                                                \
        P##_storeu_ps(hl, h);                                                              \
        P##_storeu_ps(ll, l);                                                              \
        return add_max_finish(j, n, x, b, s, hl, ll, W, lo);                               \
    }                                                                                      \
                                                                                           \
    static TARGET void scale_acc_##ISA(int n, float c, float *d, float *acc, bool first)   \
    {                                                                                      \
        const V vc = P##_set1_ps(c);                                                       \
        int j = 0;                                                                         \
        for (; j + W <= n; j += W) {                                                       \
            V v = P##_mul_ps(P##_loadu_ps(d + j), vc);                                     \
            P##_storeu_ps(d + j, v);                                                       \
            if (acc)                                                                       \
                P##_storeu_ps(acc + j, first ? v : P##_add_ps(P##_loadu_ps(acc + j), v));  \
        }                                                                                  \
        scale_acc_scalar(n - j, c, d + j, acc ? acc + j : NULL, first);                    \
    }

DEFINE_ROW_PASSES(avx2, AVX2, __m256, 8, _mm256)

/* ---- AVX-512: the softmax row's passes, sixteen lanes at a time ---- */

#define AVX512 __attribute__((target("avx512f,avx512vl,fma")))

/* exp_poly8, exp_normal8 and exp_neg8 on sixteen lanes, operation for
 * operation: the same bits. The exponent-field form is taken when all
 * sixteen lanes allow it; a lane that allows it gets the same value from
 * either form (both are the exact p·2^n). */
static inline AVX512 __m512 exp_poly16(__m512 xc, __m512 *t)
{
    const __m512 magic = _mm512_set1_ps(EXP_SHIFTER);
    *t = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504f)), magic);
    __m512 n = _mm512_sub_ps(*t, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);
    __m512 q = _mm512_set1_ps(0.00137514079f);
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.00836891634f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.0416695331f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.166665185f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.499999886f));
    return _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
}

static inline AVX512 __m512 exp_normal16(__m512 x)
{
    __m512 t, p = exp_poly16(x, &t);
    return _mm512_castsi512_ps(
        _mm512_add_epi32(_mm512_castps_si512(p), _mm512_slli_epi32(_mm512_castps_si512(t), 23)));
}

static inline AVX512 __mmask16 exp_not_normal16(__m512 x)
{
    return _mm512_cmp_ps_mask(x, _mm512_set1_ps(-86.5f), _CMP_NGE_UQ);
}

static inline AVX512 __m512 exp_neg16(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-104.0f);
    if (!exp_not_normal16(x))
        return exp_normal16(x);
    __m512 t, p = exp_poly16(_mm512_max_ps(lo, x), &t);
    __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(t),
                                  _mm512_castps_si512(_mm512_set1_ps(EXP_SHIFTER)));
    __m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    __m512 e = _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ), e);
}

/* exp_sum_avx2's sums exactly: a block's lanes 0-7 are its a0, lanes 8-15
 * its a1, and the tail of a block (fewer than 16) goes eight at a time into
 * a0 as there. Four vectors a step in the main loop, as there. */
static AVX512 double exp_sum_avx512(int n, const float *x, float shift, float *y,
                                    const float *next)
{
    const __m512 s = _mm512_set1_ps(shift);
    double sum = 0;
    for (int j0 = 0; j0 < n; j0 += EXP_BLOCK) {
        int end = n - j0 < EXP_BLOCK ? n : j0 + EXP_BLOCK, j = j0;
        __m512 a = _mm512_setzero_ps();
        for (; j + 64 <= end; j += 64) {
            __m512 v[4], e[4];
            __mmask16 odd = 0;
            for (int u = 0; u < 4; u++) {
                if (next)
                    _mm_prefetch((const char *)(next + j + 16 * u), _MM_HINT_T0);
                v[u] = _mm512_sub_ps(_mm512_loadu_ps(x + j + 16 * u), s);
                odd |= exp_not_normal16(v[u]);
            }
            if (odd)
                for (int u = 0; u < 4; u++)
                    e[u] = exp_neg16(v[u]);
            else
                for (int u = 0; u < 4; u++)
                    e[u] = exp_normal16(v[u]);
            for (int u = 0; u < 4; u++) {
                _mm512_storeu_ps(y + j + 16 * u, e[u]);
                a = _mm512_add_ps(a, e[u]);
            }
        }
        for (; j + 16 <= end; j += 16) {
            if (next)
                _mm_prefetch((const char *)(next + j), _MM_HINT_T0);
            __m512 e = exp_neg16(_mm512_sub_ps(_mm512_loadu_ps(x + j), s));
            _mm512_storeu_ps(y + j, e);
            a = _mm512_add_ps(a, e);
        }
        __m256 a0 = _mm512_castps512_ps256(a);
        __m256 a1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
        for (; j < end; j += 8) {
            __m256i m = tail_mask(end - j);
            __m256 e = exp_neg8(_mm256_sub_ps(_mm256_maskload_ps(x + j, m), _mm256_set1_ps(shift)));
            _mm256_maskstore_ps(y + j, m, e);
            a0 = _mm256_add_ps(a0, _mm256_and_ps(e, _mm256_castsi256_ps(m)));
        }
        float lane[8];
        _mm256_storeu_ps(lane, _mm256_add_ps(a0, a1));
        for (int k = 0; k < 8; k++)
            sum += lane[k];
    }
    return sum;
}

DEFINE_ROW_PASSES(avx512, AVX512, __m512, 16, _mm512)

/* Eight units of the forward gate loop at offset j: a full block, or the
 * lanes of mask m. */
AVX2_INLINE void lstm_fwd8(int j, __m256i m, bool full, int H, float *a, const float *c_prev,
                           float *c_next, float *h_next)
{
    float *pf = a + j, *pg = pf + H, *pi = pg + H, *po = pi + H;
    __m256 f = sigmoid8(ld8(pf, m, full));
    __m256 g = tanh8(ld8(pg, m, full));
    __m256 i = sigmoid8(ld8(pi, m, full));
    __m256 o = sigmoid8(ld8(po, m, full));
    __m256 c = _mm256_mul_ps(g, i);
    if (c_prev)
        c = _mm256_fmadd_ps(f, ld8(c_prev + j, m, full), c);
    st8(pf, m, f, full);
    st8(pg, m, g, full);
    st8(pi, m, i, full);
    st8(po, m, o, full);
    st8(c_next + j, m, c, full);
    st8(h_next + j, m, _mm256_mul_ps(o, tanh8(c)), full);
}

static AVX2 void lstm_fwd_avx2(int n, int H, float *a, const float *c_prev, float *c_next,
                               float *h_next)
{
    const __m256i all = _mm256_set1_epi32(-1);
    int j = 0;
    for (; j + 8 <= n; j += 8)
        lstm_fwd8(j, all, true, H, a, c_prev, c_next, h_next);
    if (j < n)
        lstm_fwd8(j, tail_mask(n - j), false, H, a, c_prev, c_next, h_next);
}

AVX2_INLINE void lstm_bwd8(int j, __m256i m, bool full, int H, const float *gates,
                           const float *c_prev, const float *c_next, const float *dh,
                           const float *dc, float *dA, float *dc_prev)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const float *pf = gates + j;
    __m256 f = ld8(pf, m, full), g = ld8(pf + H, m, full);
    __m256 i = ld8(pf + 2 * H, m, full), o = ld8(pf + 3 * H, m, full);
    __m256 tc = tanh8(ld8(c_next + j, m, full));
    __m256 vdh = ld8(dh + j, m, full);
    /* ds = dc + dh·o·(1 − tc²) */
    __m256 ds = _mm256_fmadd_ps(_mm256_mul_ps(vdh, o), _mm256_fnmadd_ps(tc, tc, one),
                                ld8(dc + j, m, full));
    __m256 df = _mm256_setzero_ps();
    if (c_prev)
        df = _mm256_mul_ps(_mm256_mul_ps(ds, ld8(c_prev + j, m, full)),
                           _mm256_mul_ps(f, _mm256_sub_ps(one, f)));
    __m256 dg = _mm256_mul_ps(_mm256_mul_ps(ds, i), _mm256_fnmadd_ps(g, g, one));
    __m256 di = _mm256_mul_ps(_mm256_mul_ps(ds, g), _mm256_mul_ps(i, _mm256_sub_ps(one, i)));
    __m256 dout = _mm256_mul_ps(_mm256_mul_ps(vdh, tc), _mm256_mul_ps(o, _mm256_sub_ps(one, o)));
    float *q = dA + j;
    st8(q, m, df, full);
    st8(q + H, m, dg, full);
    st8(q + 2 * H, m, di, full);
    st8(q + 3 * H, m, dout, full);
    if (dc_prev)
        st8(dc_prev + j, m, _mm256_mul_ps(ds, f), full);
}

static AVX2 void lstm_bwd_avx2(int n, int H, const float *gates, const float *c_prev,
                               const float *c_next, const float *dh, const float *dc, float *dA,
                               float *dc_prev)
{
    const __m256i all = _mm256_set1_epi32(-1);
    int j = 0;
    for (; j + 8 <= n; j += 8)
        lstm_bwd8(j, all, true, H, gates, c_prev, c_next, dh, dc, dA, dc_prev);
    if (j < n)
        lstm_bwd8(j, tail_mask(n - j), false, H, gates, c_prev, c_next, dh, dc, dA, dc_prev);
}
/* Eight units of the GRU gate loops at offset j: a full block, or the lanes
 * of mask m. */
AVX2_INLINE void gru_fwd8(int j, __m256i m, bool full, int H, float *a, const float *hh,
                          const float *h_prev, float *h_next)
{
    float *pr = a + j, *pz = pr + H, *pn = pz + H;
    const float *q = hh + j;
    __m256 r = sigmoid8(_mm256_add_ps(ld8(pr, m, full), ld8(q, m, full)));
    __m256 z = sigmoid8(_mm256_add_ps(ld8(pz, m, full), ld8(q + H, m, full)));
    __m256 hn = ld8(q + 2 * H, m, full);
    __m256 nn = tanh8(_mm256_fmadd_ps(r, hn, ld8(pn, m, full)));
    __m256 h = h_prev ? ld8(h_prev + j, m, full) : _mm256_setzero_ps();
    st8(pr, m, r, full);
    st8(pz, m, z, full);
    st8(pn, m, nn, full);
    st8(pn + H, m, hn, full);
    st8(h_next + j, m, _mm256_fmadd_ps(z, _mm256_sub_ps(h, nn), nn), full);
}

static AVX2 void gru_fwd_avx2(int n, int H, float *a, const float *hh, const float *h_prev,
                              float *h_next)
{
    const __m256i all = _mm256_set1_epi32(-1);
    int j = 0;
    for (; j + 8 <= n; j += 8)
        gru_fwd8(j, all, true, H, a, hh, h_prev, h_next);
    if (j < n)
        gru_fwd8(j, tail_mask(n - j), false, H, a, hh, h_prev, h_next);
}

AVX2_INLINE void gru_bwd8(int j, __m256i m, bool full, int H, const float *gates,
                          const float *h_prev, const float *dh, float *dAh, float *dAx,
                          float *dh_prev)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const float *p = gates + j;
    __m256 r = ld8(p, m, full), z = ld8(p + H, m, full);
    __m256 nn = ld8(p + 2 * H, m, full), hn = ld8(p + 3 * H, m, full);
    __m256 d = ld8(dh + j, m, full);
    __m256 h = h_prev ? ld8(h_prev + j, m, full) : _mm256_setzero_ps();
    /* dñ = dh·(1 − z)·(1 − n²) */
    __m256 dn = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_sub_ps(one, z)),
                              _mm256_fnmadd_ps(nn, nn, one));
    __m256 dr = _mm256_mul_ps(_mm256_mul_ps(dn, hn), _mm256_mul_ps(r, _mm256_sub_ps(one, r)));
    __m256 dz = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_sub_ps(h, nn)),
                              _mm256_mul_ps(z, _mm256_sub_ps(one, z)));
    st8(dAh + j, m, dr, full);
    st8(dAh + H + j, m, dz, full);
    st8(dAh + 2 * H + j, m, _mm256_mul_ps(dn, r), full);
    st8(dAx + j, m, dr, full);
    st8(dAx + H + j, m, dz, full);
    st8(dAx + 2 * H + j, m, dn, full);
    if (dh_prev)
        st8(dh_prev + j, m, _mm256_mul_ps(d, z), full);
}

static AVX2 void gru_bwd_avx2(int n, int H, const float *gates, const float *h_prev,
                              const float *dh, float *dAh, float *dAx, float *dh_prev)
{
    const __m256i all = _mm256_set1_epi32(-1);
    int j = 0;
    for (; j + 8 <= n; j += 8)
        gru_bwd8(j, all, true, H, gates, h_prev, dh, dAh, dAx, dh_prev);
    if (j < n)
        gru_bwd8(j, tail_mask(n - j), false, H, gates, h_prev, dh, dAh, dAx, dh_prev);
}
#endif

void tl_vsigmoid(int n, const tl_real *x, tl_real *y)
{
#ifdef TL_HAVE_AVX2
    if (tl_simd_active() >= TL_SIMD_AVX2) {
        sigmoid_avx2(n, x, y);
        return;
    }
#endif
    sigmoid_scalar(n, x, y);
}

double tl_vexp_sum_ahead(int n, const tl_real *x, tl_real shift, tl_real *y,
                         const tl_real *next)
{
#ifdef TL_HAVE_AVX2
    switch (tl_simd_active()) {
    case TL_SIMD_AVX512: return exp_sum_avx512(n, x, shift, y, next);
    case TL_SIMD_AVX2: return exp_sum_avx2(n, x, shift, y, next);
    default: break;
    }
#endif
    (void)next;
    return exp_sum_scalar(n, x, shift, y);
}

double tl_vexp_sum(int n, const tl_real *x, tl_real shift, tl_real *y)
{
    return tl_vexp_sum_ahead(n, x, shift, y, NULL);
}

tl_real tl_vadd_max(int n, const tl_real *x, const tl_real *b, tl_real *s, tl_real *lo)
{
#ifdef TL_HAVE_AVX2
    switch (tl_simd_active()) {
    case TL_SIMD_AVX512: return add_max_avx512(n, x, b, s, lo);
    case TL_SIMD_AVX2: return add_max_avx2(n, x, b, s, lo);
    default: break;
    }
#endif
    return add_max_scalar(n, x, b, s, lo);
}

void tl_vscale_acc(int n, tl_real c, tl_real *d, tl_real *acc, bool first)
{
#ifdef TL_HAVE_AVX2
    switch (tl_simd_active()) {
    case TL_SIMD_AVX512: scale_acc_avx512(n, c, d, acc, first); return;
    case TL_SIMD_AVX2: scale_acc_avx2(n, c, d, acc, first); return;
    default: break;
    }
#endif
    scale_acc_scalar(n, c, d, acc, first);
}

void tl_vtanh(int n, const tl_real *x, tl_real *y)
{
#ifdef TL_HAVE_AVX2
    if (tl_simd_active() >= TL_SIMD_AVX2) {
        tanh_avx2(n, x, y);
        return;
    }
#endif
    tanh_scalar(n, x, y);
}

void tl_lstm_gates_forward(int n, int H, tl_real *a, const tl_real *c_prev, tl_real *c_next,
                           tl_real *h_next)
{
#ifdef TL_HAVE_AVX2
    if (tl_simd_active() >= TL_SIMD_AVX2) {
        lstm_fwd_avx2(n, H, a, c_prev, c_next, h_next);
        return;
    }
#endif
    lstm_fwd_scalar(n, H, a, c_prev, c_next, h_next);
}

void tl_lstm_gates_backward(int n, int H, const tl_real *gates, const tl_real *c_prev,
                            const tl_real *c_next, const tl_real *dh, const tl_real *dc,
                            tl_real *dA, tl_real *dc_prev)
{
#ifdef TL_HAVE_AVX2
    if (tl_simd_active() >= TL_SIMD_AVX2) {
        lstm_bwd_avx2(n, H, gates, c_prev, c_next, dh, dc, dA, dc_prev);
        return;
    }
#endif
    lstm_bwd_scalar(n, H, gates, c_prev, c_next, dh, dc, dA, dc_prev);
}

void tl_gru_gates_forward(int n, int H, tl_real *a, const tl_real *hh, const tl_real *h_prev,
                          tl_real *h_next)
{
#ifdef TL_HAVE_AVX2
    if (tl_simd_active() >= TL_SIMD_AVX2) {
        gru_fwd_avx2(n, H, a, hh, h_prev, h_next);
        return;
    }
#endif
    gru_fwd_scalar(n, H, a, hh, h_prev, h_next);
}

void tl_gru_gates_backward(int n, int H, const tl_real *gates, const tl_real *h_prev,
                           const tl_real *dh, tl_real *dAh, tl_real *dAx, tl_real *dh_prev)
{
#ifdef TL_HAVE_AVX2
    if (tl_simd_active() >= TL_SIMD_AVX2) {
        gru_bwd_avx2(n, H, gates, h_prev, dh, dAh, dAx, dh_prev);
        return;
    }
#endif
    gru_bwd_scalar(n, H, gates, h_prev, dh, dAh, dAx, dh_prev);
}

void tl_gru_hh_init(int N, int H, const tl_real *bhn, tl_real *hh, int ldhh, int u0, int u1)
{
    size_t w = (size_t)(u1 - u0) * sizeof(tl_real);
    for (int n = 0; n < N; n++) {
        tl_real *row = hh + (size_t)n * ldhh;
        memset(row + u0, 0, w);
        memset(row + H + u0, 0, w);
        memcpy(row + 2 * H + u0, bhn + u0, w);
    }
}
