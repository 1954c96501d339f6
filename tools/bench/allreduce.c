/* timelayers-bench-allreduce: how long the gradient all-reduce of a step takes
 * (docs/distributed.md, the scaling model). Run under mpirun; for each count
 * of float gradients given, sums that many floats in place over all ranks
 * (the trainer's tl_comm_sum_reals) REPEAT times and prints the median time
 * and the algorithm bandwidth, bytes / time.
 * Usage: mpirun -np P timelayers-bench-allreduce COUNT... */
#include <stdio.h>
#include <stdlib.h>
#include "timelayers/mpi.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    enum { REPEAT = 15 };
    MPI_Init(&argc, &argv);
    tl_comm *c;
    if (argc < 2 || tl_mpi_comm_create(&c, MPI_COMM_WORLD)) {
        fprintf(stderr, "usage: mpirun -np P timelayers-bench-allreduce COUNT...\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    for (int a = 1; a < argc; a++) {
        size_t n = strtoull(argv[a], NULL, 10);
        tl_real *g = calloc(n ? n : 1, sizeof *g);
        double t[REPEAT];
        if (!g)
            MPI_Abort(MPI_COMM_WORLD, 1);
        for (int r = -2; r < REPEAT; r++) { /* two warm-up rounds */
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (tl_comm_sum_reals(c, g, n))
                MPI_Abort(MPI_COMM_WORLD, 1);
            if (r >= 0)
                t[r] = MPI_Wtime() - t0;
        }
        qsort(t, REPEAT, sizeof *t, cmp);
        if (tl_comm_is_writer(c))
            printf("%d ranks, %zu floats (%.1f MB): median %.2f ms, %.2f GB/s\n",
                   tl_comm_size(c), n, n * sizeof *g / 1e6, t[REPEAT / 2] * 1e3,
                   n * sizeof *g / t[REPEAT / 2] / 1e9);
        free(g);
    }
    tl_comm_destroy(c);
    MPI_Finalize();
    return 0;
}
