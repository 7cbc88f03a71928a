"""A free TCP port on loopback, for a server a test starts in another process.

Binding port 0 and closing the socket gives a port from the kernel's ephemeral range,
and the kernel hands the same range out as the local port of every outgoing connection
(to PostgreSQL, to the emulator, from any process). Between our close and the server's
own bind another connection can take it, and the server exits with "address already in
use" (seen with the two suites running side by side). Ports below that range are never
handed out that way: pick one of those at random, and check that it can be bound.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"
#: The bottom of the range we pick from; the top is just below the ephemeral range.
LOWEST = 20000


def ephemeral_floor() -> int:
    """The lowest port the kernel may give an outgoing connection (Linux's setting;
    IANA's 49152 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK, *, rng: random.Random | None = None) -> int:
    """A port on `host` that is free now and that no outgoing connection will take."""
    pick = rng or random.SystemRandom()
    top = ephemeral_floor() - 1
    if top - LOWEST >= 100:
        for _ in range(100):
            port = pick.randint(LOWEST, top)
            if _bindable(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # the kernel's pick
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
