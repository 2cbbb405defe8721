"""The engine: the one clock's round rule and the backends that keep a chip's nodes on it
(`local`: every node in this process; `mpi`: nodes spread over MPI ranks, and the launcher)."""
