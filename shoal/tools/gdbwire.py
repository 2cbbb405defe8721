"""GDB's remote serial protocol on one TCP connection (tools/gdbstub.py serves the session):
packets with their checksums, acks and no-ack mode, Ctrl-C, and a bound on what a client can
make the host hold."""

from __future__ import annotations

import select
import socket

# The largest packet we take (advertised as qSupported's PacketSize, in hex) and the most
# bytes an m reply carries (hex doubles them): a longer read is answered in part, as the
# protocol allows, and a longer incoming packet is refused with '-' unread. The host holds
# O(PACKET_SIZE) for whatever a client sends.
PACKET_SIZE = 0x4000
MAX_READ = (PACKET_SIZE - 4) // 2
_JUNK = bytes(b for b in range(256) if b not in b"+-\x03")  # what is dropped between packets


class Wire:
    """One GDB connection's packets."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.noack = False
        self.noack_next = False  # QStartNoAckMode: no acks from the packet after its OK on
        self.buf = b""
        self._partial = b""  # an unfinished packet (at most PACKET_SIZE + 3 bytes)
        self._skipping = False  # inside an over-long packet: dropping it up to its '#'

    def replied(self) -> None:
        """A reply went out: no-ack mode starts now if it was asked for."""
        if self.noack_next:
            self.noack, self.noack_next = True, False

    def interrupted(self) -> bool:
        """Whether a Ctrl-C waits among what came in (taken)."""
        if b"\x03" in self.buf:
            self.buf = self.buf.replace(b"\x03", b"", 1)
            return True
        return False

    def poll(self) -> str | None:
        """While the chip runs: take what GDB sent, if anything; "gone" at EOF, "interrupt"
        for a Ctrl-C. Packets wait in `buf`; past a bound we stop reading and TCP holds the
        client back."""
        if len(self.buf) > 2 * PACKET_SIZE:
            return None
        r, _, _ = select.select([self.conn], [], [], 0)
        if not r:
            return None
        more = self.conn.recv(4096)
        if not more:
            return "gone"
        self.feed(more)
        return "interrupt" if self.interrupted() else None

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass

    def feed(self, more: bytes) -> None:
        """Take bytes from GDB into `buf`, which holds only whole packets, acks and Ctrl-C:
        other bytes between packets are dropped, an unfinished packet waits in `_partial`,
        and a packet longer than PACKET_SIZE is dropped as it comes and answered '-'. So the
        host holds O(PACKET_SIZE) for whatever a client sends."""
        raw, self._partial, pos = self._partial + more, b"", 0
        out = bytearray()
        while pos < len(raw):
            if self._skipping:
                end = raw.find(b"#", pos)
                if end < 0:
                    break
                self._skipping, pos = False, end + 1  # its checksum digits go as junk
                self.nak()
                continue
            start = raw.find(b"$", pos)
            keep = raw[pos:start if start >= 0 else len(raw)].translate(None, _JUNK)
            out += keep[:8] + (b"\x03" if b"\x03" in keep[8:] else b"")
            if start < 0:
                break
            end = raw.find(b"#", start)
            if (end if end >= 0 else len(raw)) - start - 1 > PACKET_SIZE:
                if end < 0:
                    self._skipping = True
                    break
                self.nak()
                pos = end + 1
                continue
            if end < 0 or len(raw) < end + 3:
                self._partial = raw[start:]
                break
            out += raw[start:end + 3]
            pos = end + 3
        self.buf += bytes(out)

    def nak(self) -> None:
        """A packet we will not act on (bad checksum, too long): GDB is told to resend."""
        if not self.noack:
            self.conn.sendall(b"-")

    def recv(self) -> bytes | None:
        """The next well-formed packet's contents (acknowledged), a b"\\x03" for Ctrl-C,
        None at EOF. A packet whose checksum is wrong is answered '-' and not acted on."""
        while True:
            self.buf = self.buf.lstrip(b"+-")
            if self.buf[:1] == b"\x03":
                self.buf = self.buf[1:]
                return b"\x03"
            if self.buf[:1] == b"$":
                end = self.buf.find(b"#")
                if end >= 0 and len(self.buf) >= end + 3:
                    data, digits = self.buf[1:end], self.buf[end + 1:end + 3]
                    self.buf = self.buf[end + 3:]
                    try:
                        good = int(digits, 16) == sum(data) & 0xFF
                    except ValueError:
                        good = False
                    if not good:  # not acted on ('-' asks GDB to resend; no-ack mode: dropped)
                        self.nak()
                        continue
                    if not self.noack:
                        self.conn.sendall(b"+")
                    return data
            more = self.conn.recv(65536)
            if not more:
                return None
            self.feed(more)

    def send(self, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        out = b"$" + raw + b"#" + f"{sum(raw) & 0xFF:02x}".encode()
        self.conn.sendall(out)
        if not self.noack:  # wait for the ack (GDB resends on a '-')
            while True:
                while not self.buf:
                    more = self.conn.recv(65536)
                    if not more:
                        raise ConnectionError("gdb closed the connection")
                    self.feed(more)
                if self.buf[:1] == b"$":  # a new packet: GDB has ours
                    return
                c, self.buf = self.buf[:1], self.buf[1:]
                if c == b"+":
                    return
                if c == b"-":
                    self.conn.sendall(out)
