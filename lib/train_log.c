/* The trainers' CSV logs (train_internal.h): continued, not duplicated, by a
 * resumed run. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "train_internal.h"

static tl_status trim(FILE *f, const char *path, long step)
{
    char line[1024];
    long off = 0;
    while (fgets(line, sizeof line, f)) {
        const char *comma = strchr(line, ',');
        if (line[0] >= '0' && line[0] <= '9' && comma && strtol(comma + 1, NULL, 10) > step)
            break;
        off = ftell(f);
    }
    if (ferror(f) || off < 0 || fflush(f) != 0 || ftruncate(fileno(f), off) != 0 ||
        fseek(f, 0, SEEK_END) != 0)
        return tl_fail(TL_ERR_IO, "%s: cannot continue the log: %s", path, strerror(errno));
    return TL_OK;
}

tl_status tl__log_open(const char *path, long step, const char *header, FILE **log)
{
    FILE *f = step ? fopen(path, "r+") : NULL;
    struct stat sb;
    tl_status st = TL_OK;
    if (f && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode))
        st = trim(f, path, step);    /* not a terminal, a pipe or a device */
    if (!st && !f)
        f = fopen(path, "w");
    if (!st && !f)
        st = tl_fail(TL_ERR_IO, "%s: cannot open the log: %s", path, strerror(errno));
    if (!st && ftell(f) <= 0 && (fputs(header, f) < 0 || fflush(f) != 0))
        st = tl_fail(TL_ERR_IO, "%s: writing the log failed: %s", path, strerror(errno));
    if (st && f)
        fclose(f);
    *log = st ? NULL : f;
    return st;
}
