/* The training curve as an SVG (train --plot): perplexity on a log scale
 * against the step, training and validation, drawn without any library. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

bool cli_series_add(cli_series *s, long x, double y)
{
    if (!isfinite(y))
        return true;   /* an overflowed or missing point is left out */
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        long *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (nx)
            s->x = nx;
        double *ny = nx ? realloc(s->y, (size_t)cap * sizeof *ny) : NULL;
        if (!ny)
            return false;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
    return true;
}

void cli_series_free(cli_series *s)
{
    free(s->x);
    free(s->y);
    *s = (cli_series){0};
}

enum { W = 720, HT = 420, LEFT = 70, RIGHT = 20, TOP = 40, BOTTOM = 50 };

typedef struct {
    double x0, x1, y0, y1;   /* data ranges: step, loss (ln perplexity) */
} frame;

static double px(const frame *f, double x)
{
    return LEFT + (x - f->x0) / (f->x1 - f->x0) * (W - LEFT - RIGHT);
}

static double py(const frame *f, double y)
{
    return HT - BOTTOM - (y - f->y0) / (f->y1 - f->y0) * (HT - TOP - BOTTOM);
}

static void polyline(FILE *o, const frame *f, const cli_series *s, const char *color)
{
    if (!s->n)
        return;
    fprintf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (int i = 0; i < s->n; i++)
        fprintf(o, "%.1f,%.1f ", px(f, (double)s->x[i]), py(f, s->y[i]));
    fprintf(o, "\"/>\n");
    for (int i = 0; s->n < 200 && i < s->n; i++)
        fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                px(f, (double)s->x[i]), py(f, s->y[i]), color);
}

/* Ticks: steps at a round spacing; perplexities 1, 2, 5 x 10^k. */
static void axes(FILE *o, const frame *f)
{
    fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#444\"/>\n", LEFT, TOP, W - LEFT - RIGHT, HT - TOP - BOTTOM);
    double span = f->x1 - f->x0, step = pow(10, floor(log10(span / 5)));
    if (span / step > 10)
        step *= span / step > 25 ? 5 : 2;
    for (double x = ceil(f->x0 / step) * step; x <= f->x1; x += step)
        fprintf(o, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n",
                px(f, x), TOP, px(f, x), HT - BOTTOM, px(f, x), HT - BOTTOM + 18, x);
    for (double dec = pow(10, floor(f->y0 / log(10))); log(dec) <= f->y1; dec *= 10)
        for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) {
            double y = log(dec * m);
            if (y < f->y0 || y > f->y1)
                continue;
            fprintf(o, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                       "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                    LEFT, py(f, y), W - RIGHT, py(f, y), LEFT - 6, py(f, y) + 4, dec * m);
        }
    fprintf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n"
               "<text transform=\"translate(16,%d) rotate(-90)\" text-anchor=\"middle\">"
               "perplexity (log scale)</text>\n", (W + LEFT) / 2, HT - 10, (HT + TOP) / 2);
}

/* The frame around every point, padded so no curve touches the border. */
static frame frame_of(const cli_series *a, const cli_series *b)
{
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (const cli_series *s = a; s; s = s == a ? b : NULL)
        for (int i = 0; i < s->n; i++) {
            f.x0 = fmin(f.x0, (double)s->x[i]);
            f.x1 = fmax(f.x1, (double)s->x[i]);
            f.y0 = fmin(f.y0, s->y[i]);
            f.y1 = fmax(f.y1, s->y[i]);
        }
    if (!(f.x1 > f.x0))
        f.x0 -= 1, f.x1 += 1;
    double pad = f.y1 > f.y0 ? 0.05 * (f.y1 - f.y0) : 0.1;
    f.y0 = fmax(0, f.y0 - pad);
    f.y1 += pad;
    return f;
}

bool cli_plot_svg(const char *path, const char *title, const cli_series *train,
                  const cli_series *valid)
{
    if (!train->n && !valid->n)
        return true;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *o = fopen(tmp, "w");
    if (!o) {
        perror(tmp);
        return false;
    }
    frame f = frame_of(train, valid);
    fprintf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
               "height=\"100%%\" fill=\"white\"/>\n", W, HT);
    fprintf(o, "<text x=\"%d\" y=\"22\" font-size=\"14\">", LEFT);
    for (const char *c = title; *c; c++)   /* the title is a file name: escape it */
        fputs(*c == '<' ? "&lt;" : *c == '>' ? "&gt;" : *c == '&' ? "&amp;" : (char[]){*c, 0}, o);
    fprintf(o, "</text>\n");
    axes(o, &f);
    polyline(o, &f, train, "#1f77b4");
    polyline(o, &f, valid, "#ff7f0e");
    fprintf(o, "<text x=\"%d\" y=\"%d\" fill=\"#1f77b4\" text-anchor=\"end\">training</text>\n"
               "<text x=\"%d\" y=\"%d\" fill=\"#ff7f0e\" text-anchor=\"end\">validation</text>\n"
               "</svg>\n", W - RIGHT - 8, TOP + 16, W - RIGHT - 8, TOP + 32);
    bool ok = !ferror(o);
    ok = fclose(o) == 0 && ok && rename(tmp, path) == 0;
    if (!ok) {
        perror(path);
        remove(tmp);
    }
    return ok;
}
