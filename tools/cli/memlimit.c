/* What the machine allows this process: the address-space limit, its memory
 * cgroup's limit and MemAvailable (cli_memory_limit, cli.h). A file of its
 * own so that the fuzz target argv can replace cli_memory_limit at link time
 * (-Wl,--wrap only redirects calls from other files). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "cli.h"

/* Where /proc and /sys are read: "" normally. TIMELAYERS_TEST_SYSROOT, a
 * test hook, puts a fake tree in their place (tests/reliability_cli.sh builds
 * cgroup v1 and v2 trees and a meminfo there). */
static const char *sysroot(void)
{
    const char *r = getenv("TIMELAYERS_TEST_SYSROOT");
    return r ? r : "";
}

/* At or above this, a cgroup's limit means none: v1 writes "unlimited" as
 * 2^63 rounded down to a page (9223372036854771712). */
#define CGROUP_UNLIMITED 1e18

/* The limit in a cgroup file: a decimal number of bytes and a newline; -1
 * for "max", a huge value, or a file that is missing, unreadable or holds
 * anything else (an estimate must not refuse a run on a value it misread). */
static double read_limit(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[64];
    double v = -1;
    if (f && fgets(buf, sizeof buf, f) && buf[0] >= '0' && buf[0] <= '9') {
        size_t n = strspn(buf, "0123456789");
        if (buf[n] == '\n' && buf[n + 1] == '\0' && fgetc(f) == EOF)
            v = strtod(buf, NULL);
    }
    if (f)
        fclose(f);
    return v > 0 && v < CGROUP_UNLIMITED ? v : -1;
}

/* The smallest limit of cgroup dir and its ancestors up to the mount point
 * mnt (a parent's limit binds its children): dir is mnt + the process's
 * cgroup path. A path missing under mnt (a container that sees its own cgroup
 * as the root) leaves the mount point's file. */
static double cgroup_walk(const char *mnt, const char *cgpath, const char *file)
{
    char dir[4096];
    double best = -1, v;
    if (snprintf(dir, sizeof dir, "%s%s", mnt, cgpath) >= (int)sizeof dir)
        snprintf(dir, sizeof dir, "%s", mnt);
    size_t root = strlen(mnt);
    for (;;) {
        char path[4200];
        size_t n = strlen(dir);
        while (n > root && dir[n - 1] == '/')
            dir[--n] = '\0';
        snprintf(path, sizeof path, "%s/%s", dir, file);
        if ((v = read_limit(path)) > 0 && (best < 0 || v < best))
            best = v;
        char *slash = strrchr(dir + root, '/');
        if (n <= root || !slash)
            break;
        *slash = '\0';
    }
    return best;
}

/* The memory limit of this process's cgroup: /proc/self/cgroup names it
 * ("0::/path" for v2, "N:...memory...:/path" for v1); its memory.max (v2)
 * or memory.limit_in_bytes (v1) and its ancestors' are read under
 * /sys/fs/cgroup (v1: /sys/fs/cgroup/memory). -1 when none applies. */
static double cgroup_limit(const char *root)
{
    char self[4200], mnt[4200], line[4096];
    char v2[4096] = "/", v1[4096] = "/";
    snprintf(self, sizeof self, "%s/proc/self/cgroup", root);
    FILE *f = fopen(self, "r");
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        const char *ctrl = c1 + 1, *path = c2 + 1;
        if (!strcmp(line, "0") && !*ctrl)
            snprintf(v2, sizeof v2, "%s", path);
        for (const char *p = ctrl; (p = strstr(p, "memory")); p += 6)
            if ((p == ctrl || p[-1] == ',') && (p[6] == ',' || !p[6]))
                snprintf(v1, sizeof v1, "%s", path);
    }
    if (f)
        fclose(f);
    snprintf(mnt, sizeof mnt, "%s/sys/fs/cgroup", root);
    double best = cgroup_walk(mnt, v2, "memory.max"), v;
    snprintf(mnt, sizeof mnt, "%s/sys/fs/cgroup/memory", root);
    if ((v = cgroup_walk(mnt, v1, "memory.limit_in_bytes")) > 0 && (best < 0 || v < best))
        best = v;
    return best;
}

static double mem_available(const char *root)
{
    char path[4200], line[128];
    snprintf(path, sizeof path, "%s/proc/meminfo", root);
    FILE *f = fopen(path, "r");
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

double cli_memory_limit(const char **source)
{
    struct rlimit rl;
    double best = -1, v;
    *source = NULL;
    /* The smallest of: the address-space limit (ulimit -v), the cgroup's
     * limit, and the memory the kernel says is available. */
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        best = (double)rl.rlim_cur, *source = "the address-space limit (ulimit -v)";
    if ((v = cgroup_limit(sysroot())) > 0 && (best < 0 || v < best))
        best = v, *source = "the cgroup's memory limit";
    if ((v = mem_available(sysroot())) > 0 && (best < 0 || v < best))
        best = v, *source = "the available memory (MemAvailable)";
    return best;
}
