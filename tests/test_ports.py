"""The port a test gives a server it starts: free, and out of the kernel's ephemeral
range, so no outgoing connection takes it before the server binds it."""

from __future__ import annotations

import random
import socket

from tests.ports import LOOPBACK, LOWEST, ephemeral_floor, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_listened_on() -> None:
    for _ in range(20):
        port = free_port()
        assert LOWEST <= port < ephemeral_floor()
        with socket.socket() as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((LOOPBACK, port))
            server.listen()


def test_a_port_in_use_is_passed_over() -> None:
    taken = free_port(rng=random.Random(7))
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((LOOPBACK, taken))
        server.listen()
        other = free_port(rng=random.Random(7))  # the same first pick
    assert other != taken
    assert LOWEST <= other < ephemeral_floor()
