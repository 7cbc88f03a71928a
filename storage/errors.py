"""Which database errors mean "the database cannot be reached right now" (a restart, a
failover, a network cut) rather than a fault of the statement: what a caller may wait
out and ask again, where the statement is one it may repeat."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# SQLSTATE classes: 08 connection exception; 57P01 admin shutdown, 57P02 crash shutdown,
# 57P03 cannot connect now (the server is starting up or shutting down).
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")


def is_unreachable(exc: BaseException) -> bool:
    """Whether `exc`, or an error it wraps, says the database was not there to answer."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):  # refused, reset, unreachable, timed out
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNREACHABLE_STATES):
            return True
        wrapped = current.orig if isinstance(current, DBAPIError) else None
        current = wrapped or current.__cause__ or current.__context__
    return False


def reason(exc: BaseException) -> str:
    """One line naming what went wrong, without the statement or its parameters."""
    root: BaseException = exc
    while isinstance(root, DBAPIError) and root.orig is not None:
        root = root.orig
    cause = root.__cause__ if root.__cause__ is not None else root
    first = (str(cause).splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}"[:200]
