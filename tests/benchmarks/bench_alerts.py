"""Figure 7: alerts in (issue 22) — Alertmanager webhooks straight at Firewatch, and
10,000 alerts through the real Alertmanager in one minute.

    python -m tests.benchmarks.bench_alerts [--quick] [--rate 200] [--seconds 60]
        [--database-url postgresql+asyncpg://user@127.0.0.1/db] [--replicas N]
        [--alerts 10000]

A. Webhooks straight at Firewatch (`python -m bot run`, FIREWATCH_ALERTMANAGER_TOKEN set):
   open-loop POSTs of Alertmanager-shaped bodies built from
   tests/fixtures/alerts/alertmanager_firing.json — two new firings each, spread over
   `--groups` group keys, and every tenth request a resend of a body sent about a second
   before — at `--rate` for `--seconds`, with the bearer token. The answers are measured
   beside the acknowledgement floor of figure 1 (a bare Bolt app with
   process_before_response=True acknowledging `/incident list` at the same rate), and
   what was stored (the `alerts` and `alert_groups` tables) and what Slack was asked to
   post and update is counted: every firing stored once, and cards bounded by the
   policy's `alerts.storm.cards_per_minute` per channel (plus the storm card), never one
   per alert.
B. `--alerts` alerts through the real Alertmanager (tests/alerts/alertmanager.py), pushed
   in batches over `--spread` seconds, grouped by a `service` label into `--am-groups`
   groups (group_interval 1 s; repeat_interval 1 h, so an unchanged group is not sent
   again — `--repeat-interval 1ms` resends every group every tick): how long after the
   last push every card in Slack shows its group's right firing count (own cards, and
   the storm card for the groups beyond the bound), how many messages that took, and
   what was stored.

Each part runs on a database of its own: a temporary SQLite file, or with
--database-url a fresh PostgreSQL database created beside the one named (and dropped at
the end), so a shared database is left as it was. A lost or refused answer, an alert not
stored or stored twice, cards beyond the bound, or cards never right exit non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.emulator import SlackEmulator
from bot.policy.loader import load_default_policy
from storage.alert_models import AlertGroupRow, AlertRow, AlertStormRow
from storage.engine import Database
from tests.alerts.alertmanager import Alertmanager
from tests.benchmarks.common import (
    REPO,
    REQUEST_TIMEOUT,
    FlowError,
    LoadClient,
    Prepared,
    RequestFactory,
    Sample,
    Table,
    banner,
    emulator,
    failures,
    fresh_database,
    open_loop,
    run_main,
    running,
    running_all,
    start_baseline,
    start_replicas,
    summary_ms,
    verdict,
    workdir,
)

FIXTURE = REPO / "tests" / "fixtures" / "alerts" / "alertmanager_firing.json"
AM_TOKEN = "bench-alertmanager-bearer-token-0123456789"
CHANNEL = "#incidents"  # FIREWATCH_BROADCAST_CHANNEL: where every group goes (no routes)
CARD_KINDS = ("chat.postMessage", "chat.update")
FLOOR = "bolt-pbr"
RESEND_EVERY = 10  # every tenth request resends an earlier body
WINDOW_S = 10.0  # "busiest 10 seconds" of the channel
ECHO_INTERVAL_S = 1.0  # FIREWATCH_ECHO_INTERVAL_SECONDS as run (the default)
DEFAULT_CARDS_PER_MINUTE = load_default_policy().alerts.storm.cards_per_minute
TARGET_P50_RATIO = 2.0
TARGET_P99_RATIO = 3.0
SERVICE = re.compile(r"\b(svc-\d+):")
COUNTS = re.compile(r"(\d+) of (\d+) alerts? firing")
STORM = re.compile(r"^Alert storm: (\d+) more alert groups \((\d+) alerts firing\)")


# --- databases ----------------------------------------------------------------------------


@dataclass
class Stored:
    alerts: int  # rows in `alerts`
    distinct: int  # distinct (source, fingerprint, starts_at)
    fingerprints: set[str]
    received: int  # how many times the notifications named them
    groups: int
    own_cards: int  # groups with a card of their own posted
    storm_groups: int  # groups counted on a storm card
    storms: int
    firing: dict[str, int]  # group key -> firing count


async def read_stored(database_url: str) -> Stored:
    db = Database(database_url)
    try:
        async with db.session(write=False) as session:
            rows = (
                await session.execute(
                    select(AlertRow.source, AlertRow.fingerprint, AlertRow.starts_at)
                )
            ).all()
            received = (await session.execute(select(func.sum(AlertRow.received)))).scalar()
            groups = (
                await session.execute(
                    select(
                        AlertGroupRow.group_key,
                        AlertGroupRow.firing,
                        AlertGroupRow.card_ts,
                        AlertGroupRow.storm_id,
                    )
                )
            ).all()
            storms = (await session.execute(select(func.count(AlertStormRow.id)))).scalar()
    finally:
        await db.dispose()
    return Stored(
        alerts=len(rows),
        distinct=len({tuple(r) for r in rows}),
        fingerprints={r[1] for r in rows},
        received=int(received or 0),
        groups=len(groups),
        own_cards=sum(1 for g in groups if g.card_ts is not None and g.storm_id is None),
        storm_groups=sum(1 for g in groups if g.storm_id is not None),
        storms=int(storms or 0),
        firing={g.group_key: int(g.firing) for g in groups},
    )


# --- what reached Slack -------------------------------------------------------------------


@dataclass
class SlackCount:
    posts: int
    updates: int
    refused: int  # calls Slack did not accept
    busiest: float  # messages/s accepted into the channel over the busiest WINDOW_S

    @property
    def messages(self) -> int:
        return self.posts + self.updates


def card_calls(slack: SlackEmulator, since: int = 0) -> SlackCount:
    calls = [c for c in slack.calls[since:] if c.method in CARD_KINDS]
    accepted = [c for c in calls if c.ok]
    channel = slack.channel_by_name(CHANNEL.lstrip("#"))
    times = sorted(
        c.at for c in accepted if channel is not None and c.response.get("channel") == channel.id
    )
    best, lo = 0, 0
    for hi, at in enumerate(times):
        while at - times[lo] >= WINDOW_S:
            lo += 1
        best = max(best, hi - lo + 1)
    return SlackCount(
        posts=sum(1 for c in accepted if c.method == "chat.postMessage"),
        updates=sum(1 for c in accepted if c.method == "chat.update"),
        refused=len(calls) - len(accepted),
        busiest=best / WINDOW_S,
    )


async def cards_waiting(database_url: str) -> int:
    """Cards not yet told as stored: an update waiting, or a card of its own (or a storm
    card) not posted yet."""
    db = Database(database_url)
    try:
        async with db.session(write=False) as session:
            groups = await session.execute(
                select(func.count()).where(
                    AlertGroupRow.card_queued.is_(True)
                    | (AlertGroupRow.storm_id.is_(None) & AlertGroupRow.card_ts.is_(None))
                )
            )
            storms = await session.execute(
                select(func.count()).where(
                    AlertStormRow.card_queued.is_(True) | AlertStormRow.card_ts.is_(None)
                )
            )
            return int(groups.scalar_one()) + int(storms.scalar_one())
    finally:
        await db.dispose()


async def settle(
    slack: SlackEmulator, database_url: str, idle: float, limit: float
) -> float | None:
    """Wait until no card is waiting in the database and Slack has had no call for `idle`
    seconds; seconds until the last call (None: not settled within `limit`)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    seen, last = len(slack.calls), loop.time()
    while loop.time() - start < limit:
        await asyncio.sleep(0.25)
        if len(slack.calls) != seen:
            seen, last = len(slack.calls), loop.time()
        elif loop.time() - last >= idle and not await cards_waiting(database_url):
            return max(0.0, last - start)
    return None


