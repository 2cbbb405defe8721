"""Tools around a chip: the trace writer, the GDB stub, the host file system's copy in and out,
the checks on files named on the command line, and the parameter table's generator."""
