"""Tools around a chip: the trace writer, the GDB stub, the host file system's copy in and out,
and the parameter table's generator."""