def bound(cards_per_minute: int, seconds: float) -> int:
    """New cards the one channel may get in `seconds`: `cards_per_minute` in any minute,
    plus its storm card (one while the storm lasts)."""
    return cards_per_minute * max(1, math.ceil(seconds / 60)) + 1


# --- part A: webhooks straight at Firewatch -----------------------------------------------


@dataclass
class Webhooks:
    """Request bodies, built before the clock starts, and what they should store."""

    bodies: list[bytes] = field(default_factory=list)
    fingerprints: set[str] = field(default_factory=set)
    carries: list[list[str]] = field(default_factory=list)  # each body's fingerprints
    group_keys: set[str] = field(default_factory=set)
    resends: int = 0


def group_key(service: str) -> str:
    return f'{{}}:{{alertname="HighErrorRate", service="{service}"}}'


def build_webhooks(tag: str, count: int, groups: int, rate: float) -> Webhooks:
    """`count` bodies shaped like the captured fixture: each fresh one carries its own
    firings (new fingerprints) in group `n % groups`; every RESEND_EVERY-th is an
    earlier body sent again (about a second earlier, as Alertmanager resends a group)."""
    base = json.loads(FIXTURE.read_text())
    starts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    back = RESEND_EVERY * max(1, int(rate) // RESEND_EVERY)
    out = Webhooks()
    fresh = 0
    for i in range(count):
        if i % RESEND_EVERY == RESEND_EVERY - 1:
            j = i - (RESEND_EVERY - 1)
            j = j - back if j - back >= 0 else j
            out.bodies.append(out.bodies[j])
            out.carries.append(out.carries[j])
            out.resends += 1
            continue
        n, fresh = fresh, fresh + 1
        service = f"svc-{tag}{n % groups:04d}"
        alerts = []
        for k, alert in enumerate(base["alerts"]):
            instance = f"{service}-{n}-{k}.prod.example.com:8080"
            fingerprint = f"{tag}{n:010x}{k:04x}"
            labels = {**alert["labels"], "service": service, "instance": instance}
            annotations = {
                **alert["annotations"],
                "summary": f"{service}: high 5xx error rate on {instance}",
            }
            alerts.append(
                {
                    **alert,
                    "labels": labels,
                    "annotations": annotations,
                    "fingerprint": fingerprint,
                    "startsAt": starts,
                }
            )
            out.fingerprints.add(fingerprint)
        key = group_key(service)
        body = {
            **base,
            "alerts": alerts,
            "groupKey": key,
            "groupLabels": {"alertname": "HighErrorRate", "service": service},
            "commonLabels": {**base["commonLabels"], "service": service},
            "commonAnnotations": {
                **base["commonAnnotations"],
                "summary": f"{service}: high 5xx error rate",
            },
        }
        out.group_keys.add(key)
        out.bodies.append(json.dumps(body).encode())
        out.carries.append([a["fingerprint"] for a in alerts])
    return out


@dataclass
class Answers:
    statuses: Counter[int] = field(default_factory=Counter)
    new: int = 0
    resent: int = 0


class AlertClient:
    """POSTs webhook bodies with the bearer token over pooled keep-alive connections, no
    client-side cap; several URLs are taken in turn (a round-robin load balancer)."""

    def __init__(self, urls: Sequence[str], answers: Answers) -> None:
        self.urls = list(urls)
        self.answers = answers
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AlertClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, i: int, body: bytes) -> bool:
        assert self._session is not None
        headers = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}
        url = self.urls[i % len(self.urls)]
        async with self._session.post(url, data=body, headers=headers) as resp:
            text = await resp.text()
            self.answers.statuses[resp.status] += 1
            if resp.status != 200:
                return False
        receipt = json.loads(text)
        self.answers.new += int(receipt.get("new", 0))
        self.answers.resent += int(receipt.get("resent", 0))
        return bool(receipt.get("status") == "stored")


