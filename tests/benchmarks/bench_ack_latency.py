"""Figure 1: acknowledgement latency under open-loop load, beside two bare Bolt baselines.

    python -m tests.benchmarks.bench_ack_latency [--quick] [--slow-slack-ms 50]
        [--database-url postgresql+asyncpg://…] [--replicas 2]

Three request kinds — `/incident note` (falls back to `/incident list` until issue 6 lands),
a click on the "Change severity" button, a declare modal submission (a fresh view id
each, so each one declares an incident) — at each rate, against Firewatch (`python -m bot
run`), a default Bolt AsyncApp and one with process_before_response=True. Request i is
sent at its scheduled time whether or not earlier ones have returned; latency counts from
that scheduled time. With --slow-slack-ms, Firewatch is measured again with the emulator
answering every Web API call that much later: acknowledgements must not move.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from bot.emulator import SlackEmulator
from bot.slack.ids import Action
from tests.benchmarks.common import (
    BASELINES,
    FlowError,
    LoadClient,
    Prepared,
    RequestFactory,
    Sample,
    Table,
    banner,
    declare_one,
    declare_values,
    emulator,
    failures,
    fresh_database,
    has_note,
    help_text,
    open_declare_view,
    open_loop,
    run_main,
    running,
    running_all,
    sqlite_url,
    start_baseline,
    start_firewatch,
    start_replicas,
    summary_ms,
    verdict,
    workdir,
)
from tests.benchmarks.load_process import accepted, open_loop_elsewhere
from tests.support import SECRET

KINDS = ("note", "button", "modal")
FIREWATCH = "firewatch"
SLOW = "firewatch, Slack +{ms:g} ms"


@dataclass
class Workload:
    """What each request kind sends; the same bodies go to Firewatch and the baselines."""

    factory: RequestFactory
    view: Mapping[str, Any]
    channel: str
    note: bool

    @property
    def note_label(self) -> str:
        return "/incident note" if self.note else "/incident list (note not available yet)"

    async def build(self, kind: str, tag: str, i: int) -> Prepared:
        if kind == "note":
            if self.note:
                text = f"note bench {tag} note {i}"
                return await self.factory.command(text, channel_id=self.channel)
            return await self.factory.command("list", channel_id=self.channel)
        if kind == "button":
            return await self.factory.click(
                Action.CHANGE_SEVERITY.value, value="1", channel_id=self.channel
            )
        view = {**self.view, "id": f"VB{tag}{i:07d}".upper()}
        return await self.factory.submission(view, declare_values(self.view, f"Bench {tag} {i}"))


async def quiesce(slack: SlackEmulator, idle: float = 0.3, limit: float = 60.0) -> None:
    """Wait until the emulator has had no Web API call for `idle` seconds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    seen = len(slack.calls)
    quiet_since = loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        if len(slack.calls) != seen:
            seen, quiet_since = len(slack.calls), loop.time()
        elif loop.time() - quiet_since >= idle:
            return


async def measure(
    name: str,
    urls: str | Sequence[str],
    slack: SlackEmulator,
    work: Workload,
    rates: Sequence[float],
    duration: float,
    warmup: int,
    settle_limit: float,
    apart: bool = False,
) -> dict[tuple[str, float], list[Sample]]:
    out: dict[tuple[str, float], list[Sample]] = {}
    async with LoadClient(urls) as client:
        for kind in KINDS:
            warm = [await work.build(kind, f"{name[:3]}w{kind[0]}", i) for i in range(warmup)]

            async def warm_up(i: int, warm: list[Prepared] = warm, kind: str = kind) -> bool:
                return await _ok(client, warm[i], kind)

            await open_loop(50, len(warm), warm_up)
            for rate in rates:
                count = max(1, int(rate * duration))
                tag = f"{name[:3]}{kind[0]}{int(rate)}"
                batch = [await work.build(kind, tag, i) for i in range(count)]

                async def send(i: int, batch: list[Prepared] = batch, kind: str = kind) -> bool:
                    return await _ok(client, batch[i], kind)

                if apart:  # the generator in a process of its own, away from the emulator
                    out[(kind, rate)] = await open_loop_elsewhere(urls, SECRET, rate, batch, kind)
                else:
                    out[(kind, rate)] = await open_loop(rate, count, send)
                if kind == "modal":  # let the declarations' outbox work finish
                    await quiesce(slack, limit=settle_limit)
        print(f"  measured {name}", flush=True)
    return out


async def _ok(client: LoadClient, request: Prepared, kind: str) -> bool:
    reply = await client.post(request)
    return accepted(kind, reply.status, reply.text)


