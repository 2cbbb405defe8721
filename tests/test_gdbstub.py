"""The GDB stub (shoal/tools/gdbstub.py): real gdb-multiarch in batch mode, and the remote protocol
spoken by hand for what batch GDB does not show (single step packets, Ctrl-C, errors)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROGRAMS, assert_one_line_error, shoal_cli

from shoal.toolchain import compile_cached

GDB = shutil.which("gdb-multiarch")
needs_gdb = pytest.mark.skipif(GDB is None,
                               reason="gdb-multiarch is not installed (apt-get install gdb-multiarch)")
# What trace_work.c computes (4 workers, 200000 steps each).
TOTAL = sum(((i % 1024) * (i % 1024) + t) % 7 for t in range(4) for i in range(200000))
SIM = ("simulated time", "instructions   :", "downtime")


@pytest.fixture(scope="module")
def elf() -> Path:
    return compile_cached([PROGRAMS / "trace_work.c"], ["-O0", "-g"])


class Shoal:
    """`shoal run --gdb 0 ...` in the background; `port` is where it listens."""

    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "shoal", "run", "--gdb", "0", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
        assert self.p.stderr is not None
        line = self.p.stderr.readline().decode()
        m = re.match(r"shoal: gdb: listening on 127\.0\.0\.1:(\d+) for process 2 ", line)
        assert m, line
        self.port = int(m.group(1))

    def finish(self) -> tuple[int, bytes, str]:
        try:
            out, err = self.p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.p.kill()  # never leave a stub waiting for a GDB that will not come
            self.p.communicate()
            raise
        return self.p.returncode, out, err.decode()


def _gdb(elf: Path, port: int, *commands: str) -> str:
    args = [GDB, "-nx", "-batch", "-ex", "set pagination off", "-ex", f"target remote :{port}"]
    for c in commands:
        args += ["-ex", c]
    res = subprocess.run([*args, str(elf)], capture_output=True, text=True, timeout=120)
    return res.stdout + res.stderr


def _sim(err: str) -> list[str]:
    return [re.sub(r"; host .*", "", ln) for ln in err.splitlines() if ln.strip().startswith(SIM)]


@needs_gdb
def test_gdb_stops_at_main_reads_registers_steps_and_continues(elf: Path) -> None:
    s = Shoal("--stats", str(elf))
    out = _gdb(elf, s.port, "break main", "continue", "info registers pc", "p/x $sp", "p $fcsr",
               "stepi", "p/x $pc", "set $ft0 = 1.5", "p $ft0.double * 2", "p where", "set var where = 42",
               "p where", "next", "next", "info threads", "continue")
    code, stdout, err = s.finish()
    assert re.search(r"Breakpoint 1, main \(argc=1, argv=0x[0-9a-f]+\) at .*trace_work\.c:\d+", out), out
    pc = re.search(r"^pc\s+0x([0-9a-f]+)\s+0x[0-9a-f]+ <main\+\d+>", out, re.M)
    assert pc, out
    pcs = [int(v, 16) for v in re.findall(r"^\$\d+ = 0x([0-9a-f]+)$", out, re.M)]
    assert pcs[0] >= 0xBF000000  # sp: the stack is at the top of user memory
    assert int(pc.group(1), 16) < pcs[1] <= int(pc.group(1), 16) + 4  # one instruction on
    assert re.search(r"^\$2 = 0$", out, re.M)  # fcsr of a fresh thread
    assert re.search(r"^\$4 = 3$", out, re.M)  # an FP register written (P or G) and read back
    assert re.search(r"^\$5 = -1$", out, re.M) and re.search(r"^\$6 = 42$", out, re.M)  # memory (M)
    assert "Thread 2 (cluster 0)" in out
    assert "exited normally" in out, out
    assert code == 0 and stdout == f"total {TOTAL} on cluster 0\n".encode()
    plain = shoal_cli("run", "--stats", str(elf))
    assert plain.stdout == stdout and _sim(plain.stderr.decode()) == _sim(err)  # nothing changed


@needs_gdb
def test_gdb_follows_a_migration(elf: Path) -> None:
    s = Shoal("--stats", "--migrate", "1ms:5", str(elf))
    out = _gdb(elf, s.port, "break main", "break finish", "continue", "info threads", "continue",
               "info threads", "info registers pc", "stepi", "info registers pc", "next", "p where",
               "continue")
    code, stdout, err = s.finish()
    before, after = out.split("Breakpoint 2, finish")
    assert "Thread 2 (cluster 0)" in before and "Breakpoint 1, main" in before
    assert "Thread 2 (cluster 5)" in after  # the breakpoint hit on the new cluster stopped it there
    pcs = [int(v, 16) for v in re.findall(r"^pc\s+0x([0-9a-f]+)\s+0x[0-9a-f]+ <finish\+\d+>", after, re.M)]
    assert len(pcs) == 2 and pcs[0] < pcs[1] <= pcs[0] + 4  # registers read there, one step taken
    assert re.search(r"^\$1 = 5$", after, re.M), out
    assert "exited normally" in after
    assert code == 0 and stdout == f"total {TOTAL} on cluster 5\n".encode()
    assert "migration      : cluster 0 -> 5" in err
    plain = shoal_cli("run", "--stats", "--migrate", "1ms:5", str(elf))
    assert _sim(plain.stderr.decode()) == _sim(err)


class Client:
    """The remote protocol by hand (acknowledged mode)."""

    def __init__(self, port: int) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    def send(self, data: str) -> None:
        raw = data.encode()
        self.s.sendall(b"$" + raw + b"#" + f"{sum(raw) & 0xFF:02x}".encode())

    def recv(self) -> str:
        while True:
            m = re.search(rb"\$([^#]*)#[0-9a-f]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.s.sendall(b"+")
                return m.group(1).decode()
            more = self.s.recv(65536)
            assert more, "the stub closed the connection"
            self.buf += more

    def ask(self, data: str) -> str:
        self.send(data)
        return self.recv()


def test_protocol_by_hand_step_memory_interrupt_kill(elf: Path) -> None:
    s = Shoal(str(elf), "5000000")
    c = Client(s.port)
    assert "qXfer:features:read+" in c.ask("qSupported:multiprocess+")
    xml = c.ask("qXfer:features:read:target.xml:0,ffff")
    assert xml[0] == "l" and "riscv:rv32" in xml and "org.gnu.gdb.riscv.fpu" in xml
    assert c.ask("?") == "T05thread:2;"
    assert c.ask("qfThreadInfo") == "m2" and c.ask("qC") == "QC2"
    g = c.ask("g")
    assert len(g) == 2 * (33 * 4 + 32 * 8 + 3 * 4)
    pc = int.from_bytes(bytes.fromhex(g[32 * 8:33 * 8]), "little")
    assert c.ask("p20") == g[32 * 8:33 * 8]
    code_at_pc = c.ask(f"m{pc:x},8")
    assert len(code_at_pc) == 16 and c.ask("m0,4") == "E14"  # page 0 is never mapped
    assert c.ask("M0,1:00") == "E14"
    assert c.ask("mzz,4") == "E01" and c.ask("Pzz") == "E01" and c.ask("qBogus") == ""  # refused, alive
    reply = c.ask("vCont;s:2")
    assert reply.startswith("T05thread:2;")
    pc2 = int.from_bytes(bytes.fromhex(c.ask("p20")), "little")
    assert pc2 in (pc + 2, pc + 4) or abs(pc2 - pc) > 4  # one instruction (or a jump) on
    assert c.ask("s").startswith("T05")
    assert c.ask(f"m{pc:x},8") == code_at_pc  # the steps' breakpoints are gone from the code
    c.send("c")
    c.s.sendall(b"\x03")  # Ctrl-C while the chip runs
    assert c.recv().startswith("T02")
    c.send("k")
    code, stdout, err = s.finish()
    assert code == 137 and stdout == b"" and "killed" in err


def test_gdb_going_away_mid_run_lets_the_run_go_on(elf: Path) -> None:
    s = Shoal(str(elf), "100000")
    c = Client(s.port)
    c.ask("qSupported")
    assert c.ask("Z0,10,4") == "E14"  # nothing at address 0x10
    c.send("c")
    c.s.close()
    code, stdout, err = s.finish()
    assert code == 0 and stdout.startswith(b"total ") and stdout.endswith(b" on cluster 0\n")
    assert "the debugger went away; the run goes on without it" in err


def test_gdb_port_in_use_is_one_line(elf: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        res = shoal_cli("run", "--gdb", str(busy.getsockname()[1]), str(elf))
    finally:
        busy.close()
    assert "cannot listen" in assert_one_line_error(res)
    assert "cannot listen" in assert_one_line_error(shoal_cli("run", "--gdb", "70000", str(elf)))


def test_detach_removes_breakpoints_and_the_run_goes_on(elf: Path) -> None:
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        main = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("main")[0]["st_value"]
    s = Shoal(str(elf), "20000")
    c = Client(s.port)
    before = c.ask(f"m{main:x},4")
    assert c.ask(f"Z0,{main:x},2") == "OK" and c.ask(f"m{main:x},4") == before  # GDB sees its code
    assert c.ask("c").startswith("T05")  # stopped at main
    assert c.ask(f"Z0,{main + 2:x},2") == "OK"
    c.send("D")
    assert c.recv() == "OK"
    code, stdout, err = s.finish()
    # The breakpoints were taken out: without that the program would die of SIGTRAP (133).
    total = sum(((i % 1024) * (i % 1024) + t) % 7 for t in range(4) for i in range(20000))
    assert code == 0 and stdout == f"total {total} on cluster 0\n".encode()
    assert "went away" not in err


def _peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _raw_reply(c: Client) -> bytes:
    """The next byte the stub sends that is not part of a packet (an ack or a nak)."""
    while not c.buf:
        c.buf += c.s.recv(1)
    b, c.buf = c.buf[:1], c.buf[1:]
    return b


def test_a_packet_with_a_wrong_checksum_is_refused_and_not_acted_on(elf: Path) -> None:
    s = Shoal(str(elf), "20000")
    c = Client(s.port)
    assert "PacketSize=4000" in c.ask("qSupported")
    sp = int.from_bytes(bytes.fromhex(c.ask("p2")), "little")
    before = c.ask(f"m{sp:x},4")
    body = f"M{sp:x},4:deadbeef".encode()
    c.s.sendall(b"$" + body + b"#" + f"{(sum(body) + 1) & 0xFF:02x}".encode())
    assert _raw_reply(c) == b"-"  # the GDB remote protocol: '-' and the packet is not acted on
    c.s.sendall(b"$k#00")  # a kill with a bad checksum must not kill
    assert _raw_reply(c) == b"-"
    c.s.sendall(b"$k#zz")  # nor one whose checksum is not hex
    assert _raw_reply(c) == b"-"
    assert c.ask(f"m{sp:x},4") == before and c.ask("?") == "T05thread:2;"
    c.send("c")
    assert c.recv() == "W00"
    code, stdout, _ = s.finish()
    assert code == 0 and stdout.startswith(b"total ")


def test_requests_and_input_are_held_to_the_packet_size(elf: Path) -> None:
    s = Shoal(str(elf), "20000")
    c = Client(s.port)
    size = int(re.search(r"PacketSize=([0-9a-f]+)", c.ask("qSupported")).group(1), 16)  # type: ignore[union-attr]
    base = _peak_rss(s.p.pid)
    stack = 0xC000_0000 - 8 * 1024 * 1024  # the stack region (8 MiB, untouched: zeros)
    reply = c.ask(f"m{stack:x},200000")  # 2 MiB asked: answered in part, as the protocol allows
    assert 0 < len(reply) <= size and reply == "00" * (len(reply) // 2)
    assert c.ask(f"m{stack:x},10") == "00" * 16
    # An over-long packet (never ended for 32 MiB) is dropped as it comes and refused.
    c.s.sendall(b"$" + b"a" * (32 << 20) + b"#00")
    assert _raw_reply(c) == b"-"
    c.s.sendall(b"\xff" * (32 << 20))  # garbage outside any packet
    c.s.sendall(b"$M" + b"0" * (size + 16) + b"#00")  # over the size, ended at once
    assert _raw_reply(c) == b"-"
    assert c.ask("?") == "T05thread:2;"
    assert _peak_rss(s.p.pid) - base < 16 << 20  # held to O(PacketSize), not O(input)
    c.send("k")
    code, _, _ = s.finish()
    assert code == 137
