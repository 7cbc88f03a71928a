"""Which aiosqlite adapter the engine uses: the one-trip adapter, or SQLAlchemy's own.

storage/sqlite_one_trip.py runs a whole statement as one call on aiosqlite's thread. To
do so it subclasses SQLAlchemy's aiosqlite adapter classes, fills their slots itself and
calls aiosqlite's private `Connection._execute`: none of that is public API, and a release
of either library may rename or drop it (constraints.txt pins the tested versions, but a
deployment may install others). Before the engine is created, `one_trip_dbapi` checks
that every internal the adapter touches is there as expected; when one is not, it logs
ONE warning line naming it and the engine uses SQLAlchemy's stock aiosqlite adapter —
slower under load (docs/performance.md), never wrong.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

# (module, dotted attribute) pairs storage/sqlite_one_trip.py relies on.
REQUIRED: tuple[tuple[str, str], ...] = (
    ("aiosqlite.core", "Connection._execute"),
    ("aiosqlite.core", "Connection._conn"),
    ("sqlalchemy.connectors.asyncio", "AsyncAdapt_dbapi_connection._handle_exception"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_connection._cursor_cls"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_connection.commit"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_connection.rollback"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_cursor._async_soft_close"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_dbapi.connect"),
    ("sqlalchemy.util", "EMPTY_DICT"),
    ("sqlalchemy.util.concurrency", "await_"),
)
# Slots the one-trip cursor and connection fill in themselves instead of calling the
# parent's __init__ (which would open a cursor: a round trip).
CURSOR_SLOTS = frozenset(
    {"_adapt_connection", "_connection", "_cursor", "_rows", "_soft_closed_memoized"}
)
CONNECTION_SLOTS = frozenset({"_connection", "_execute_mutex"})


def _attribute(module: str, dotted: str) -> Any:
    value: Any = importlib.import_module(module)
    for name in dotted.split("."):
        value = getattr(value, name)
    return value


def _slots(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())}


def probe() -> str | None:
    """What is not as the one-trip adapter expects, or None when everything is."""
    for module, dotted in REQUIRED:
        try:
            _attribute(module, dotted)
        except (ImportError, AttributeError):
            return f"{module}.{dotted} is missing"
    aio = "sqlalchemy.dialects.sqlite.aiosqlite"
    for cls_name, slots in (
        ("AsyncAdapt_aiosqlite_cursor", CURSOR_SLOTS),
        ("AsyncAdapt_aiosqlite_connection", CONNECTION_SLOTS),
    ):
        missing = slots - _slots(_attribute(aio, cls_name))
        if missing:
            return f"{aio}.{cls_name} has no slot {', '.join(sorted(missing))}"
    if list(inspect.signature(_attribute(aio, "AsyncAdapt_aiosqlite_dbapi")).parameters) != [
        "aiosqlite",
        "sqlite",
    ]:
        return f"{aio}.AsyncAdapt_aiosqlite_dbapi no longer takes (aiosqlite, sqlite)"
    try:
        importlib.import_module("storage.sqlite_one_trip")
    except Exception as error:  # any failure to build the classes means: do not use them
        return f"storage.sqlite_one_trip does not import ({type(error).__name__}: {error})"
    return None


@cache
def _verdict() -> str | None:
    """The probe, once a process: the warning is one line however many engines follow."""
    reason = probe()
    if reason is not None:
        log.warning(
            "SQLite: using SQLAlchemy's stock aiosqlite adapter (slower under load), because"
            " %s; install the versions in constraints.txt for the one-trip adapter",
            reason,
        )
    return reason


def one_trip_dbapi() -> Any | None:
    """The one-trip DBAPI for `create_async_engine(module=...)`, or None: use the stock one."""
    if _verdict() is not None:
        return None
    from storage.sqlite_one_trip import OneTripDBAPI

    return OneTripDBAPI()
