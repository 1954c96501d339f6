/* Where `timelayers train` finds its default corpus (data/tinyshakespeare.txt),
 * first to last:
 *   1. next to the program, as `meson install` lays it out (bindir/../share/
 *      timelayers, TL_CORPUS_RELATIVE): an installed tree that was moved, or
 *      installed with DESTDIR, still finds it (Linux: /proc/self/exe);
 *   2. the configured <prefix>/<datadir>/timelayers (TL_CORPUS_INSTALLED);
 *   3. the source tree the program was built from (TL_CORPUS_SOURCE), for a
 *      program run from its build directory before it is installed.
 * Meson passes the three. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* <directory of the running program>/TL_CORPUS_RELATIVE, or false. */
static bool beside_program(char *out, size_t cap)
{
#ifdef __linux__
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || !TL_CORPUS_RELATIVE[0])
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    int len = snprintf(out, cap, "%s/%s", exe, TL_CORPUS_RELATIVE);
    return len > 0 && (size_t)len < cap;
#else
    (void)out, (void)cap;
    return false;
#endif
}

const char *cli_default_corpus(void)
{
    static char near[PATH_MAX + 64], real[PATH_MAX];
    if (beside_program(near, sizeof near) && access(near, R_OK) == 0)
        return realpath(near, real) ? real : near;   /* without the "bin/.." */
    static const char *const places[] = {TL_CORPUS_INSTALLED, TL_CORPUS_SOURCE};
    for (size_t i = 0; i < sizeof places / sizeof *places; i++)
        if (access(places[i], R_OK) == 0)
            return places[i];
    fprintf(stderr, "timelayers: no --train given and the default corpus is missing: neither %s "
            "nor %s is readable; reinstall timelayers or pass --train FILE\n", places[0],
            places[1]);
    return NULL;
}
