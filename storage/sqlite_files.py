"""SQLite database files as `firewatch backup` and `restore` handle them: integrity,
revision and counts of a file, an online backup, whether a process has it open, and a
restore through SQLite's backup API."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatabaseFile:
    """What `firewatch backup` and `restore` report about an SQLite file."""

    integrity: str  # "ok", or SQLite's first complaint
    revision: str | None  # the Alembic revision, None when the file has none
    counts: dict[str, int]


def inspect_sqlite(path: Path) -> DatabaseFile:
    """Integrity check, schema revision and row counts of an SQLite file (read only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = str(row[0]) if row else None
        counts = {
            name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # noqa: S608
            for name in sorted(tables)
            if name != "alembic_version"
        }
        return DatabaseFile(integrity=integrity, revision=revision, counts=counts)
    finally:
        conn.close()


def sqlite_backup(source: Path, target: Path) -> None:
    """Copy a live SQLite database with the online backup API.

    The copy is one read transaction, so it is a consistent snapshot even while Firewatch
    writes (WAL mode lets writers go on meanwhile). It is written next to `target` and
    renamed into place only when complete, as a single file (no -wal).
    """
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    partial.replace(target)


def sqlite_in_use(path: Path) -> bool:
    """Whether another connection (a running Firewatch) has the database open.

    In WAL mode every open connection holds a shared lock that an exclusive-mode
    connection cannot get past, so even an idle process is seen.
    """
    if not path.exists():
        return False
    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.rollback()
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def sqlite_restore(backup: Path, target: Path) -> None:
    """Copy a backup over the database at `target` through SQLite (the backup API), so
    its journal and locks are honoured."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()
