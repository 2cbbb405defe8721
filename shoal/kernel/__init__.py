"""The per-cluster microkernel."""
