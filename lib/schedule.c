/* Learning-rate schedules (see schedule.h). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "timelayers/schedule.h"

tl_status tl_lr_schedule_check(const tl_lr_schedule *s)
{
    if (!s)
        return tl_fail(TL_ERR_ARG, "learning-rate schedule is NULL");
    switch (s->kind) {
    case TL_LR_CONSTANT:
        return TL_OK;
    case TL_LR_PLATEAU:
        if (!(s->factor > 1 && isfinite(s->factor)))
            return tl_fail(TL_ERR_ARG, "plateau schedule: the factor divides the rate and must be "
                           "> 1 (got %g)", s->factor);
        return TL_OK;
    case TL_LR_STEP:
        if (!(s->factor > 0 && s->factor <= 1))
            return tl_fail(TL_ERR_ARG, "step schedule: the factor multiplies the rate and must be "
                           "in (0, 1] (got %g)", s->factor);
        if (s->hold < 0)
            return tl_fail(TL_ERR_ARG, "step schedule: hold must be >= 0 epochs (got %d)", s->hold);
        return TL_OK;
    case TL_LR_COSINE:
        if (!(s->factor >= 0 && s->factor < 1))
            return tl_fail(TL_ERR_ARG, "cosine schedule: the final fraction of the rate must be in "
                           "[0, 1) (got %g)", s->factor);
        if (s->warmup < 0)
            return tl_fail(TL_ERR_ARG, "cosine schedule: warm-up must be >= 0 steps (got %ld)",
                           s->warmup);
        return TL_OK;
    }
    return tl_fail(TL_ERR_ARG, "unknown learning-rate schedule %d", (int)s->kind);
}

double tl_lr_at(const tl_lr_schedule *s, double base, double current, int epoch, long step,
                long total)
{
    switch (s->kind) {
    case TL_LR_STEP:
        return epoch > s->hold ? base * pow(s->factor, epoch - s->hold) : base;
    case TL_LR_COSINE: {
        if (step <= s->warmup)
            return base * (double)step / (double)s->warmup;
        long K = total - s->warmup, k = step - s->warmup - 1;
        if (K <= 0 || k >= K)
            k = K = 1; /* past the end: the final rate */
        double f = s->factor;
        return base * (f + (1 - f) * 0.5 * (1 + cos(M_PI * (double)k / (double)K)));
    }
    default:
        return current;
    }
}

/* Up to two numbers after "name:", separated by ':'; returns how many were
 * read, or -1 when the text has anything else. */
static int numbers_after(const char *p, double v[2])
{
    int n = 0;
    while (*p == ':' && n < 2) {
        char *end;
        v[n] = strtod(p + 1, &end);
        if (end == p + 1 || !isfinite(v[n]))
            return -1;
        n++;
        p = end;
    }
    return *p ? -1 : n;
}

static const char *const kind_names[] = {"constant", "plateau", "step", "cosine"};

tl_status tl_lr_schedule_parse(const char *spec, tl_lr_schedule *out)
{
    if (!spec || !out)
        return tl_fail(TL_ERR_ARG, "tl_lr_schedule_parse: NULL argument");
    int k = 0;
    while (k < 4 && strncmp(spec, kind_names[k], strlen(kind_names[k])) != 0)
        k++;
    double v[2] = {0, 0};
    int n = k < 4 ? numbers_after(spec + strlen(kind_names[k]), v) : -1;
    tl_lr_schedule s = {.kind = (tl_lr_kind)k};
    bool ok = n >= 0;
    switch (k) {
    case TL_LR_CONSTANT: ok = ok && n == 0; break;
    case TL_LR_PLATEAU: ok = ok && n == 1; s.factor = v[0]; break;
    case TL_LR_STEP:
        ok = ok && n == 2 && v[0] >= 0 && v[0] <= INT_MAX && v[0] == floor(v[0]);
        s.hold = ok ? (int)v[0] : 0;
        s.factor = v[1];
        break;
    case TL_LR_COSINE:
        ok = ok && (n == 0 || (v[0] >= 0 && v[0] <= LONG_MAX / 2 && v[0] == floor(v[0])));
        s.warmup = ok && n >= 1 ? (long)v[0] : 0;
        s.factor = n == 2 ? v[1] : 0;
        break;
    default: ok = false;
    }
    if (ok && tl_lr_schedule_check(&s))
        return tl_fail(TL_ERR_ARG, "learning-rate schedule '%s': %s", spec, tl_last_error());
    if (!ok)
        return tl_fail(TL_ERR_ARG, "bad learning-rate schedule '%s' (expected constant, "
                       "plateau:F, step:E:F or cosine[:W[:F]])", spec);
    *out = s;
    return TL_OK;
}

void tl_lr_schedule_describe(const tl_lr_schedule *s, char *buf, size_t n)
{
    if (!buf || !n)
        return;
    char head[40];
    switch (s ? (int)s->kind : -1) {
    case TL_LR_CONSTANT: snprintf(buf, n, "constant"); break;
    case TL_LR_PLATEAU: tl_print_double(buf, n, "plateau:", s->factor); break;
    case TL_LR_STEP:
        snprintf(head, sizeof head, "step:%d:", s->hold);
        tl_print_double(buf, n, head, s->factor);
        break;
    case TL_LR_COSINE:
        snprintf(head, sizeof head, "cosine:%ld:", s->warmup);
        tl_print_double(buf, n, head, s->factor);
        break;
    default: snprintf(buf, n, "unknown");
    }
}
