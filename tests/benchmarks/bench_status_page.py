"""The public status page's cost per request (issue 24): the 90-day histories worked out
from 10,000 incidents' outages over 20 components, then the HTML page, the JSON document
and the Atom feed rendered.

    python -m tests.benchmarks.bench_status_page [--ci] [--outages 10000] [--rounds 200]

Reports p50 and p99 of `histories()` + rendering (target: under 50 ms) and of each part.
The page is given a week's resolved incidents (7/90 of the history's) and 5 open ones.
`--ci` (or `--quick`) is a small, fast run that only checks it works.
Exits 0 when it measured, whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
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
    return StatusIncident(incident, {rng.choice(keys): rng.choice(BAD)}, updates)


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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
