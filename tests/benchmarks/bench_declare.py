"""Figure 2: declare to announcement — from the modal submission to the broadcast message
reaching the emulator.

    python -m tests.benchmarks.bench_declare [--quick] [--incidents 200] [--rate 5]

Declare modal submissions (a fresh view id each) are sent open-loop at --rate per second
to Firewatch (`python -m bot run`); the latency of each incident runs from the scheduled
send time to the moment its chat.postMessage to the broadcast channel reached the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

from bot.emulator import SlackEmulator
from tests.benchmarks.common import (
    FlowError,
    LoadClient,
    RequestFactory,
    Table,
    banner,
    declare_values,
    emulator,
    failures,
    open_declare_view,
    open_loop,
    run_main,
    running,
    sqlite_url,
    start_firewatch,
    submission_accepted,
    summary_ms,
    verdict,
    workdir,
)

TARGET_P95_MS = 250.0


def title_of(i: int) -> str:
    return f"Bench declare {i:05d}"


def announcements(slack: SlackEmulator, broadcast_id: str) -> dict[str, list[float]]:
    """Arrival times (epoch seconds) of successful posts to the broadcast channel, by title."""
    out: dict[str, list[float]] = {}
    for call in slack.calls_to("chat.postMessage"):
        if call.http_status != 200 or not call.response.get("ok"):
            continue
        if call.args.get("channel") not in (broadcast_id, "#incidents", "incidents"):
            continue
        text = str(call.args.get("text", ""))
        start = text.find("Bench declare ")
        if start >= 0:
            title = text[start : start + len("Bench declare 00000")]
            out.setdefault(title, []).append(call.at)
    return out


async def main_async(args: argparse.Namespace) -> int:
    banner("Figure 2 — declare to announcement", args.quick)
    count: int = args.incidents
    rate: float = args.rate
    async with emulator() as slack, workdir("fw-bench-declare-") as tmp:
        broadcast = slack.channel_by_name("incidents")
        assert broadcast is not None
        factory = RequestFactory()
        server = await start_firewatch(slack.api_url, sqlite_url(tmp), tmp)
        async with running(server), LoadClient(server.events_url) as client:
            view = await open_declare_view(slack, client, factory)
            batch = [
                await factory.submission(
                    {**view, "id": f"VBDECL{i:07d}"}, declare_values(view, title_of(i))
                )
                for i in range(count)
            ]
            loop = asyncio.get_running_loop()
            wall_offset = time.time() - loop.time()

            async def send(i: int) -> bool:
                return submission_accepted(await client.post(batch[i]))

            samples = await open_loop(rate, count, send)
            if failures(samples):
                first = failures(samples)[0]
                raise FlowError(f"{len(failures(samples))} submissions failed: {first.error}")
            try:
                await slack.wait_for(
                    lambda: len(announcements(slack, broadcast.id)) >= count, timeout=60
                )
            except TimeoutError:
                seen = len(announcements(slack, broadcast.id))
                raise FlowError(f"only {seen} of {count} announcements within 60 s") from None
            await asyncio.sleep(0.5)  # a duplicate would show up here
            posted = announcements(slack, broadcast.id)

    twice = [t for t, times in posted.items() if len(times) > 1]
    if twice:
        raise FlowError(f"{len(twice)} incidents announced twice, e.g. {twice[0]}")
    latencies = [posted[title_of(s.index)][0] - (s.scheduled + wall_offset) for s in samples]
    declare = summary_ms(latencies)
    ack = summary_ms([s.latency for s in samples])
    table = Table(
        f"Figure 2 — declare to announcement, {count} incidents at {rate:g}/s (ms)",
        ["figure", "p50", "p95", "p99", "max", "target", "verdict"],
    )
    table.add(
        "submission → announcement",
        declare["p50"],
        declare["p95"],
        declare["p99"],
        declare["max"],
        f"p95 < {TARGET_P95_MS:g}",
        verdict(declare["p95"] < TARGET_P95_MS),
    )
    table.add("submission acknowledged", ack["p50"], ack["p95"], ack["p99"], ack["max"], "", "—")
    table.print()
    return 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: a few incidents")
    parser.add_argument("--incidents", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None, help="submissions per second")
    args = parser.parse_args(argv)
    if args.incidents is None:
        args.incidents = 10 if args.quick else 200
    if args.rate is None:
        args.rate = 10.0 if args.quick else 5.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_main(lambda: main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
