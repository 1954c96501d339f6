/* The CLI's side of data-parallel training: joining the MPI job that launched
 * it (mpirun -np P timelayers train ...), and leaving it. */
#ifndef TL_CLI_GROUP_H
#define TL_CLI_GROUP_H

#include <stdbool.h>
#include "timelayers/comm.h"

/* When started by an MPI launcher with more than one process: initialise MPI,
 * set *comm to the group (process 0 keeps stdout, the others' goes to
 * /dev/null) and return true. Alone: *comm = NULL, true. False (message
 * printed) when MPI cannot start, or when launched as several processes by a
 * timelayers built without MPI: they would each train alone and write the
 * same files. */
bool cli_group_join(tl_comm **comm);

/* Leave with exit status rc: a failed process of a group ends the whole job
 * (MPI_Abort), since the others would wait for it forever. Returns rc. */
int cli_group_leave(tl_comm *comm, int rc);

#endif
