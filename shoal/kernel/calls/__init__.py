"""The system calls, grouped by family, one file each (as Qiling's qiling/os/posix/syscall/):
plain functions `(kernel, thread, args) -> a0`, registered nowhere here; kernel/table.py
numbers them."""
