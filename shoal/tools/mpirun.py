"""Running an MPI job's ranks (Chip.mpirun) as mpiexec does: its status is 0 if every rank
exits with 0, else that of the rank that failed first (a non-zero exit, or a signal: 128 + it).

A failed rank ends the job through the chip itself: the ranks that wait for it (a receive
from it, a collective it no longer joins, MPI_Finalize's barrier) can never be woken, and the
chip ends them as deadlocked (kernel/host.py); a rank that never waits for it runs to its
end. The host does not stop the run at the failure: a host action at a simulated time cuts
the clusters' slices there, which would make a job's figures differ from the same job run
whole."""

from __future__ import annotations

from shoal.api import Chip, Process
from shoal.record import dataclass

DEADLOCK = "killed: deadlock"


@dataclass
class JobEnd:
    """How a job ended: the rank that failed first (None if none did), and the ranks that
    ended deadlocked after it (waiting for it, or for each other)."""

    failed: int | None
    killed: list[int]

    def line(self, ranks: list[Process]) -> str | None:
        """One line for a failed job (None if none failed)."""
        if self.failed is None:
            return None
        p = ranks[self.failed]
        r = p.record
        what = f"exited with status {r.exit_code}" if r.signal is None else r.message
        n = len(self.killed)
        others = f"; {n} other rank{'s' if n > 1 else ''} ended waiting for it" if n else ""
        return f"mpirun: rank {self.failed} (pid {p.pid}, cluster {r.cluster}) {what}: the job ends{others}"

    def status(self, ranks: list[Process]) -> int:
        """mpiexec's exit status: 0, or the failed rank's (128 + signal for a signal)."""
        return 0 if self.failed is None else ranks[self.failed].returncode or 1


def run_job(chip: Chip, ranks: list[Process]) -> JobEnd:
    """Run the chip until every rank has ended (see the module's docstring)."""
    chip.run()
    recs = {r.pid: r for r in chip.processes()}
    order = []
    for i, p in enumerate(ranks):
        r = recs[p.pid]
        if r.signal is not None or r.exit_code:
            deadlocked = r.message.startswith(DEADLOCK)
            order.append((deadlocked, r.end_cycle or 0, i))
    if not order:
        return JobEnd(None, [])
    order.sort()
    first = order[0][2]
    return JobEnd(first, [i for d, _, i in order if d and i != first])
