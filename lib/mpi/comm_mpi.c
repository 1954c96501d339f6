/* The MPI transport of comm.h: each op is MPI collectives over pieces of at
 * most PIECE elements. */
#include <limits.h>
#include <stdlib.h>
#include "../internal.h"
#include "timelayers/mpi.h"

#ifdef TL_REAL_DOUBLE
#define MPI_TL_REAL MPI_DOUBLE
#else
#define MPI_TL_REAL MPI_FLOAT
#endif

typedef struct {
    tl_comm base;
    MPI_Comm comm;
} mpi_comm;

/* Largest piece of one call, in elements. Besides keeping counts in MPI's int,
 * pieces of 1 Mi elements (4 MB of floats) keep Open MPI 4.1's all-reduce on
 * its fast path: one call on config C's 65.6 MB gradient took 251 ms on 2
 * processes of one machine (0.26 GB/s), 1 Mi-element pieces 10.9 ms (6 GB/s);
 * 256 Ki to 512 Ki measured the same, 4 Mi 13.3 ms (docs/distributed.md). */
enum { PIECE = 1 << 20 };

static tl_status mpi_status(int rc, const char *what, int rank)
{
    if (rc == MPI_SUCCESS)
        return TL_OK;
    char msg[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(rc, msg, &n) != MPI_SUCCESS)
        n = 0;
    msg[n] = '\0';
    return tl_fail(TL_ERR_IO, "MPI %s failed on rank %d: %s (another rank gone?)", what, rank,
                   msg);
}

static tl_status sum_any(tl_comm *c, void *v, size_t n, MPI_Datatype type, size_t elem)
{
    mpi_comm *mc = (mpi_comm *)c;
    for (size_t done = 0; done < n; done += PIECE) {
        int k = (int)(n - done < PIECE ? n - done : PIECE);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)v + done * elem, k, type, MPI_SUM, mc->comm);
        TL_TRY(mpi_status(rc, "all-reduce", c->rank));
    }
    return TL_OK;
}

static tl_status mpi_sum_real(tl_comm *c, tl_real *v, size_t n)
{
    return sum_any(c, v, n, MPI_TL_REAL, sizeof *v);
}

static tl_status mpi_sum_double(tl_comm *c, double *v, size_t n)
{
    return sum_any(c, v, n, MPI_DOUBLE, sizeof *v);
}

static tl_status mpi_broadcast(tl_comm *c, void *buf, size_t bytes, int root)
{
    mpi_comm *mc = (mpi_comm *)c;
    for (size_t done = 0; done < bytes; done += PIECE) {
        int k = (int)(bytes - done < PIECE ? bytes - done : PIECE);
        TL_TRY(mpi_status(MPI_Bcast((char *)buf + done, k, MPI_BYTE, root, mc->comm),
                          "broadcast", c->rank));
    }
    return TL_OK;
}

static tl_status mpi_gather(tl_comm *c, const void *in, size_t bytes, void *out, int root)
{
    mpi_comm *mc = (mpi_comm *)c;
    /* Every member checks the same size, so all refuse together. */
    if (bytes > INT_MAX)
        return tl_fail(TL_ERR_ARG, "MPI gather of %zu bytes per rank: more than MPI's int",
                       bytes);
    int rc = MPI_Gather(in, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, root, mc->comm);
    return mpi_status(rc, "gather", c->rank);
}

static void mpi_destroy(tl_comm *c)
{
    mpi_comm *mc = (mpi_comm *)c;
    MPI_Comm_free(&mc->comm);
    free(mc);
}

static const tl_comm_ops mpi_ops = {
    .name = "mpi",
    .sum_real = mpi_sum_real,
    .sum_double = mpi_sum_double,
    .broadcast = mpi_broadcast,
    .gather = mpi_gather,
    .destroy = mpi_destroy,
};

tl_status tl_mpi_comm_create(tl_comm **out, MPI_Comm comm)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_mpi_comm_create: out is NULL");
    *out = NULL;
    int init = 0;
    MPI_Initialized(&init);
    if (!init)
        return tl_fail(TL_ERR_STATE, "tl_mpi_comm_create: MPI is not initialised (MPI_Init)");
    mpi_comm *mc = calloc(1, sizeof *mc);
    if (!mc)
        return tl_fail(TL_ERR_NOMEM, "tl_mpi_comm_create: out of memory");
    mc->base.ops = &mpi_ops;
    int rc = MPI_Comm_dup(comm, &mc->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_set_errhandler(mc->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(mc->comm, &mc->base.rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(mc->comm, &mc->base.size);
    if (rc != MPI_SUCCESS) {
        tl_status st = mpi_status(rc, "communicator setup", -1);
        free(mc);
        return st;
    }
    *out = &mc->base;
    return TL_OK;
}
