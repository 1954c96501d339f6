/* Joining and leaving the MPI job (group.h). Without MPI (TL_HAVE_MPI unset)
 * only the refusal to run as several processes is left. */
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"
#include "group.h"
#ifdef TL_HAVE_MPI
#include "timelayers/mpi.h"
#endif

/* Processes in the job, as the launcher tells them (Open MPI, MPICH/Hydra,
 * Slurm's PMI); 1 when not launched by one. */
static int launched_size(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1)
            return atoi(v);
    }
    return 1;
}

#ifdef TL_HAVE_MPI
bool cli_group_join(tl_comm **comm)
{
    *comm = NULL;
    if (launched_size() == 1)
        return true;
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "timelayers: MPI_Init failed\n");
        return false;
    }
    if (tl_mpi_comm_create(comm, MPI_COMM_WORLD)) {
        cli_fail("MPI");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (!tl_comm_is_writer(*comm) && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "timelayers: rank %d: cannot silence stdout\n", tl_comm_rank(*comm));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return true;
}

int cli_group_leave(tl_comm *comm, int rc)
{
    if (!comm)
        return rc;
    if (rc) {
        fprintf(stderr, "timelayers: rank %d of %d failed: ending the job\n", tl_comm_rank(comm),
                tl_comm_size(comm));
        fflush(NULL);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    tl_comm_destroy(comm);
    MPI_Finalize();
    return rc;
}
#else
bool cli_group_join(tl_comm **comm)
{
    *comm = NULL;
    if (launched_size() == 1)
        return true;
    fprintf(stderr, "timelayers: started as one of %d processes, but this timelayers was built "
            "without MPI; install libopenmpi-dev and rebuild (meson setup -Dmpi=enabled)\n",
            launched_size());
    return false;
}

int cli_group_leave(tl_comm *comm, int rc)
{
    (void)comm;
    return rc;
}
#endif
