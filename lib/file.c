/* Opening files for reading without hanging on them. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

/* open(2) of a FIFO for reading blocks until a writer appears, which for a
 * FIFO named by mistake is forever; O_NONBLOCK returns at once, the type is
 * checked on the open descriptor (no race with a rename), and only then does
 * the descriptor go back to blocking reads (a writer-less FIFO reads as
 * empty). */
tl_status tl_fopen_read(const char *path, bool regular_only, FILE **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return tl_fail(TL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    tl_status st = TL_OK;
    if (fstat(fd, &sb) != 0)
        st = tl_fail(TL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        st = tl_fail(TL_ERR_IO, "%s: not a regular file: %s", path, strerror(EISDIR));
    else if (regular_only && !S_ISREG(sb.st_mode))
        st = tl_fail(TL_ERR_IO, "%s: not a regular file (a FIFO, device or socket cannot be "
                     "read as a checkpoint)", path);
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
             !(*out = fdopen(fd, "rb")))
        st = tl_fail(TL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (st)
        close(fd);
    return st;
}