async def main_async(args: argparse.Namespace) -> int:
    banner("Figure 1 — acknowledgement latency", args.quick)
    rates: list[float] = args.rates
    duration: float = args.duration
    warmup = 3 if args.quick else 40
    settle = 1.0 if args.quick else 60.0
    results: dict[str, dict[tuple[str, float], list[Sample]]] = {}
    async with emulator() as slack, workdir("fw-bench-ack-") as tmp, AsyncExitStack() as stack:
        factory = RequestFactory()
        database = fresh_database(args.database_url, tmp, "firewatch")
        database_url = await stack.enter_async_context(database)
        replicas = await start_replicas(slack.api_url, database_url, tmp, args.replicas)
        async with running_all(replicas) as urls, LoadClient(urls) as client:
            note = has_note(await help_text(client, factory))
            view = await open_declare_view(slack, client, factory)
            channel = await declare_one(slack, client, factory, view, "VBSETUP1", "Bench setup")
            work = Workload(factory, view, channel, note)
            if not note:
                print("note not available yet: measured /incident list", flush=True)
            results[FIREWATCH] = await measure(
                FIREWATCH, urls, slack, work, rates, duration, warmup, settle, args.load_process
            )
        for mode in BASELINES:
            server = await start_baseline(mode, slack.api_url, tmp)
            async with running(server):
                results[mode] = await measure(
                    mode,
                    server.events_url,
                    slack,
                    work,
                    rates,
                    duration,
                    warmup,
                    settle,
                    args.load_process,
                )
        slow_name = SLOW.format(ms=args.slow_slack_ms)
        if args.slow_slack_ms > 0:
            slow_dir = tmp / "slow"
            slow_dir.mkdir()
            server = await start_firewatch(slack.api_url, sqlite_url(slow_dir), slow_dir)
            async with running(server), LoadClient(server.events_url) as client:
                await declare_one(slack, client, factory, view, "VBSETUP2", "Bench setup slow")
                await quiesce(slack, limit=settle)
                slack.latency = args.slow_slack_ms / 1000
                results[slow_name] = await measure(
                    slow_name, server.events_url, slack, work, rates, duration, warmup, settle
                )
                slack.latency = 0.0

    report(results, work, rates, slow_name if args.slow_slack_ms > 0 else None)
    broken = [
        (name, kind, rate, s)
        for name, cells in results.items()
        for (kind, rate), samples in cells.items()
        for s in failures(samples)
    ]
    if broken:
        name, kind, rate, s = broken[0]
        raise FlowError(
            f"{len(broken)} requests failed; first: {name} {kind} @{rate:g}/s #{s.index}: {s.error}"
        )
    return 0


def report(
    results: Mapping[str, Mapping[tuple[str, float], list[Sample]]],
    work: Workload,
    rates: Sequence[float],
    slow_name: str | None,
) -> None:
    labels = {"note": work.note_label, "button": "button click (block_actions)"}
    labels["modal"] = "modal submission (declare)"
    for kind in KINDS:
        table = Table(
            f"Figure 1 — {labels[kind]}: acknowledgement latency (ms, from scheduled send)",
            ["server", "rate/s", "n", "errors", "p50", "p95", "p99", "max"],
        )
        for name, cells in results.items():
            for rate in rates:
                samples = cells[(kind, rate)]
                s = summary_ms([x.latency for x in samples])
                table.add(
                    name, f"{rate:g}", len(samples), len(failures(samples)),
                    s["p50"], s["p95"], s["p99"], s["max"],
                )  # fmt: skip
        table.print()

    top = max(rates)
    targets = Table(
        f"Figure 1 — targets at {top:g} requests/s (Firewatch ÷ baseline)",
        ["request", "figure", "measured", "target", "verdict"],
    )
    for kind in KINDS:
        fw = summary_ms([x.latency for x in results[FIREWATCH][(kind, top)]])
        pbr = summary_ms([x.latency for x in results["bolt-pbr"][(kind, top)]])
        default = summary_ms([x.latency for x in results["bolt-default"][(kind, top)]])
        name = kind if (kind != "note" or work.note) else "list*"
        p50_ratio = fw["p50"] / pbr["p50"]
        p99_ratio = fw["p99"] / pbr["p99"]
        targets.add(name, "p50 ÷ pbr p50", f"{p50_ratio:.2f}×", "≤ 2×", verdict(p50_ratio <= 2))
        targets.add(name, "p99 ÷ pbr p99", f"{p99_ratio:.2f}×", "≤ 3×", verdict(p99_ratio <= 3))
        targets.add(
            name,
            "p50 vs default Bolt",
            f"{fw['p50']:.1f} vs {default['p50']:.1f} ms",
            "faster",
            verdict(fw["p50"] < default["p50"]),
        )
    targets.print()
    if not work.note:
        print("* note not available yet: /incident list measured in its place")

    if slow_name is None:
        return
    slow = Table(
        f"Figure 1 — {slow_name}: acknowledgements must not move (ms)",
        ["request", "rate/s", "p50 normal", "p50 slow", "p99 normal", "p99 slow", "verdict"],
    )
    for kind in KINDS:
        for rate in rates:
            a = summary_ms([x.latency for x in results[FIREWATCH][(kind, rate)]])
            b = summary_ms([x.latency for x in results[slow_name][(kind, rate)]])
            unmoved = b["p50"] <= a["p50"] * 1.25 + 1.0 and b["p99"] <= a["p99"] * 1.5 + 2.0
            slow.add(kind, f"{rate:g}", a["p50"], b["p50"], a["p99"], b["p99"], verdict(unmoved))
    slow.print()
    print("not moved: slow p50 ≤ 1.25 × normal + 1 ms and slow p99 ≤ 1.5 × normal + 2 ms")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: a fraction of a second")
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 200.0])
    parser.add_argument("--duration", type=float, default=None, help="seconds per cell")
    parser.add_argument("--slow-slack-ms", type=float, default=0.0)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="Firewatch processes behind a round robin (needs a PostgreSQL --database-url)",
    )
    parser.add_argument(
        "--load-process",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send the measured load from a process of its own, away from the emulator"
        " (default: on, but for --quick)",
    )
    args = parser.parse_args(argv)
    if args.load_process is None:
        args.load_process = not args.quick
    if args.duration is None:
        args.duration = 0.3 if args.quick else 10.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_main(lambda: main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
