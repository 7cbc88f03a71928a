"""Who may read the operational endpoints (/metrics and the details of /health).

With FIREWATCH_METRICS_TOKEN set, a request must carry `Authorization: Bearer <token>`
(compared in constant time), wherever it comes from. Without it, only loopback clients
(127.0.0.0/8, ::1) are served: the peer address is the socket's, never a header such as
X-Forwarded-For, which any client can write. A proxy on the same host therefore counts as
loopback: behind one, set the token.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

Verdict = Literal["allowed", "unauthorized", "forbidden"]


def is_loopback(peer: Any) -> bool:
    """Whether a socket's peer name (`(host, port, ...)`, or a host) is a loopback
    address; an IPv4-mapped IPv6 address counts as its IPv4 one. Unix sockets (a str
    path, or an empty peer name) are local too."""
    if isinstance(peer, tuple | list):
        peer = peer[0] if peer else None
    if peer is None:
        return False
    if isinstance(peer, str) and (peer == "" or peer.startswith("/")):
        return True  # a Unix socket: only this host can connect
    try:
        address = ipaddress.ip_address(str(peer).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def peer_of(request: web.Request) -> Any:
    """The connected socket's peer name (not `request.remote`, which a forwarded-headers
    middleware may rewrite)."""
    transport = request.transport
    return transport.get_extra_info("peername") if transport is not None else None


@dataclass(frozen=True)
class OperatorAccess:
    """The rule for /metrics and /health's details. `token`: FIREWATCH_METRICS_TOKEN."""

    token: str | None = None

    def verdict(self, request: web.Request) -> Verdict:
        if self.token:
            given = request.headers.get("Authorization", "").encode()
            expected = f"Bearer {self.token}".encode()
            return "allowed" if hmac.compare_digest(given, expected) else "unauthorized"
        return "allowed" if is_loopback(peer_of(request)) else "forbidden"

    def allows(self, request: web.Request) -> bool:
        return self.verdict(request) == "allowed"

    @staticmethod
    def refusal(verdict: Verdict) -> web.Response:
        """401 (with `WWW-Authenticate: Bearer`) for a missing or wrong token; 403 when no
        token is configured and the client is not on this host: no credential would do."""
        if verdict == "unauthorized":
            return web.Response(
                status=401,
                text="unauthorized: send Authorization: Bearer <FIREWATCH_METRICS_TOKEN>\n",
                headers={"WWW-Authenticate": 'Bearer realm="firewatch"'},
            )
        return web.Response(
            status=403,
            text="forbidden: served to loopback clients only unless FIREWATCH_METRICS_TOKEN "
            "is set\n",
        )
