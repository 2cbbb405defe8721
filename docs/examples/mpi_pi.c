/* The tutorial's MPI example (docs/tutorial.md, section 7): each rank integrates its share of
   4/(1+x^2) over [0, 1] with the midpoint rule, MPI_Reduce sums the shares on rank 0.
   Build: shoal cc -O2 mpi_pi.c -o mpi_pi      Run: shoal mpirun -n 4 mpi_pi 1000000 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int rank, size, len;
    char where[MPI_MAX_PROCESSOR_NAME];
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(where, &len);
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    double h = 1.0 / (double)n, part = 0.0, t0 = MPI_Wtime();
    for (long i = rank; i < n; i += size) {
        double x = h * ((double)i + 0.5);
        part += 4.0 / (1.0 + x * x);
    }
    part *= h;
    double pi = 0.0;
    MPI_Reduce(&part, &pi, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    printf("rank %d of %d on %s: %.0f us\n", rank, size, where, (MPI_Wtime() - t0) * 1e6);
    if (rank == 0) printf("pi ~ %.12f\n", pi);
    MPI_Finalize();
    return 0;
}
