"""The public status page's cost per request (issue 24): the 90-day histories worked out
from 10,000 incidents' outages over 20 components, then the HTML page, the JSON document
and the Atom feed rendered.

    python -m tests.benchmarks.bench_status_page [--ci] [--outages 10000] [--rounds 200]

Reports p50 and p99 of `histories()` + rendering (target: under 50 ms) and of each part;
then the whole path: that many incidents stored (SQLite, and PostgreSQL with
`--database-url` or FIREWATCH_TEST_DATABASE_URL), the page built from the database by the
service, uncached, and rendered.
The page is given a week's resolved incidents (7/90 of the history's) and 5 open ones.
`--ci` (or `--quick`) is a small, fast run that only checks it works.
Exits 0 when it measured, whatever the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.incident import ChannelStatus, Incident, Kind, Status
from bot.domain.status_history import Outage, PublicPage, histories
from bot.domain.status_page import (
    Component,
    ComponentState,
    PublicUpdate,
    StatusIncident,
    status_document,
)
from bot.web.status_atom import render_atom
from bot.web.status_html import render_html
from tests.benchmarks.common import fresh_database

TARGET_MS = 50.0
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Paris")
BAD = [state for state in ComponentState if state is not ComponentState.OPERATIONAL]


def components(count: int) -> list[Component]:
    return [
        Component(key=f"c{n}", name=f"Component {n}", group=f"Group {n % 4}") for n in range(count)
    ]


def outages(keys: list[str], count: int, rng: random.Random) -> list[Outage]:
    found = []
    for _ in range(count):
        start = NOW - timedelta(minutes=rng.randint(0, 95 * 24 * 60))
        end = start + timedelta(minutes=rng.randint(1, 8 * 60))
        found.append(Outage(rng.choice(keys), rng.choice(BAD), start, end if end < NOW else None))
    return found


def open_incident(number: int, keys: list[str], rng: random.Random) -> StatusIncident:
    declared = NOW - timedelta(minutes=30 + number)
    incident = Incident(
        id=number,
        title="internal",
        nature="internal",
        discovery="monitoring_alert",
        impact="internal",
        evidence="",
        service=None,
        severity="sev2",
        status=Status.IDENTIFIED,
        kind=Kind.INCIDENT,
        reporter_id="U0",
        declared_at=declared,
        channel_status=ChannelStatus.CREATED,
    )
    updates = [
        PublicUpdate(declared + timedelta(minutes=n * 5), Status.INVESTIGATING, f"Update {n}.")
        for n in range(4)
    ]
    return StatusIncident.of(incident, {rng.choice(keys): rng.choice(BAD)}, updates)


def past_incident(number: int, key: str) -> dict[str, Any]:
    started = NOW - timedelta(hours=number + 2)
    at = [started + timedelta(minutes=n * 20) for n in range(4)]
    iso = [moment.isoformat(timespec="seconds").replace("+00:00", "Z") for moment in at]
    return {
        "id": f"INC-{number}",
        "name": f"Partial outage: {key}",
        "status": "resolved",
        "started_at": iso[0],
        "resolved_at": iso[-1],
        "components": {key: "partial_outage"},
        "updates": [
            {"at": moment, "status": "investigating", "text": f"What we know, {moment}."}
            for moment in iso
        ],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(outage_count: int, rounds: int, component_count: int = 20) -> dict[str, list[float]]:
    rng = random.Random(24)
    parts = components(component_count)
    keys = [part.key for part in parts]
    history = outages(keys, outage_count, rng)
    current = [open_incident(10_000 + n, keys, rng) for n in range(5)]
    document = status_document(parts, current, [], {}, NOW)
    # the provider lists a week of resolved incidents: 7/90 of the history's
    past = [past_incident(9_000 + n, rng.choice(keys)) for n in range(outage_count * 7 // 90)]
    times: dict[str, list[float]] = {
        "total": [],
        "histories": [],
        "html": [],
        "json": [],
        "atom": [],
    }

    def timed(name: str, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = work(*args, **kwargs)
        times[name].append((time.perf_counter() - start) * 1000)
        return result

    for _ in range(rounds):
        start = time.perf_counter()
        found = timed("histories", histories, parts, history, now=NOW, zone=ZONE)
        page = PublicPage(document=document, histories=found, past_incidents=past)
        timed("html", render_html, page)
        timed("json", json.dumps, page.document)
        timed("atom", render_atom, page, base_url="https://status.example.com")
        times["total"].append((time.perf_counter() - start) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ci", "--quick", action="store_true", help="small and fast")
    parser.add_argument("--outages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("FIREWATCH_TEST_DATABASE_URL"),
        help="PostgreSQL server to measure on as well (a new database is made)",
    )
    args = parser.parse_args(argv)
    outage_count, rounds = (1_000, 10) if args.ci else (args.outages, args.rounds)
    times = run(outage_count, rounds)
    print(f"status page: {outage_count} outages over 20 components, 90 days, {rounds} rounds")
    for name, values in times.items():
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        print(f"  {name:>9}: p50 {p50:6.1f} ms, p99 {p99:6.1f} ms")
    p99 = percentile(times["total"], 0.99)
    verdict = "met" if p99 < TARGET_MS else "MISSED"
    print(f"target histories()+render p99 < {TARGET_MS:.0f} ms: {verdict}")
    stored = 500 if args.ci else args.outages
    # A history of three years, then the worst case: all of it inside the 90-day window.
    spans = (90,) if args.ci else (3 * 365, 90)
    for name, given in (("SQLite", None), ("PostgreSQL", args.database_url)):
        if name == "PostgreSQL" and not given:
            continue
        for span in spans:
            first, *values = asyncio.run(stored_run(given, stored, max(rounds // 4, 5), span))
            p50, p99 = statistics.median(values), percentile(values, 0.99)
            met = "met" if p99 < TARGET_MS else "MISSED"
            print(
                f"from {name}, {stored} incidents over {span} days: first build {first:.1f} ms;"
                f" then built and rendered p50 {p50:.1f} ms, p99 {p99:.1f} ms; verdict: {met}"
            )
    return 0


async def seed(db: Any, count: int, keys: list[str], rng: random.Random, span_days: int) -> None:
    """`count` incidents over the last `span_days` days, each affecting one or two
    components with three public updates, all resolved but the last 5 (with a span of 90
    days, the worst case for the page: the whole history inside its window)."""
    from sqlalchemy import insert

    from storage.models import IncidentRow
    from storage.status_models import IncidentComponentRow, PublicUpdateRow

    incidents, effects, updates = [], [], []
    for n in range(1, count + 1):
        declared = NOW - timedelta(minutes=rng.randint(60, span_days * 24 * 60))
        ended = None if n > count - 5 else declared + timedelta(minutes=rng.randint(5, 240))
        incidents.append(
            {
                "id": n,
                "declare_key": f"bench-{n}",
                "kind": "incident",
                "title": "internal",
                "nature": "internal",
                "discovery": "monitoring_alert",
                "impact": "internal",
                "evidence": "",
                "severity": "sev2",
                "status": "resolved" if ended else "identified",
                "reporter_id": "U0",
                "checklist": {},
                "channel_status": "none",
                "declared_at": declared,
                "resolved_at": ended,
                "updated_at": ended or declared,
            }
        )
        for key in rng.sample(keys, rng.choice((1, 2))):
            state = rng.choice(BAD[1:]).value
            effects.append(
                {
                    "incident_id": n,
                    "component": key,
                    "state": state,
                    "worst": state,
                    "since": declared,
                    "updated_at": declared,
                }
            )
        for u in range(3):
            at = declared + timedelta(minutes=u)
            updates.append(
                {"incident_id": n, "at": at, "status": "identified", "text": f"u{u}", "actor": "U0"}
            )
    async with db.session() as session:
        for table, rows in ((IncidentRow, incidents), (IncidentComponentRow, effects)):
            for start in range(0, len(rows), 2000):
                await session.execute(insert(table), rows[start : start + 2000])
        for start in range(0, len(updates), 2000):
            await session.execute(insert(PublicUpdateRow), updates[start : start + 2000])


async def stored_run(given: str | None, count: int, rounds: int, span_days: int) -> list[float]:
    """ms per build: the page built from the database by the service (its page cache off;
    the history of ended incidents is read on the first build and then only when it
    changes) and rendered as HTML, JSON and Atom. The first build comes first. SQLite
    in a temporary file, or a new PostgreSQL database beside `given`."""
    from bot.domain.clock import FrozenClock
    from bot.domain.policy import Policy
    from bot.policy.loader import load_default_policy, merge_policy_data
    from bot.services.status_page import StatusPageService
    from storage import migrate
    from storage.engine import Database

    parts = components(20)
    base = load_default_policy().model_dump(mode="json", exclude_none=True)
    extra = {"components": [c.model_dump(exclude_none=True) for c in parts]}
    policy = Policy.model_validate(merge_policy_data(base, extra))
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database(given, Path(tmp), "status") as url:
            db = Database(url)
            try:
                await migrate.upgrade(db.engine)
                await seed(db, count, [c.key for c in parts], random.Random(24), span_days)
                service = StatusPageService(db, lambda: policy, FrozenClock(NOW), zone=ZONE)
                # As `firewatch run` does once started: what start-up built is kept out
                # of the collector's full passes (bot/cli/main.py).
                gc.collect()
                gc.freeze()
                times = []
                for _ in range(rounds + 1):
                    start = time.perf_counter()
                    page = await service.public_page()
                    render_html(page)
                    json.dumps(page.document)
                    render_atom(page, base_url="https://status.example.com")
                    times.append((time.perf_counter() - start) * 1000)
                return times
            finally:
                await db.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
