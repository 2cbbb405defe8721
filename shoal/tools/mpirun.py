"""Running an MPI job's ranks (Chip.mpirun) as mpiexec does: to the end of every rank, or until
one fails (ends on a signal, or exits with a non-zero status), which ends the job: the other
ranks are killed, and the job's status is the failed rank's.

The chip runs in slices of simulated time (results do not depend on them: nothing of the
host acts at their edges but these kills); a failure is acted on at the end of the slice
in which it happened. A slice in which no instruction ran hands over to one unbounded run,
which ends when everything has ended or the chip finds a deadlock (kernel/host.py)."""

from __future__ import annotations

from dataclasses import dataclass

from shoal.api import Chip, Process

SLICE_US = 1000.0  # simulated time between looks at the ranks


@dataclass
class JobEnd:
    """How a job ended: the rank that failed first (None if none did), and the ranks mpirun
    killed because of it."""

    failed: int | None
    killed: list[int]

    def line(self, ranks: list[Process]) -> str | None:
        """One line for a failed job, as mpiexec's users expect one (None if none failed)."""
        if self.failed is None:
            return None
        p = ranks[self.failed]
        r = p.record
        what = f"exited with status {r.exit_code}" if r.signal is None else r.message
        others = f"; {len(self.killed)} other ranks killed" if self.killed else ""
        return (f"mpirun: rank {self.failed} (pid {p.pid}, cluster {r.cluster}) {what}: the job "
                f"ends{others}")

    def status(self, ranks: list[Process]) -> int:
        """mpiexec's exit status: 0, or the failed rank's (128 + signal for a signal)."""
        return 0 if self.failed is None else ranks[self.failed].returncode or 1


def _failed(r: object) -> bool:
    return not r.alive and (r.signal is not None or bool(r.exit_code))  # type: ignore[attr-defined]


def run_job(chip: Chip, ranks: list[Process], slice_us: float = SLICE_US) -> JobEnd:
    """Run the chip until the job is over (see the module's docstring)."""
    step = max(1, int(slice_us * 1e-6 * chip.spec.freq_hz))
    pids = {p.pid: i for i, p in enumerate(ranks)}
    end = JobEnd(None, [])
    last = -1
    while True:
        recs = {r.pid: r for r in chip.processes() if r.pid in pids}
        if end.failed is None:
            bad = sorted((recs[p].end_cycle or 0, i) for p, i in pids.items() if _failed(recs[p]))
            if bad:
                end.failed = bad[0][1]
        if end.failed is not None:
            for p, i in pids.items():
                if recs[p].alive and recs[p].state == "running":
                    chip.kill(p)
                    end.killed.append(i)
        if not any(r.alive for r in recs.values()):
            return end
        done = chip.instructions
        if done == last and end.failed is None:
            chip.run()  # idle: to the end, or to a deadlock
            continue
        last = done
        chip.run(max_cycles=step)
