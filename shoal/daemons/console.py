"""The console: every process's standard output and error, and its standard input.

The console receives every process's standard output and error as packets and passes
them to the host in order of arrival: the interleaving of several processes' output is
a matter of simulated time, the same under any engine or backend. It acknowledges what it
takes to the cluster that sent it (once per ACK_EVERY bytes), which keeps a bounded
window in flight (kernel/console.py). Console packets are a stream (`streams`): taken in
order of arrival, without the daemon core's service time (daemons/node.py).
It keeps what each process wrote for `Process.stdout`/`stderr`, bounded: with a sink (the
CLI streams output to the host) only the last TAIL bytes of each stream; without one, all of
it up to CAPTURE bytes for the whole chip, beyond which the oldest bytes of the largest
stream go (counted in `dropped`). So the host's memory for output never grows with what a
guest writes.
"""

from __future__ import annotations

from collections.abc import Callable

from shoal.daemons.core import Core, Handler, HostCall
from shoal.kernel.console import ACK_EVERY
from shoal.messages import UNSET, ConsoleAck, Kind
from shoal.platform.noc import Packet

ConsoleSink = Callable[[int, int, bytes], None]  # (pid, fd, data)
# What the console keeps of each process's output (bytes): with a sink, the tail of each
# stream (enough for an error message or a last screen of results); without, the whole
# output up to a cap per chip (far above what tests and experiments print).
TAIL = 64 * 1024
CAPTURE = 64 * 1024 * 1024


class Console:
    def __init__(self, core: Core, sink: ConsoleSink | None) -> None:
        self._send = core.send
        self._reply = core.reply
        self.sink = sink
        self.output: dict[int, tuple[bytearray, bytearray]] = {}  # pid -> (stdout, stderr)
        self.stdin: dict[int, object] = {}  # pid -> bytes, or a source read when first asked
        self.stdin_pos: dict[int, int] = {}
        self.dropped: dict[int, list[int]] = {}  # pid -> bytes of (stdout, stderr) not kept
        self.kept = 0  # bytes held in `output`
        self.unacked: dict[int, int] = {}  # cluster -> console bytes taken, not yet acknowledged
        self.streams: dict[Kind, Callable[[Packet], None]] = {Kind.CONSOLE: self.on_console}
        self.packets: dict[Kind, Handler] = {Kind.STDIN: self.on_stdin}
        self.host: dict[str, HostCall] = {
            "set_stdin": self.set_stdin, "output": self.get_output, "output_dropped": self.output_dropped}

    # the host's side ----------------------------------------------------------------------------
    def set_stdin(self, pid: int, data: object) -> None:
        """What the process reads on fd 0: bytes, or the host's stdin read when first asked."""
        self.stdin[pid] = data
        self.stdin_pos[pid] = 0

    def get_output(self, pid: int) -> tuple[bytes, bytes]:
        out = self.output.get(pid)
        return (bytes(out[0]), bytes(out[1])) if out is not None else (b"", b"")

    def output_dropped(self, pid: int) -> tuple[int, int]:
        d = self.dropped.get(pid, [0, 0])
        return (d[0], d[1])

    # packets ------------------------------------------------------------------------------------
    def on_console(self, pkt: Packet) -> None:
        pid, fd = pkt.body.pid, pkt.body.fd
        out = self.output.setdefault(pid, (bytearray(), bytearray()))
        i = 0 if fd == 1 else 1
        out[i].extend(pkt.data)
        self.kept += len(pkt.data)
        if self.sink is not None:
            self._drop(pid, i, len(out[i]) - TAIL)
        while self.kept > CAPTURE:  # the oldest bytes of the largest stream (lowest pid, fd)
            big = max(((len(o[j]), -p, -j) for p, o in self.output.items() for j in (0, 1)))
            self._drop(-big[1], -big[2], min(big[0], self.kept - CAPTURE))
        # Taken: the sender may send more, told once per ACK_EVERY bytes (kernel/console.py).
        n = self.unacked.get(pkt.src, 0) + len(pkt.data)
        if n >= ACK_EVERY:
            self._send(pkt.src, ConsoleAck(n=n), pkt.arrival)
            n = 0
        self.unacked[pkt.src] = n
        if self.sink is not None:
            self.sink(pid, fd, pkt.data)

    def _drop(self, pid: int, i: int, n: int) -> None:
        if n > 0:
            del self.output[pid][i][:n]
            self.kept -= n
            self.dropped.setdefault(pid, [0, 0])[i] += n

    def on_stdin(self, req: Packet, at: int) -> None:
        """A read of standard input: the next bytes of what the host gave this pid (none for
        a process the host gave nothing, such as one a guest spawned)."""
        pid, size = req.body.pid, req.body.size
        if req.body.tty is not UNSET:
            pid = req.body.tty  # a forked child reads its parent's input (one terminal)
        src = self.stdin.get(pid)
        pos = self.stdin_pos.get(pid, 0)
        data = bytes(src[pos:pos + size]) if src is not None else b""
        self.stdin_pos[pid] = pos + len(data)
        self._reply(req, at, data=data, bulk=True, ret=len(data))
