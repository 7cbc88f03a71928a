"""Figure 3: a notes storm — many `/incident note` per second into one incident while the
emulator enforces Slack's per-channel message rate.

    python -m tests.benchmarks.bench_storm [--quick] [--rate 300] [--seconds 60]
        [--database-url postgresql+asyncpg://user@127.0.0.1/db] [--replicas 2]

Needs `/incident note` (issue 6); until it exists the script says so and exits 0.
Checks: every note acknowledged (p99) and stored; afterwards every note visible in the
incident channel, in the order stored, none twice; the channel's busiest 10 seconds within
Slack's rate (with --replicas 2 the replicas share one pace per channel); and how long the
backlog took to drain after the storm ended. A lost, duplicated or reordered note exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Sequence

from sqlalchemy import select

from bot.emulator import SlackEmulator
from storage.engine import Database
from storage.models import TimelineEntryRow
from tests.benchmarks.common import (
    NOT_AVAILABLE,
    FlowError,
    LoadClient,
    Prepared,
    RequestFactory,
    Table,
    banner,
    declare_one,
    emulator,
    failures,
    has_note,
    help_text,
    open_declare_view,
    open_loop,
    run_main,
    running_all,
    sqlite_url,
    start_replicas,
    summary_ms,
    verdict,
    workdir,
)

TARGET_ACK_P99_MS = 100.0
TARGET_DRAIN_S = 30.0
TOKEN = re.compile(r"storm-(\d{7})")


def note_text(i: int) -> str:
    return f"storm-{i:07d} disk latency sample"


def visible_tokens(slack: SlackEmulator, channel: str) -> list[int]:
    """Note numbers as they appear in the channel, message by message (grouped messages
    carry several), in message order."""
    seen: list[int] = []
    for message in slack.messages(channel):
        text = message.text or ""
        blocks = json.dumps(message.blocks or [])
        source = blocks if TOKEN.search(blocks) else text
        seen += [int(n) for n in TOKEN.findall(source)]
    return seen


async def stored_tokens(database_url: str) -> list[int]:
    """Note numbers in the timeline, in the order stored (seq)."""
    db = Database(database_url)
    try:
        async with db.session(write=False) as session:
            rows = await session.execute(
                select(TimelineEntryRow.text).order_by(
                    TimelineEntryRow.incident_id, TimelineEntryRow.seq
                )
            )
            return [int(n) for (text,) in rows for n in TOKEN.findall(text or "")[:1]]
    finally:
        await db.dispose()


async def main_async(args: argparse.Namespace) -> int:
    banner("Figure 3 — notes storm", args.quick)
    rate: float = args.rate
    count = int(rate * args.seconds)
    async with emulator() as slack, workdir("fw-bench-storm-") as tmp:
        database_url = args.database_url or sqlite_url(tmp)
        backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        factory = RequestFactory()
        # An empty database given on the command line is migrated at start (SQLite is
        # migrated by default; a server database only when asked).
        migrate = {"FIREWATCH_AUTO_MIGRATE": "true"} if args.database_url else None
        servers = await start_replicas(
            slack.api_url, database_url, tmp, args.replicas, extra_env=migrate
        )
        async with running_all(servers) as urls, LoadClient(urls) as client:
            if not has_note(await help_text(client, factory)):
                print(f"\nFigure 3 — notes storm: {NOT_AVAILABLE} (`/incident note`, issue 6)")
                return 0
            view = await open_declare_view(slack, client, factory)
            channel = await declare_one(slack, client, factory, view, "VBSTORM1", "Storm")
            await asyncio.sleep(1.0)  # let the report and pin through before the limit bites
            slack.rate_limit(
                "chat.postMessage", per_second=args.slack_per_second, burst=args.slack_burst
            )
            before = len(visible_tokens(slack, channel))
            batch: list[Prepared] = [
                await factory.command(f"note {note_text(i)}", channel_id=channel)
                for i in range(count)
            ]

            async def send(i: int) -> bool:
                reply = await client.post(batch[i])
                return reply.status == 200

            print(f"  storm: {count} notes at {rate:g}/s on {backend}", flush=True)
            samples = await open_loop(rate, count, send)
            storm_end = time.monotonic()
            drained_after: float | None = None
            deadline = storm_end + args.drain_limit
            while time.monotonic() < deadline:
                if len(visible_tokens(slack, channel)) - before >= count:
                    drained_after = time.monotonic() - storm_end
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # anything posted twice shows up here
            shown = visible_tokens(slack, channel)
            posts = len(slack.calls_to("chat.postMessage"))
            limited = sum(1 for c in slack.calls_to("chat.postMessage") if c.http_status == 429)
            sustained = busiest_window(slack, channel, WINDOW_S)
        stored = await stored_tokens(database_url)

    acked = [s for s in samples if s.ok]
    ack = summary_ms([s.latency for s in samples])
    duplicates = len(shown) - len(set(shown))
    lost = set(range(count)) - set(stored)
    table = Table(
        f"Figure 3 — notes storm on {backend} ({args.replicas} replica(s)): "
        f"{count} notes at {rate:g}/s, "
        f"Slack {args.slack_per_second:g} msg/s per channel (burst {args.slack_burst})",
        ["figure", "measured", "target", "verdict"],
    )
    table.add("acknowledged", f"{len(acked)}/{count}", "all", verdict(len(acked) == count))
    table.add(
        "ack p50 / p99 / max (ms)",
        f"{ack['p50']:.1f} / {ack['p99']:.1f} / {ack['max']:.1f}",
        f"p99 < {TARGET_ACK_P99_MS:g}",
        verdict(ack["p99"] < TARGET_ACK_P99_MS),
    )
    table.add("stored", f"{count - len(lost)}/{count}", "all", verdict(not lost))
    table.add(
        "visible in the channel",
        f"{len(set(shown))}/{count}",
        "all",
        verdict(len(set(shown)) >= count),
    )
    table.add("shown twice", duplicates, "0", verdict(duplicates == 0))
    in_order = [n for n in stored if n in set(shown)] == [n for n in shown if n in set(stored)]
    table.add("channel order = stored order", "yes" if in_order else "no", "yes", verdict(in_order))
    table.add(
        "backlog drained after the storm",
        f"{drained_after:.1f} s" if drained_after is not None else f"> {args.drain_limit:g} s",
        f"< {TARGET_DRAIN_S:g} s",
        verdict(drained_after is not None and drained_after < TARGET_DRAIN_S),
    )
    table.add("chat.postMessage calls", posts, "fewer than notes when limited", "—")
    table.add(
        f"channel's busiest {WINDOW_S:g} s (messages/s)",
        f"{sustained:.2f}",
        f"≤ {args.slack_per_second:g} + burst/{WINDOW_S:g}",
        verdict(sustained <= args.slack_per_second + args.slack_burst / WINDOW_S),
    )
    table.add("answered 429 (rate limited)", limited, "few", "—")
    table.print()
    if failures(samples):
        raise FlowError(f"{len(failures(samples))} notes not acknowledged")
    if lost:
        raise FlowError(f"{len(lost)} acknowledged notes not stored")
    if duplicates:
        raise FlowError(f"{duplicates} notes shown twice in the channel")
    if not in_order:
        raise FlowError("the channel shows notes out of their stored order")
    return 0


# "No channel above one message a second, sustained": counted over windows this long.
WINDOW_S = 10.0


def busiest_window(slack: SlackEmulator, channel: str, window: float) -> float:
    """The most messages/s Slack accepted into `channel` over any `window` seconds."""
    times = sorted(
        c.at
        for c in slack.calls_to("chat.postMessage")
        if c.ok and c.response.get("channel") == channel
    )
    best, lo = 0, 0
    for hi, at in enumerate(times):
        while at - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best / window


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: about a second")
    parser.add_argument("--rate", type=float, default=None, help="notes per second")
    parser.add_argument("--seconds", type=float, default=None, help="storm length")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite")
    parser.add_argument(
        "--replicas", type=int, default=1, help="Firewatch processes, round robin (PostgreSQL)"
    )
    parser.add_argument("--slack-per-second", type=float, default=1.0)
    parser.add_argument("--slack-burst", type=int, default=3)
    parser.add_argument(
        "--drain-limit", type=float, default=None, help="stop waiting for the channel after"
    )
    args = parser.parse_args(argv)
    if args.rate is None:
        args.rate = 50.0 if args.quick else 300.0
    if args.seconds is None:
        args.seconds = 1.0 if args.quick else 60.0
    if args.drain_limit is None:
        args.drain_limit = 3.0 if args.quick else 90.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_main(lambda: main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
