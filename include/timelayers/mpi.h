/* timelayers over MPI: a communicator (comm.h) whose members are the processes of an
 * MPI communicator. Lives in the separate library timelayers_mpi (Meson dependency
 * tl_mpi_dep, built when MPI is found: -Dmpi=auto|enabled|disabled); the core library
 * does not link MPI.
 *
 *   MPI_Init(&argc, &argv);
 *   tl_comm *c;
 *   tl_mpi_comm_create(&c, MPI_COMM_WORLD);      ranks become members, rank 0 the writer
 *   ... tl_trainer with cfg.comm = c, or a loop of your own (comm.h) ...
 *   tl_comm_destroy(c);
 *   MPI_Finalize();
 *
 * The communicator works on a duplicate of comm with MPI_ERRORS_RETURN, so a transport
 * error (a member gone) comes back as TL_ERR_IO with MPI's message instead of ending
 * the process; the caller should then end the job (MPI_Abort), since the other members
 * may be waiting. Sums of tl_real use MPI_FLOAT (MPI_DOUBLE in the double build).
 */
#ifndef TIMELAYERS_MPI_H
#define TIMELAYERS_MPI_H

#include <mpi.h>
#include "timelayers/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Create a communicator over a duplicate of comm (collective over comm; MPI must be
 * initialised). The caller owns *out (tl_comm_destroy, before MPI_Finalize). */
tl_status tl_mpi_comm_create(tl_comm **out, MPI_Comm comm);

#ifdef __cplusplus
}
#endif
#endif
