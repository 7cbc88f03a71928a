"""Figure 4: scale of the record — `/incident list`, the weekly digest and an incident
export with 100,000 incidents and 1,000,000 timeline entries on SQLite.

    python -m tests.benchmarks.bench_scale [--quick] [--incidents N] [--entries-per-incident K]
        [--keep PATH]

The record is generated with SQLAlchemy Core executemany in batches into a freshly
migrated SQLite database (hash-chain values are dummy strings: nothing here verifies
them). `/incident list` is timed in-process (IncidentService.list_open + the Block Kit
render) and end to end over signed HTTP against `python -m bot run` on that database.
The weekly digest (issue 7) is timed for the record's last week (about 2,000 incidents).
The export (issue 6) is reported as not available until it exists.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from bot.domain.clock import SystemClock
from bot.domain.incident import Kind, Status
from bot.policy.loader import load_policy
from bot.services.incidents import IncidentService
from bot.slack.blocks import incident as blocks
from storage import migrate
from storage.engine import Database
from storage.models import IncidentRow, TimelineEntryRow
from tests.benchmarks.common import (
    NOT_AVAILABLE,
    PYTHON,
    REPO,
    FlowError,
    LoadClient,
    RequestFactory,
    Table,
    banner,
    emulator,
    percentile,
    run_main,
    running,
    start_firewatch,
    verdict,
    workdir,
)

TARGET_S = 1.0
BATCH = 20_000
OPEN_EVERY = 200  # one incident in 200 is still open (500 of 100,000)
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
DUMMY_HASH = "f" * 64


async def migrate_to_head(url: str) -> None:
    db = Database(url)
    try:
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()


def generate(path: Path, incidents: int, per_incident: int) -> float:
    """Fill the record; returns the seconds it took."""
    started = time.perf_counter()
    engine = create_engine(f"sqlite:///{path}")
    base = datetime(2024, 1, 1, tzinfo=UTC)
    open_statuses = [s.value for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]
    with engine.begin() as conn:
        conn.execute(text("PRAGMA synchronous=OFF"))
        rows: list[dict[str, Any]] = []
        for n in range(1, incidents + 1):
            declared = base + timedelta(minutes=5 * n)
            is_open = n % OPEN_EVERY == 0
            rows.append(
                {
                    "id": n,
                    "declare_key": f"view:VSCALE{n:08d}",
                    "kind": Kind.NON_INCIDENT.value if n % 10 == 3 else Kind.INCIDENT.value,
                    "title": f"Scale incident {n}: checkout errors",
                    "nature": "HTTP 500 on /checkout for a third of requests",
                    "discovery": "monitoring_alert",
                    "impact": "Customers cannot pay",
                    "evidence": "https://grafana.example.com/d/checkout",
                    "service": f"service-{n % 40}",
                    "severity": SEVERITIES[n % 4],
                    "status": open_statuses[n % len(open_statuses)]
                    if is_open
                    else Status.CLOSED.value,
                    "reporter_id": f"U{n % 300:08d}",
                    "checklist": {"answers": ["production"], "qualifies": True, "failures": []},
                    "channel_status": "created",
                    "channel_id": f"C{n:09d}",
                    "channel_name": f"inc-{n}-checkout-errors",
                    "declared_at": declared,
                    "response_deadline": declared + timedelta(hours=1),
                    "acknowledged_at": declared + timedelta(minutes=n % 30),
                    "resolved_at": None if is_open else declared + timedelta(hours=3),
                    "closed_at": None if is_open else declared + timedelta(hours=6),
                    "updated_at": declared + timedelta(hours=6),
                }
            )
            if len(rows) >= BATCH:
                conn.execute(insert(IncidentRow), rows)
                rows.clear()
        if rows:
            conn.execute(insert(IncidentRow), rows)
        entries: list[dict[str, Any]] = []
        for n in range(1, incidents + 1):
            declared = base + timedelta(minutes=5 * n)
            for seq in range(1, per_incident + 1):
                entries.append(
                    {
                        "incident_id": n,
                        "seq": seq,
                        "at": declared + timedelta(minutes=seq),
                        "kind": "declared" if seq == 1 else "note",
                        "actor": f"U{(n + seq) % 300:08d}",
                        "text": f"entry {seq} of incident {n}: looked at the dashboards",
                        "data": {},
                        "source_key": None,
                        "prev_hash": DUMMY_HASH,
                        "hash": DUMMY_HASH,
                    }
                )
                if len(entries) >= BATCH:
                    conn.execute(insert(TimelineEntryRow), entries)
                    entries.clear()
        if entries:
            conn.execute(insert(TimelineEntryRow), entries)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


async def time_digest(db: Database, policy: Any, end: datetime, runs: int) -> list[float]:
    """The weekly digest (issue 7) for the week ending at `end`: the same calls as the
    scheduled post (DigestService.build + the Block Kit render), in-process."""
    from zoneinfo import ZoneInfo

    from bot.services.digest import DigestService
    from bot.slack.blocks.digest import digest_message

    service = DigestService(db, lambda: policy, SystemClock())
    start = end - timedelta(days=7)

    async def digest() -> None:
        built = await service.build(start, end)
        digest_message(built, policy, zone=ZoneInfo("UTC"), meeting=end.isoformat())

    return await timed(digest, runs)


async def time_export(db: Database, policy: Any, number: int, runs: int) -> list[float] | None:
    """An incident export (issue 6): the same calls as `firewatch export`, in-process.
    None while the export services do not exist."""
    try:
        from bot.services.changes import ChangeService  # type: ignore[import-not-found,unused-ignore]
        from bot.services.export import (  # type: ignore[import-not-found,unused-ignore]
            incident_record,
            to_markdown,
        )
        from bot.services.timeline import TimelineService  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    clock = SystemClock()
    incidents = IncidentService(db, lambda: policy, clock, broadcast_channel=None)
    timeline = TimelineService(db, lambda: policy, clock, broadcast_channel=None)
    changes = ChangeService(db, lambda: policy, clock)

    async def export() -> None:
        incident = await incidents.get(number)
        entries = await timeline.entries(number)
        record = incident_record(incident, entries, await changes.for_incident(number))
        to_markdown(record)

    return await timed(export, runs)


def time_export_cli(url: str, number: int, directory: Path, runs: int) -> list[float] | None:
    """`firewatch export N` end to end, as a user runs it (interpreter start-up included)."""
    if not feature_present("export"):
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWATCH_", "SLACK_"))}
    env |= {"FIREWATCH_DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [PYTHON, "-m", "bot", "export", str(number), "-o", str(directory / "export.md")],
            cwd=directory,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        out.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise FlowError(f"firewatch export exited {done.returncode}: {done.stderr[-500:]!r}")
    return out


def feature_present(name: str) -> bool:
    from bot.cli.main import build_parser

    actions = [a for a in build_parser()._actions if a.dest == "command"]
    return any(name in getattr(a, "choices", {}) for a in actions)


async def main_async(args: argparse.Namespace) -> int:
    banner("Figure 4 — scale of the record", args.quick)
    runs = 5 if args.quick else 20
    async with workdir("fw-bench-scale-") as tmp:
        path = Path(args.keep) if args.keep else tmp / "scale.db"
        url = f"sqlite+aiosqlite:///{path}"
        reuse = bool(args.keep and path.exists())
        await migrate_to_head(url)  # a kept record may predate the newest migration
        if not reuse:
            took = await asyncio.to_thread(
                generate, path, args.incidents, args.entries_per_incident
            )
            total = args.incidents * args.entries_per_incident
            print(
                f"  generated {args.incidents:,} incidents and {total:,} timeline entries "
                f"in {took:.1f} s ({path.stat().st_size / 1e6:.0f} MB)",
                flush=True,
            )
        db = Database(url)
        policy = load_policy(None).policy
        service = IncidentService(db, lambda: policy, SystemClock(), broadcast_channel=None)

        async def list_command() -> None:
            incidents = await service.list_open()
            blocks.incident_list(incidents, policy, service.clock.now())

        try:
            cold = await timed(list_command, 1)
            warm = await timed(list_command, runs)
            shown = len(await service.list_open())
            last_declared = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * args.incidents)
            digest = await time_digest(db, policy, last_declared, runs)
            middle = args.incidents // 2
            export = await time_export(db, policy, middle, runs)
        finally:
            await db.dispose()

        export_cli = await asyncio.to_thread(
            time_export_cli, url, middle, tmp, 1 if args.quick else 5
        )
        async with emulator() as slack:
            server = await start_firewatch(slack.api_url, url, tmp, ready_timeout=60)
            factory = RequestFactory()
            async with running(server), LoadClient(server.events_url) as client:
                http: list[float] = []
                for _ in range(runs):
                    request = await factory.command("list")
                    started = time.perf_counter()
                    reply = await client.post(request)
                    http.append(time.perf_counter() - started)
                    if reply.status != 200 or "Open incidents" not in reply.text:
                        raise FlowError(
                            f"/incident list answered {reply.status}: {reply.text[:200]}"
                        )

    table = Table(
        f"Figure 4 — {args.incidents:,} incidents, "
        f"{args.incidents * args.entries_per_incident:,} timeline entries, SQLite (ms)",
        ["operation", "cold", "p50", "max", "target", "verdict"],
    )

    def row(name: str, first: float, times: Sequence[float]) -> None:
        worst = max([first, *times])
        table.add(
            name,
            first * 1000,
            percentile(times, 50) * 1000,
            worst * 1000,
            f"< {TARGET_S * 1000:g}",
            verdict(worst < TARGET_S),
        )

    row(f"/incident list in-process ({shown} shown)", cold[0], warm)
    row("/incident list over HTTP (acknowledged)", http[0], http[1:] or http)
    for name, times in (
        ("weekly digest (issue 7)", digest),
        ("incident export in-process (issue 6)", export),
        ("`firewatch export` CLI, process start included", export_cli),
    ):
        if times:
            row(name, times[0], times)
        else:
            note = NOT_AVAILABLE
            table.add(name, "", "", "", f"< {TARGET_S * 1000:g}", note)
    table.print()
    return 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 2,000 incidents")
    parser.add_argument("--incidents", type=int, default=None)
    parser.add_argument("--entries-per-incident", type=int, default=10)
    parser.add_argument("--keep", default=None, help="generate into (or reuse) this file")
    args = parser.parse_args(argv)
    if args.incidents is None:
        args.incidents = 2_000 if args.quick else 100_000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_main(lambda: main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
