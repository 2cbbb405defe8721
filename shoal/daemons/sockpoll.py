"""What poll says of a socket of the socket server (daemons/sockets.py), as Linux's unix_poll,
unix_dgram_poll, tcp_poll and udp_poll do, in terms of the server's state; and with the
server's own tests for "would not give EAGAIN", so that a descriptor poll calls ready never
blocks the call that follows (and one it calls not ready would).

- Shutdown as Linux keeps it per end: a unix stream end takes its peer's shutdowns mirrored
  (the peer's SHUT_WR is this end's receive shutdown, its SHUT_RD this end's send shutdown) and
  a peer that closed shuts both; a TCP end sees the peer's SHUT_WR or close as end of data
  only. Receive shutdown: POLLIN, POLLRDNORM, POLLRDHUP; both: POLLHUP.
- A stream socket that is not connected (new, bound): POLLOUT and POLLHUP, as Linux's
  TCP_CLOSE state; a listening one: POLLIN once a connection waits to be accepted, nothing else.
- Connected: POLLIN with data; POLLOUT with room in the peer's receive buffer (or once
  sending is shut down: the send fails at once, EPIPE). Unix datagram: POLLOUT unless the
  connected destination is full (its queue or buffer); UDP: always writable.
- A pending error (SO_ERROR): POLLERR.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shoal.daemons.sockets import Sock

POLLIN, POLLOUT, POLLERR, POLLHUP = 0x1, 0x4, 0x8, 0x10
POLLRDNORM, POLLWRNORM, POLLWRBAND, POLLRDHUP = 0x40, 0x100, 0x200, 0x2000
READ = POLLIN | POLLRDNORM
STREAM, SHUT_RD, SHUT_WR = 1, 1, 2


def mask(socks: dict[int, Sock], s: Sock, room: Callable[[Sock], bool], qlen: int) -> int:
    """Socket `s`'s readiness; `room(o)`: o's receive buffer takes a byte more; `qlen`: the
    unix datagram queue's length limit."""
    m = POLLERR if s.err else 0
    if s.state == "listening":
        return m | (READ if s.queue else 0)
    unix = s.family == 1
    write = POLLOUT | POLLWRNORM | (POLLWRBAND if unix or s.type != STREAM else 0)
    peer = socks.get(s.peer) if s.peer else None
    rd, wr = bool(s.shut & SHUT_RD), bool(s.shut & SHUT_WR)
    if s.type == STREAM:
        connected = s.state == "connected"
        if connected and peer is None:  # the peer closed
            rd, wr = True, wr or unix
        elif connected and peer is not None:
            rd = rd or bool(peer.shut & SHUT_WR)
            wr = wr or (unix and bool(peer.shut & SHUT_RD))
        if (rd and wr) or not connected:
            m |= POLLHUP
        if rd:
            m |= READ | POLLRDHUP
        if s.data:
            m |= READ
        if not connected or wr or peer is None or room(peer):
            m |= write
        return m
    if rd:
        m |= READ | POLLRDHUP
    if rd and wr:
        m |= POLLHUP
    if s.dgrams:
        m |= READ
    if unix and peer is not None and (len(peer.dgrams) > qlen or not room(peer)):
        return m  # its destination is full: a send would wait
    return m | write