def by_status(answers: Answers, samples: Sequence[Sample]) -> str:
    """HTTP statuses received, and requests with no answer within REQUEST_TIMEOUT."""
    shown = [f"{status}: {n}" for status, n in sorted(answers.statuses.items())]
    unanswered = sum(1 for s in samples if s.error and s.error.startswith("TimeoutError"))
    if unanswered:
        shown.append(f"none in {REQUEST_TIMEOUT:g} s: {unanswered}")
    return ", ".join(shown)


async def measure_floor(
    slack: SlackEmulator, tmp: Path, rate: float, count: int, warmup: int
) -> list[Sample]:
    """Figure 1's floor: a bare Bolt app (process_before_response=True) acknowledging a
    signed `/incident list`, open loop at the same rate and for as long."""
    factory = RequestFactory()
    server = await start_baseline(FLOOR, slack.api_url, tmp)
    async with running(server), LoadClient(server.events_url) as client:
        warm = [await factory.command("list") for _ in range(warmup)]
        batch: list[Prepared] = [await factory.command("list") for _ in range(count)]

        async def send(i: int, requests: list[Prepared]) -> bool:
            return (await client.post(requests[i])).status == 200

        await open_loop(50, len(warm), lambda i: send(i, warm))
        samples = await open_loop(rate, count, lambda i: send(i, batch))
    print(f"  measured the floor ({FLOOR})", flush=True)
    return samples


