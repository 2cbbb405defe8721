"""A GDB remote-protocol stub for one process on the chip (`shoal run --gdb PORT prog`).

It serves `gdb-multiarch` (target remote :PORT) over TCP: the riscv:rv32 target description
with integer and FP registers (qXfer:features:read), memory through the process's page
tables (m/M), software breakpoints (Z0/z0: an ebreak in the code), single step (s, vCont;s:
breakpoints at the instruction's successors), continue (c, vCont;c), the process's threads
as GDB threads (qfThreadInfo, H, T, qC, with the cluster each runs on), Ctrl-C, k and D.

While GDB holds the process the whole chip is paused: simulated time advances for nobody, so
what the program computes and every simulated figure are the same as without GDB. Other
threads of the process may have run ahead of the stopped one by up to a quantum (threads
of a cluster run in slices, kernel/sched.py). The stub asks the kernels through host
requests (kernel/debug.py) and finds the process by pid on whichever cluster it lives now;
breakpoints are in the process's memory, so they travel with it when it migrates and a hit
on the new cluster stops it there. If GDB goes away mid-run, the stub removes its
breakpoints and the run goes on to its end without it.

The session's commands are here; its packets on the wire are tools/gdbwire.py, the kernel
side is kernel/debug.py.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import TYPE_CHECKING, Any

from shoal import abi
from shoal.abi import SIGINT, SIGTRAP
from shoal.errors import ShoalError
from shoal.platform.cpu import REG_PC
from shoal.tools.gdbwire import MAX_READ, PACKET_SIZE, Wire

if TYPE_CHECKING:
    from shoal.api import Chip
    from shoal.kernel.container import Thread
    from shoal.kernel.kernel import Kernel

EBREAK, C_EBREAK = struct.pack("<I", abi.EBREAK), struct.pack("<H", abi.C_EBREAK)
XNAMES = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", *[f"a{i}" for i in range(8)],
          *[f"s{i}" for i in range(2, 12)], "t3", "t4", "t5", "t6"]
FNAMES = [*[f"ft{i}" for i in range(8)], "fs0", "fs1", *[f"fa{i}" for i in range(8)],
          *[f"fs{i}" for i in range(2, 12)], *[f"ft{i}" for i in range(8, 12)]]
# GDB's numbering for RISC-V: x0-x31 0-31, pc 32, f0-f31 33-64, CSRs at 65 + their number.
PC, F0, FFLAGS, FRM, FCSR = 32, 33, 66, 67, 68


def target_xml() -> str:
    kinds = {"ra": "code_ptr", "sp": "data_ptr"}
    regs = [f'<reg name="{n}" bitsize="32" type="{kinds.get(n, "int")}" regnum="{i}"/>'
            for i, n in enumerate(XNAMES)]
    regs.append(f'<reg name="pc" bitsize="32" type="code_ptr" regnum="{PC}"/>')
    fregs = [f'<reg name="{n}" bitsize="64" type="ieee_double" regnum="{F0 + i}"/>'
             for i, n in enumerate(FNAMES)]
    fregs += [f'<reg name="fflags" bitsize="32" type="int" regnum="{FFLAGS}"/>',
              f'<reg name="frm" bitsize="32" type="int" regnum="{FRM}"/>',
              f'<reg name="fcsr" bitsize="32" type="int" regnum="{FCSR}"/>']
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0">'
            '<architecture>riscv:rv32</architecture><feature name="org.gnu.gdb.riscv.cpu">' + "".join(regs)
            + '</feature><feature name="org.gnu.gdb.riscv.fpu">' + "".join(fregs) + "</feature></target>")


def successors(pc: int, insn: bytes, x: list[int]) -> list[int]:
    """Where a RISC-V instruction at `pc` may go next (`x`: x0-x31), for single steps."""
    half = int.from_bytes(insn[:2], "little")
    if half & 3 != 3:  # compressed
        op, f3 = half & 3, half >> 13
        if op == 1 and f3 in (1, 5):  # c.jal (RV32), c.j
            b = half
            imm = ((b >> 12 & 1) << 11 | (b >> 11 & 1) << 4 | (b >> 9 & 3) << 8 | (b >> 8 & 1) << 10
                   | (b >> 7 & 1) << 6 | (b >> 6 & 1) << 7 | (b >> 3 & 7) << 1 | (b >> 2 & 1) << 5)
            return [(pc + _sext(imm, 12)) & 0xFFFFFFFF]
        if op == 1 and f3 in (6, 7):  # c.beqz, c.bnez
            b = half
            imm = ((b >> 12 & 1) << 8 | (b >> 10 & 3) << 3 | (b >> 5 & 3) << 6 | (b >> 3 & 3) << 1
                   | (b >> 2 & 1) << 5)
            return [pc + 2, (pc + _sext(imm, 9)) & 0xFFFFFFFF]
        rs1, rs2 = half >> 7 & 31, half >> 2 & 31
        if op == 2 and f3 == 4 and rs2 == 0 and rs1 != 0:  # c.jr, c.jalr
            return [x[rs1] & ~1 & 0xFFFFFFFF]
        return [pc + 2]
    w = int.from_bytes(insn[:4], "little")
    opcode, rs1 = w & 0x7F, w >> 15 & 31
    if opcode == 0x6F:  # jal
        imm = (w >> 31 & 1) << 20 | (w >> 12 & 0xFF) << 12 | (w >> 20 & 1) << 11 | (w >> 21 & 0x3FF) << 1
        return [(pc + _sext(imm, 21)) & 0xFFFFFFFF]
    if opcode == 0x67:  # jalr
        return [(x[rs1] + _sext(w >> 20, 12)) & ~1 & 0xFFFFFFFF]
    if opcode == 0x63:  # branches
        imm = (w >> 31 & 1) << 12 | (w >> 7 & 1) << 11 | (w >> 25 & 0x3F) << 5 | (w >> 8 & 0xF) << 1
        return [pc + 4, (pc + _sext(imm, 13)) & 0xFFFFFFFF]
    return [pc + 4]


def _sext(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


class GdbStub:
    """Serves one GDB connection for process `pid` of `chip`, then runs the chip to its end."""

    def __init__(self, chip: Chip, port: int, host: str = "127.0.0.1") -> None:
        self.chip = chip
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        try:
            self.sock.bind((host, port))
            self.sock.listen(1)
        except (OSError, OverflowError) as e:
            self.sock.close()
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ShoalError(f"--gdb {port}: cannot listen on {host}:{port}: {why}") from None
        self.host, self.port = host, self.sock.getsockname()[1]
        self.pid = 0
        self.wire: Wire | None = None  # the connection's packets (tools/gdbwire.py)
        self.bps: dict[int, bytes] = {}  # address -> the original bytes under the ebreak
        self.temp: dict[int, bytes] = {}  # single-step breakpoints
        self.stop: tuple[str, int | None] | None = None  # (why, tid)
        self.gone = False
        self.thread = 0  # GDB's selected thread (0: any)
        self._polls = 0

    # the kernels' side ----------------------------------------------------------------------
    def _call(self, cluster: int, op: str, *args: Any) -> Any:
        return self.chip._backend.call(cluster, "debug", op, *args)

    def _where(self) -> int | None:
        """The cluster that holds the process now (its newest live copy), or None if it ended."""
        gens = self.chip._backend.gather("debug", "where", self.pid)
        best = max(range(len(gens)), key=lambda c: (gens[c], -c))
        return best if gens[best] >= 0 else None

    def on_trap(self, k: Kernel, t: Thread) -> bool:
        """A slice of cluster `k` ended on a CPU exception (Unicorn passes ebreak to no trap
        hook; the thread's pc is the ebreak's): is it one of our breakpoints?"""
        if t.proc.pid != self.pid:
            return False
        pc = t.ctx.reg_read(REG_PC)  # type: ignore[attr-defined]
        if pc not in self.bps and pc not in self.temp:
            return False
        from shoal.kernel.debug import park
        t.ctx.reg_write(REG_PC, pc + 4)  # type: ignore[attr-defined]  # the park takes 4 off
        park(k)
        self.stop = ("break", t.tid)
        return True

    # the protocol ---------------------------------------------------------------------------
    def serve(self, pid: int) -> None:
        """Wait for GDB, serve it until it kills, detaches or the process ends; then the run
        goes on to its end (a GDB that goes away mid-run is a detach)."""
        self.pid = pid
        sys.stderr.write(f"shoal: gdb: listening on {self.host}:{self.port} for process {pid} "
                         f"(gdb-multiarch prog.elf -ex 'target remote :{self.port}')\n")
        sys.stderr.flush()
        try:
            conn, _ = self.sock.accept()
        finally:
            self.sock.close()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.wire = Wire(conn)
        for c in range(self.chip.spec.compute_clusters):
            self._call(c, "attach", self.on_trap)
        try:
            self._loop()
        except (ConnectionError, OSError):
            self.gone = True
        finally:
            self._detach()
        self.chip.run()

    def _detach(self) -> None:
        where = self._where()
        for a, orig in sorted({**self.bps, **self.temp}.items()):
            if where is not None:
                self._call(where, "write", self.pid, a, orig)
        self.bps.clear()
        self.temp.clear()
        for c in range(self.chip.spec.compute_clusters):
            self._call(c, "attach", None)
        if self.wire is not None:
            self.wire.close()
            self.wire = None
        if self.gone:
            sys.stderr.write("shoal: gdb: the debugger went away; the run goes on without it\n")

    def _loop(self) -> None:
        wire = self.wire
        assert wire is not None
        while True:
            pkt = wire.recv()
            if pkt is None:
                self.gone = True
                return
            if pkt == b"\x03":
                continue  # already stopped
            try:
                reply = self._handle(pkt.decode("latin-1"))
            except (ValueError, IndexError, KeyError, ShoalError):
                reply = "E01"  # a malformed packet, or a request the process's state refuses
            if reply is None:  # k, D, or the process ended and was reported
                return
            wire.send(reply)
            wire.replied()

    def _tids(self) -> list[int]:
        c = self._where()
        return [] if c is None else self._call(c, "threads", self.pid)

    def _tid(self) -> int | None:
        tids = self._tids()
        if self.thread in tids:
            return self.thread
        return tids[0] if tids else None

    def _stop_reply(self, sig: int, tid: int | None) -> str:
        tid = tid if tid is not None else self._tid()
        if tid is not None:
            self.thread = tid
            return f"T{sig:02x}thread:{tid:x};"
        return f"S{sig:02x}"

    def _handle(self, p: str) -> str | None:
        if p.startswith("qSupported"):
            return f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;vContSupported+;QStartNoAckMode+"
        if p == "QStartNoAckMode":
            self.wire.noack_next = True  # type: ignore[union-attr]  # from the packet after this OK on
            return "OK"
        if p.startswith("qXfer:features:read:target.xml:"):
            off, length = (int(v, 16) for v in p.rsplit(":", 1)[1].split(","))
            if off < 0 or length < 0:
                return "E01"
            length = min(length, PACKET_SIZE - 1)
            xml = target_xml()
            chunk = xml[off:off + length]
            return ("l" if off + length >= len(xml) else "m") + chunk
        if p == "?":
            return self._stop_reply(SIGTRAP, None)
        if p == "qAttached":
            return "1"
        if p == "qC":
            tid = self._tid()
            return f"QC{tid:x}" if tid is not None else "E01"
        if p == "qfThreadInfo":
            return "m" + ",".join(f"{t:x}" for t in self._tids())
        if p == "qsThreadInfo":
            return "l"
        if p.startswith("qThreadExtraInfo,"):
            c = self._where()
            return (f"cluster {c}" if c is not None else "ended").encode().hex()
        if p[:1] == "H":
            tid = int(p[2:], 16) if p[2:] not in ("-1", "") else 0
            if tid and tid not in self._tids():
                return "E01"
            self.thread = tid or self.thread
            return "OK"
        if p[:1] == "T":
            return "OK" if int(p[1:], 16) in self._tids() else "E01"
        if p == "g":
            r = self._regs()
            return "E01" if r is None else self._g(r)
        if p[:1] == "G":
            return self._write_regs(bytes.fromhex(p[1:]))
        if p[:1] == "p":
            r = self._regs()
            if r is None:
                return "E01"
            return self._reg_hex(r, int(p[1:], 16))
        if p[:1] == "P":
            n, v = p[1:].split("=")
            return self._write_reg(int(n, 16), bytes.fromhex(v))
        if p[:1] == "m":
            a, n = (int(v, 16) for v in p[1:].split(","))
            data = self._read(a, min(n, MAX_READ))  # a longer read is answered in part
            return "E14" if data is None else data.hex()
        if p[:1] == "M":
            where, hexdata = p[1:].split(":")
            a, n = (int(v, 16) for v in where.split(","))
            data = bytes.fromhex(hexdata)
            if n != len(data):
                return "E01"
            return "OK" if self._write(a, data) else "E14"
        if p[:2] in ("Z0", "z0"):
            _, a, kind = p.split(",")
            return self._breakpoint(p[0] == "Z", int(a, 16), int(kind, 16))
        if p == "vCont?":
            return "vCont;c;C;s;S"
        if p.startswith("vCont;"):
            action = p[6:].split(";")[0]
            if action[:1] in ("s", "S"):
                tid = action.split(":")[1] if ":" in action else None
                return self._resume(step=int(tid, 16) if tid not in (None, "-1") else self._tid())
            return self._resume()
        if p[:1] in ("c", "C"):
            return self._resume()
        if p[:1] == "s":
            return self._resume(step=self._tid())
        if p == "k" or p.startswith("vKill"):
            if self._where() is not None:
                self.chip.kill(self.pid)
            if p.startswith("vKill"):
                self.wire.send("OK")
            return None
        if p[:1] == "D":
            self.wire.send("OK")
            return None
        return ""  # not supported: GDB does without

    # registers and memory ------------------------------------------------------------------
    def _regs(self) -> dict | None:
        c, tid = self._where(), self._tid()
        if c is None or tid is None:
            return None
        return self._call(c, "regs", self.pid, tid)

    @staticmethod
    def _values(r: dict) -> list[tuple[int, int, int]]:
        """(regnum, bytes, value) in g-packet order."""
        out = [(0, 4, 0)] + [(i + 1, 4, v) for i, v in enumerate(r["x"])] + [(PC, 4, r["pc"])]
        out += [(F0 + i, 8, v) for i, v in enumerate(r["f"])]
        fcsr = r["fcsr"]
        out += [(FFLAGS, 4, fcsr & 0x1F), (FRM, 4, fcsr >> 5 & 7), (FCSR, 4, fcsr)]
        return out

    def _g(self, r: dict) -> str:
        return "".join((v & ((1 << (8 * n)) - 1)).to_bytes(n, "little").hex() for _, n, v in self._values(r))

    def _reg_hex(self, r: dict, num: int) -> str:
        for n, size, v in self._values(r):
            if n == num:
                return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex()
        return "E45"

    def _set(self, r: dict, num: int, v: int) -> None:
        if 1 <= num <= 31:
            r["x"][num - 1] = v
        elif num == PC:
            r["pc"] = v
        elif F0 <= num < F0 + 32:
            r["f"][num - F0] = v
        elif num == FCSR:
            r["fcsr"] = v & 0xFF
        elif num == FFLAGS:
            r["fcsr"] = (r["fcsr"] & ~0x1F) | (v & 0x1F)
        elif num == FRM:
            r["fcsr"] = (r["fcsr"] & ~0xE0) | (v & 7) << 5

    def _write_reg(self, num: int, raw: bytes) -> str:
        r = self._regs()
        if r is None:
            return "E01"
        self._set(r, num, int.from_bytes(raw, "little"))
        return "OK" if self._call(self._where(), "set_regs", self.pid, self._tid(), r) else "E01"  # type: ignore[arg-type]

    def _write_regs(self, raw: bytes) -> str:
        r = self._regs()
        if r is None:
            return "E01"
        pos = 0
        for n, size, _ in self._values(r):
            if pos + size > len(raw):
                break
            if n != FFLAGS and n != FRM:  # fcsr carries both
                self._set(r, n, int.from_bytes(raw[pos:pos + size], "little"))
            pos += size
        return "OK" if self._call(self._where(), "set_regs", self.pid, self._tid(), r) else "E01"  # type: ignore[arg-type]

    def _read(self, a: int, n: int) -> bytes | None:
        c = self._where()
        if c is None or n < 0 or a + n > 1 << 32:
            return None
        data = self._call(c, "read", self.pid, a, n)
        if data is None:
            return None
        out = bytearray(data)
        for addr, orig in {**self.bps, **self.temp}.items():  # GDB sees the code, not our ebreaks
            for i, b in enumerate(orig):
                if a <= addr + i < a + n:
                    out[addr + i - a] = b
        return bytes(out)

    def _write(self, a: int, data: bytes) -> bool:
        c = self._where()
        return c is not None and self._call(c, "write", self.pid, a, data)

    def _breakpoint(self, insert: bool, a: int, kind: int) -> str:
        if insert:
            if a in self.bps:
                return "OK"
            size = 2 if kind == 2 else 4
            orig = self._read(a, size)
            if orig is None or not self._write(a, C_EBREAK if size == 2 else EBREAK):
                return "E14"
            self.bps[a] = orig
            return "OK"
        orig = self.bps.pop(a, None)
        if orig is not None and a not in self.temp:
            self._write(a, orig)
        return "OK"

    # running -------------------------------------------------------------------------------
    def _until(self) -> bool:
        """Asked by the engine between rounds: stop now? (a breakpoint, Ctrl-C, GDB gone)"""
        if self.stop is not None:
            return True
        w = self.wire
        if w is None:
            return False
        if w.interrupted():  # came in with the packet that resumed
            self.stop = ("interrupt", None)
            return True
        self._polls += 1
        if self._polls % 8 == 0:
            got = w.poll()
            if got == "gone":
                self.gone = True
                self.stop = ("gone", None)
            elif got == "interrupt":
                self.stop = ("interrupt", None)
        return self.stop is not None

    def _resume(self, step: int | None = None) -> str | None:
        if step is not None:
            self._step_breakpoints(step)
        self.stop = None
        self.chip.run(until=self._until)
        for a, orig in sorted(self.temp.items()):
            if a not in self.bps:
                self._write(a, orig)
        self.temp.clear()
        if self.stop is None:  # every process ended
            r = self.chip._record(self.pid)
            self.wire.send(f"W{r.exit_code & 0xFF:02x}" if r.signal is None else f"X{r.signal:02x}")
            return None
        why, tid = self.stop
        if why == "gone":
            raise ConnectionError("gdb went away")
        if self._where() is None:  # ended, and the chip paused for something else
            return self._resume()
        return self._stop_reply(SIGINT if why == "interrupt" else SIGTRAP, tid)

    def _step_breakpoints(self, tid: int) -> None:
        """A single step: breakpoints at every place the thread's next instruction may lead."""
        self.thread = tid
        r = self._regs()
        if r is None:
            return
        pc = r["pc"]
        insn = self._read(pc, 4) or self._read(pc, 2) or b"\0\0\0\0"
        for a in successors(pc, insn + b"\0\0", [0, *r["x"]]):
            if a in self.bps or a in self.temp:
                continue
            orig = self._read(a, 2)
            if orig is None:
                continue
            # Only two bytes (c.ebreak): the successor may be a compressed instruction.
            if self._write(a, C_EBREAK):
                self.temp[a] = orig
