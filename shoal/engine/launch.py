"""Starting the MPI backend's ranks on this host (`shoal run --ranks N`, engine/mpi.py): the
mpich wheel's mpiexec in a session of its own, rank 0's output, stdin and exit status through
pipes of the launcher's, SIGINT passed on once, and one line when a rank ends abnormally."""

from __future__ import annotations

import os
import time
from typing import Any

from shoal.errors import ShoalError


def mpiexec() -> str:
    """The mpiexec to start ranks with: $SHOAL_MPIEXEC, the one next to this Python (the mpich
    wheel installs it there), or the one on PATH."""
    import shutil
    import sys
    from pathlib import Path

    given = os.environ.get("SHOAL_MPIEXEC")
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise ShoalError(f"--ranks: no mpiexec at {given} (SHOAL_MPIEXEC)")
        return given
    here = Path(sys.executable).parent / "mpiexec"
    if here.is_file():
        return str(here)
    found = shutil.which("mpiexec")
    if found is None:
        raise ShoalError("--ranks needs MPI's mpiexec, which was not found: pip install 'shoal[mpi]' "
                         "(mpi4py and the mpich wheel)")
    return found


def launch(argv: list[str], ranks: int, clusters: int) -> int:
    """Run `shoal ARGV` as `ranks` MPI ranks on this host; rank 0's output and exit code are the
    run's. mpiexec's own messages are kept back: a rank that ends abnormally gives one line."""
    import select
    import signal
    import subprocess
    import sys
    import tempfile

    if not 1 <= ranks <= clusters:
        raise ShoalError(f"--ranks {ranks}: from 1 to the chip's {clusters} compute clusters "
                         "(one rank holds one cluster at least)")
    from shoal.engine.mpi import mpi
    exe = mpiexec()
    mpi()  # refused now, in one line, rather than once per rank
    with tempfile.TemporaryDirectory(prefix="shoal-mpi-") as tmp:
        fifos = [os.path.join(tmp, "out"), os.path.join(tmp, "err")]
        for f in fifos:
            os.mkfifo(f)
        status = os.path.join(tmp, "status")
        # Read-write: rank 0's open never blocks, and no end of file while it reopens.
        fds = [os.open(f, os.O_RDWR | os.O_NONBLOCK) for f in fifos]
        env = dict(os.environ, SHOAL_BACKEND="mpi", SHOAL_MPI_RANKS=str(ranks), SHOAL_MPI_OUT=fifos[0],
                   SHOAL_MPI_ERR=fifos[1], SHOAL_MPI_STATUS=status)
        # SIGINT, from a terminal's Ctrl-C or sent to this process alone, reaches mpiexec
        # through us, once (mpiexec runs in a session of its own, away from the terminal's
        # signals): mpiexec passes it to every rank, rank 0 ends with 130 as without --ranks.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # (until mpiexec is there to tell)
        interrupted: list[float] = []
        if _stdin_wanted():
            import threading
            env["SHOAL_MPI_IN"] = os.path.join(tmp, "in")
            os.mkfifo(env["SHOAL_MPI_IN"])
            threading.Thread(target=_feed, args=(env["SHOAL_MPI_IN"],), daemon=True).start()
        try:
            proc = subprocess.Popen([exe, "-n", str(ranks), sys.executable, "-m", "shoal", *argv],
                                    env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                    start_new_session=True)
        except OSError as e:
            signal.signal(signal.SIGINT, old)
            raise ShoalError(f"--ranks: cannot start {exe}: {e.strerror or e}") from None

        def on_sigint(sig: int, frame: object) -> None:
            if not interrupted:
                interrupted.append(time.monotonic())
                try:
                    proc.send_signal(signal.SIGINT)
                except OSError:
                    pass
        signal.signal(signal.SIGINT, on_sigint)
        noise = bytearray()
        sinks = {fds[0]: sys.stdout.buffer, fds[1]: sys.stderr.buffer}
        mfd = proc.stdout.fileno()  # type: ignore[union-attr]
        try:
            while True:
                # After a SIGINT the ranks get INTERRUPT_GRACE seconds to end as asked; then
                # mpiexec's session (it, its proxies, the ranks) is killed.
                ready, _, _ = select.select([*fds, mfd], [], [], 0.2 if interrupted else None)
                if interrupted and time.monotonic() - interrupted[0] > INTERRUPT_GRACE:
                    _kill_session(proc.pid)
                    break
                for fd in ready:
                    if fd == mfd:
                        chunk = os.read(mfd, 65536)
                        if not chunk:
                            break
                        noise += chunk
                    else:
                        _copy(fd, sinks[fd])
                else:
                    continue
                break
            proc.wait()
            for fd in fds:  # what rank 0 wrote last
                _copy(fd, sinks[fd])
        finally:
            signal.signal(signal.SIGINT, old)
            for fd in fds:
                os.close(fd)
            if interrupted or proc.poll() is None:  # no rank outlives an interrupted run
                _kill_session(proc.pid)
        try:
            with open(status) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            pass
        if interrupted:  # the ranks ended before rank 0 could say so
            sys.stderr.write("shoal: interrupted\n")
            sys.stderr.flush()
            return 130
    text = noise.decode(errors="replace")
    why = next((ln.split("EXIT STRING:", 1)[1].strip() for ln in text.splitlines() if "EXIT STRING:" in ln),
               f"mpiexec exit status {proc.returncode}")
    sys.stderr.write(f"shoal: the MPI run stopped: a rank ended abnormally ({why}); no result\n")
    sys.stderr.flush()
    return proc.returncode if proc.returncode and proc.returncode > 0 else 1


INTERRUPT_GRACE = 10.0  # seconds the ranks have to end after a SIGINT


def _kill_session(pid: int) -> None:
    """End whatever is left of mpiexec's session (it leads it: start_new_session)."""
    import signal
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass  # all gone already


def _stdin_wanted() -> bool:
    """Whether rank 0 gets the launcher's stdin (through a pipe of its own: hydra's forwarding
    of stdin stops mpiexec with status 255 past ~100 KB). Not a terminal: in one process too, a
    guest reading a terminal gets end of file."""
    try:
        os.fstat(0)
    except OSError:
        return False
    return not os.isatty(0)


def _feed(path: str) -> None:
    """Copy the launcher's stdin to rank 0's pipe, then close it (rank 0 sees end of file)."""
    import sys
    try:
        with open(path, "wb") as pipe:
            while chunk := sys.stdin.buffer.read(65536):
                pipe.write(chunk)
    except (OSError, ValueError):
        pass  # rank 0 ended without reading it all


def _die_with_parent() -> None:
    """mpiexec (and through it every rank) ends if the launcher is killed (Linux)."""
    import ctypes
    import signal
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _copy(fd: int, out: Any) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            return
        out.write(chunk)
        out.flush()