async def part_a(args: argparse.Namespace, slack: SlackEmulator, tmp: Path) -> bool:
    rate: float = args.rate
    count = max(1, int(rate * args.seconds))
    warmup = 5 if args.quick else 40
    floor = await measure_floor(slack, tmp, rate, count, warmup)
    warm = build_webhooks("w", warmup, max(1, warmup // 4), 50)
    work = build_webhooks("a", count, args.groups, rate)
    answers = Answers()
    home = tmp / "part-a"
    home.mkdir()
    async with fresh_database(args.database_url, home, "alerts_a") as database_url:
        backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        servers = await start_replicas(
            slack.api_url, database_url, home, args.replicas, extra_env=server_env(args, home)
        )
        first_call = len(slack.calls)
        async with (
            running_all(servers),
            AlertClient([s.base_url + "/alerts/alertmanager" for s in servers], answers) as client,
        ):
            began = time.monotonic()
            warmed = await open_loop(50, len(warm.bodies), lambda i: client.post(i, warm.bodies[i]))
            print(
                f"  part A: {count} webhooks at {rate:g}/s on {backend} "
                f"({len(work.group_keys)} groups, {len(work.fingerprints)} alerts, "
                f"{work.resends} resends)",
                flush=True,
            )
            samples = await open_loop(rate, count, lambda i: client.post(i, work.bodies[i]))
            load_seconds = time.monotonic() - began
            idle = (1.5 if args.quick else 3.0) * ECHO_INTERVAL_S
            drained = await settle(slack, database_url, idle, args.drain_limit)
            sent = card_calls(slack, first_call)
        stored = await read_stored(database_url)

    expected = warm.fingerprints | work.fingerprints
    groups = warm.group_keys | work.group_keys
    # Answered 200 but not stored: lost. (Not answered 200: the sender would send again.)
    acked = {f for s in warmed if s.ok for f in warm.carries[s.index]}
    acked |= {f for s in samples if s.ok for f in work.carries[s.index]}
    lost = acked - stored.fingerprints
    missing = expected - stored.fingerprints
    twice = stored.alerts - len(stored.fingerprints)  # one firing per fingerprint here
    limit = bound(args.cards_per_minute, load_seconds)
    fw = summary_ms([s.latency for s in samples])
    base = summary_ms([s.latency for s in floor])

    latency = Table(
        f"Figure 7a — answer latency (ms, from the scheduled send) at {rate:g}/s, "
        f"{count} requests each, on {backend} ({args.replicas} replica(s))",
        ["server", "request", "n", "not 200", "p50", "p95", "p99", "max"],
    )
    not_ok = len(failures(samples))
    latency.add(
        "firewatch", "POST /alerts/alertmanager (2 alerts)", len(samples), not_ok,
        fw["p50"], fw["p95"], fw["p99"], fw["max"],
    )  # fmt: skip
    latency.add(
        FLOOR, "/incident list, acknowledged only", len(floor), len(failures(floor)),
        base["p50"], base["p95"], base["p99"], base["max"],
    )  # fmt: skip
    latency.print()

    table = Table(
        f"Figure 7a — Alertmanager webhooks straight at Firewatch on {backend}: "
        f"{count} at {rate:g}/s (+{len(warm.bodies)} warm-up), {len(groups)} groups, "
        f"{len(expected)} distinct alerts, {work.resends + warm.resends} resends",
        ["figure", "measured", "target", "verdict"],
    )
    p50_ratio, p99_ratio = fw["p50"] / base["p50"], fw["p99"] / base["p99"]
    table.add("answered 200", f"{len(samples) - not_ok}/{len(samples)}", "all", verdict(not not_ok))
    table.add(
        "answers by status", by_status(answers, [*warmed, *samples]),
        "200 only", verdict(set(answers.statuses) == {200} and not_ok == 0),
    )  # fmt: skip
    table.add(
        "answer p50 ÷ floor p50", f"{p50_ratio:.2f}× ({fw['p50']:.2f} vs {base['p50']:.2f} ms)",
        f"≤ {TARGET_P50_RATIO:g}×", verdict(p50_ratio <= TARGET_P50_RATIO),
    )  # fmt: skip
    table.add(
        "answer p99 ÷ floor p99", f"{p99_ratio:.2f}× ({fw['p99']:.2f} vs {base['p99']:.2f} ms)",
        f"≤ {TARGET_P99_RATIO:g}×", verdict(p99_ratio <= TARGET_P99_RATIO),
    )  # fmt: skip
    table.add(
        "alerts stored (each firing once)", f"{len(expected) - len(missing)}/{len(expected)}",
        "all", verdict(not missing),
    )  # fmt: skip
    table.add(
        "answered 200 but not stored", len(lost), "0", verdict(not lost),
    )  # fmt: skip
    table.add("alerts stored twice", twice, "0", verdict(twice == 0))
    table.add(
        "receipts: new / resent", f"{answers.new} / {answers.resent}",
        f"{len(expected)} / {2 * (work.resends + warm.resends)}",
        verdict(answers.new == len(expected)),
    )  # fmt: skip
    table.add("groups stored", f"{stored.groups}/{len(groups)}", "all",
              verdict(stored.groups == len(groups)))  # fmt: skip
    table.add(
        "cards posted (chat.postMessage)", sent.posts,
        f"≤ {args.cards_per_minute}/min + 1 storm card = {limit}", verdict(sent.posts <= limit),
    )  # fmt: skip
    table.add("cards updated (chat.update)", sent.updates, "—", "—")
    table.add(
        "Slack messages per alert", f"{sent.messages / len(expected):.4f} ({sent.messages})",
        "≪ 1", verdict(sent.messages < len(expected)),
    )  # fmt: skip
    table.add(
        "groups: own card / on the storm card / storm cards",
        f"{stored.own_cards} / {stored.storm_groups} / {stored.storms}", "—", "—",
    )  # fmt: skip
    table.add("storm cards in the channel", stored.storms, "≤ 1", verdict(stored.storms <= 1))
    table.add(
        f"channel's busiest {WINDOW_S:g} s (messages/s)", f"{sent.busiest:.2f}",
        f"≤ {1 / ECHO_INTERVAL_S:g} + 3/{WINDOW_S:g}",
        verdict(sent.busiest <= 1 / ECHO_INTERVAL_S + 3 / WINDOW_S),
    )  # fmt: skip
    table.add("Slack calls refused", sent.refused, "0", verdict(sent.refused == 0))
    table.add(
        "cards settled after the load",
        f"{drained:.1f} s" if drained is not None else f"> {args.drain_limit:g} s", "—", "—",
    )  # fmt: skip
    table.print()

    problems = []
    if not_ok:
        first = failures(samples)[0]
        problems.append(f"{not_ok} webhooks not answered 200 (first #{first.index}: {first.error})")
    if lost:
        problems.append(f"{len(lost)} alerts answered 200 but not stored")
    if missing:
        problems.append(f"{len(missing)} alerts sent not stored")
    if twice:
        problems.append(f"{twice} alerts stored twice")
    if stored.groups != len(groups):
        problems.append(f"{stored.groups} groups stored for {len(groups)}")
    if sent.posts > limit:
        problems.append(f"{sent.posts} cards posted, over the bound of {limit}")
    if stored.storms > 1:
        problems.append(f"{stored.storms} storm cards opened for one channel")
    for problem in problems:
        print(f"  part A: {problem}", flush=True)
    return not problems


# --- part B: through the real Alertmanager ------------------------------------------------


def am_alert(k: int, groups: int) -> dict[str, Any]:
    service = f"svc-{k % groups:03d}"
    instance = f"host-{k:05d}.prod.example.com:8080"
    return {
        "labels": {
            "alertname": "HighErrorRate",
            "service": service,
            "instance": instance,
            "severity": "warning",
            "env": "production",
        },
        "annotations": {
            "summary": f"{service}: high 5xx error rate",
            "description": f"5xx above 5% on {instance}",
            "runbook_url": "https://runbooks.example.com/payments/high-error-rate",
        },
        "generatorURL": f"http://prometheus.example.com:9090/graph?g0.expr={service}",
    }


@dataclass
class CardState:
    right: bool
    own: int
    storm_groups: int
    note: str


def read_cards(slack: SlackEmulator, expected: dict[str, int]) -> CardState:
    """Whether every group's firing count is right in Slack: each group with a card of
    its own shows `n of n alerts firing`, and the storm card counts the rest and their
    firing alerts."""
    own: dict[str, tuple[int, int]] = {}
    storm_groups = storm_firing = 0
    for message in slack.messages(CHANNEL):
        text = message.text or ""
        storm = STORM.match(text)
        if storm:
            storm_groups += int(storm.group(1))
            storm_firing += int(storm.group(2))
            continue
        service = SERVICE.search(text)
        if not text.startswith(("FIRING", "RESOLVED")) or service is None:
            continue
        counts = COUNTS.search(json.dumps(message.blocks or []))
        if counts:
            own[service.group(1)] = (int(counts.group(1)), int(counts.group(2)))
    wrong = [s for s, shown in own.items() if shown != (expected.get(s), expected.get(s))]
    rest = sum(n for s, n in expected.items() if s not in own)
    right = not wrong and len(own) + storm_groups == len(expected) and storm_firing == rest
    note = (
        f"{len(own)} own cards ({len(wrong)} wrong), storm card: {storm_groups} groups, "
        f"{storm_firing} of {rest} alerts"
    )
    return CardState(right, len(own), storm_groups, note)


async def am_metrics(am: Alertmanager) -> dict[str, float]:
    """The webhook integration's counters from Alertmanager's own /metrics."""
    out: dict[str, float] = {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{am.url}/metrics") as resp,
    ):
        text = await resp.text()
    for line in text.splitlines():
        if 'integration="webhook"' not in line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0]
        if name in (
            "alertmanager_notifications_total",
            "alertmanager_notifications_failed_total",
            "alertmanager_notification_latency_seconds_sum",
            "alertmanager_notification_latency_seconds_count",
        ):
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


async def part_b(args: argparse.Namespace, slack: SlackEmulator, tmp: Path) -> bool:
    total: int = args.alerts
    groups: int = args.am_groups
    batches = max(1, math.ceil(total / args.batch))
    interval = args.spread / batches
    alerts = [am_alert(k, groups) for k in range(total)]
    expected = Counter(a["labels"]["service"] for a in alerts)
    home = tmp / "part-b"
    home.mkdir()
    async with fresh_database(args.database_url, home, "alerts_b") as database_url:
        backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        servers = await start_replicas(
            slack.api_url, database_url, home, args.replicas, extra_env=server_env(args, home)
        )
        first_call = len(slack.calls)
        async with (
            running_all(servers),
            Alertmanager(
                servers[0].base_url + "/alerts/alertmanager",
                AM_TOKEN,
                group_by=("service",),
                group_interval="1s",
                repeat_interval=args.repeat_interval,
                workdir=home / "alertmanager",
            ) as am,
        ):
            print(
                f"  part B: {total} alerts into Alertmanager in {batches} batches every "
                f"{interval:.2f} s ({groups} groups) on {backend}",
                flush=True,
            )
            loop = asyncio.get_running_loop()
            start = loop.time()
            for b in range(batches):
                due = start + b * interval
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                await am.push(alerts[b * args.batch : (b + 1) * args.batch])
            pushed = loop.time()
            pushing = pushed - start
            right_after: float | None = None
            state = read_cards(slack, expected)
            while loop.time() - pushed < args.cards_limit:
                state = read_cards(slack, expected)
                if state.right:
                    right_after = loop.time() - pushed
                    break
                await asyncio.sleep(0.1)
            sent = card_calls(slack, first_call)
            metrics = await am_metrics(am)
        stored = await read_stored(database_url)

    firing_right = sum(
        1
        for key, n in stored.firing.items()
        if (found := re.search(r'service="([^"]+)"', key)) and expected.get(found.group(1)) == n
    )
    twice = stored.alerts - len(stored.fingerprints)  # one firing per fingerprint here
    limit = bound(args.cards_per_minute, pushing + (right_after or args.cards_limit))
    notified = metrics.get("alertmanager_notifications_total", 0.0)
    failed = metrics.get("alertmanager_notifications_failed_total", 0.0)
    count = metrics.get("alertmanager_notification_latency_seconds_count", 0.0)
    mean_ms = 1000 * metrics.get("alertmanager_notification_latency_seconds_sum", 0.0) / count
    table = Table(
        f"Figure 7b — {total} alerts through the real Alertmanager on {backend}: "
        f"{batches} pushes of {args.batch} over {pushing:.1f} s, {groups} groups "
        f"(group_by service, group_interval 1 s, repeat_interval {args.repeat_interval})",
        ["figure", "measured", "target", "verdict"],
    )
    table.add(
        "every card right, after the last push",
        f"{right_after:.1f} s" if right_after is not None else f"> {args.cards_limit:g} s",
        "—", verdict(right_after is not None),
    )  # fmt: skip
    table.add("cards at that moment", state.note, "—", "—")
    table.add(
        "cards posted (chat.postMessage)", sent.posts,
        f"≤ {args.cards_per_minute}/min + 1 storm card = {limit}", verdict(sent.posts <= limit),
    )  # fmt: skip
    table.add("cards updated (chat.update)", sent.updates, "—", "—")
    table.add(
        "Slack messages per alert", f"{sent.messages / total:.4f} ({sent.messages})",
        "≪ 1", verdict(sent.messages < total),
    )  # fmt: skip
    table.add(
        f"channel's busiest {WINDOW_S:g} s (messages/s)", f"{sent.busiest:.2f}",
        f"≤ {1 / ECHO_INTERVAL_S:g} + 3/{WINDOW_S:g}",
        verdict(sent.busiest <= 1 / ECHO_INTERVAL_S + 3 / WINDOW_S),
    )  # fmt: skip
    table.add(
        "Alertmanager → Firewatch notifications: sent / failed",
        f"{notified:.0f} / {failed:.0f}", "0 failed", verdict(failed == 0),
    )  # fmt: skip
    table.add("notification latency, mean (Alertmanager's own)", f"{mean_ms:.1f} ms", "—", "—")
    table.add(
        "alerts stored (each firing once)", f"{len(stored.fingerprints)}/{total}", "all",
        verdict(len(stored.fingerprints) == total),
    )  # fmt: skip
    table.add("alerts stored twice", twice, "0", verdict(twice == 0))
    table.add("times named by notifications (resends included)", stored.received, "—", "—")
    table.add(
        "groups stored, firing count right", f"{stored.groups}/{groups}, {firing_right}/{groups}",
        "all", verdict(stored.groups == groups and firing_right == groups),
    )  # fmt: skip
    table.add(
        "groups: own card / on the storm card / storm cards",
        f"{stored.own_cards} / {stored.storm_groups} / {stored.storms}", "—", "—",
    )  # fmt: skip
    table.add("storm cards in the channel", stored.storms, "≤ 1", verdict(stored.storms <= 1))
    table.print()

    problems = []
    if right_after is None:
        problems.append(f"cards not right {args.cards_limit:g} s after the last push")
    if len(stored.fingerprints) != total:
        problems.append(f"{len(stored.fingerprints)} alerts stored for {total}")
    if twice:
        problems.append(f"{twice} alerts stored twice")
    if stored.groups != groups or firing_right != groups:
        problems.append(f"{stored.groups} groups stored, {firing_right} with the right count")
    if sent.posts > limit:
        problems.append(f"{sent.posts} cards posted, over the bound of {limit}")
    if stored.storms > 1:
        problems.append(f"{stored.storms} storm cards opened for one channel")
    for problem in problems:
        print(f"  part B: {problem}", flush=True)
    return not problems


def server_env(args: argparse.Namespace, tmp: Path) -> dict[str, str]:
    """The alert token; and a policy with another card bound when one is asked for."""
    env = {"FIREWATCH_ALERTMANAGER_TOKEN": AM_TOKEN}
    if args.cards_per_minute != DEFAULT_CARDS_PER_MINUTE:
        policy = tmp / "policy.yaml"
        policy.write_text(f"alerts:\n  storm:\n    cards_per_minute: {args.cards_per_minute}\n")
        env["FIREWATCH_POLICY_FILE"] = str(policy)
    return env


async def main_async(args: argparse.Namespace) -> int:
    banner("Figure 7 — alerts in", args.quick)
    print(f"  cards per minute per channel (policy): {args.cards_per_minute}", flush=True)
    # Each part has a Slack of its own: part B reads the channel's cards.
    a_ok = b_ok = True
    async with workdir("fw-bench-alerts-") as tmp:
        if "a" in args.parts:
            async with emulator() as slack:
                a_ok = await part_a(args, slack, tmp)
        if "b" in args.parts:
            async with emulator() as slack:
                b_ok = await part_b(args, slack, tmp)
    if not (a_ok and b_ok):
        raise FlowError("alerts lost, stored twice, cards unbounded or never right (above)")
    return 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: seconds")
    parser.add_argument("--rate", type=float, default=None, help="part A: webhooks per second")
    parser.add_argument("--seconds", type=float, default=None, help="part A: how long")
    parser.add_argument("--groups", type=int, default=1000, help="part A: alert groups")
    parser.add_argument("--database-url", default=None, help="default: temporary SQLite")
    parser.add_argument(
        "--replicas", type=int, default=1, help="Firewatch processes (PostgreSQL only)"
    )
    parser.add_argument("--alerts", type=int, default=None, help="part B: alerts pushed")
    parser.add_argument("--am-groups", type=int, default=None, help="part B: groups")
    parser.add_argument("--batch", type=int, default=None, help="part B: alerts per push")
    parser.add_argument("--spread", type=float, default=None, help="part B: pushing lasts")
    parser.add_argument(
        "--repeat-interval",
        default="1h",
        help="part B: Alertmanager's repeat_interval (1ms: every group resent every tick)",
    )
    parser.add_argument("--parts", default="ab", help="which parts: a, b or ab")
    parser.add_argument(
        "--cards-per-minute", type=int, default=None,
        help=f"policy alerts.storm.cards_per_minute (default {DEFAULT_CARDS_PER_MINUTE}; "
        "--quick: 3, so the storm card is reached with fewer groups)",
    )  # fmt: skip
    parser.add_argument("--drain-limit", type=float, default=None)
    parser.add_argument("--cards-limit", type=float, default=None)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "rate": 50.0 if quick else 200.0,
        "seconds": 1.0 if quick else 60.0,
        "alerts": 300 if quick else 10_000,
        "am_groups": 5 if quick else 100,
        "batch": 50 if quick else 200,
        "spread": 3.0 if quick else 60.0,
        "drain_limit": 15.0 if quick else 120.0,
        "cards_limit": 30.0 if quick else 180.0,
        "cards_per_minute": 3 if quick else DEFAULT_CARDS_PER_MINUTE,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_main(lambda: main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
