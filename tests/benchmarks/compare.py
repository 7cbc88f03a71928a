"""Compare two checkouts of Firewatch on one request kind, cell by cell (A/B).

    python -m tests.benchmarks.compare --kind note A_DIR B_DIR [--rounds 6 --seconds 5]
        [--database-url postgresql+asyncpg://… --replicas 2]

Our 2-vCPU machines drift: the same code measured 1.4 to 2.9 ms of CPU per note within
a quarter of an hour, more than most changes move it. So a change is judged against
the code before it in the same run: both checkouts serve at once (each `python -m bot
run` from its own directory, on its own SQLite file, the same emulator), and short
open-loop cells alternate between them (A B, B A, ...) while the other one idles. The
verdict is the median over the rounds of each figure, B against A.

With `--database-url` (PostgreSQL) each checkout serves from a fresh database of its own
beside the one given, as `--replicas` processes behind a round robin, and the load is
sent from a process of its own (as figure 1's is): issue 21's configuration.

Make the A checkout with `git worktree add /tmp/before <commit>`. Each round takes
`--seconds` per server plus, for modal submissions, the time the declarations' Slack work
takes to settle.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

from tests.benchmarks import loop_trace
from tests.benchmarks.bench_ack_latency import KINDS, Workload, _ok, quiesce
from tests.benchmarks.common import (
    REPO,
    TRACING,
    LoadClient,
    Prepared,
    RequestFactory,
    ServerProcess,
    Table,
    banner,
    cpu_seconds,
    declare_one,
    failures,
    fresh_database,
    has_note,
    help_text,
    open_declare_view,
    open_loop,
    run_main,
    running,
    sqlite_url,
    start_firewatch,
    start_replicas,
    summary_ms,
    workdir,
)
from tests.benchmarks.common import emulator as slack_emulator
from tests.benchmarks.load_process import open_loop_elsewhere
from tests.support import SECRET

FIGURES = ("p50", "p95", "p99", "max", "cpu")


def sender(
    client: LoadClient, requests: list[Prepared], kind: str
) -> Callable[[int], Awaitable[bool]]:
    async def send(i: int) -> bool:
        return await _ok(client, requests[i], kind)

    return send


async def main_async(args: argparse.Namespace) -> int:
    banner(f"A/B comparison — {args.kind} at {args.rate:g}/s", args.quick)
    dirs: list[str] = [args.a, args.b]
    seconds = 0.2 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    figures: dict[int, list[dict[str, float]]] = {0: [], 1: []}
    broken: list[str] = []
    async with slack_emulator() as slack, workdir("fw-compare-") as tmp, AsyncExitStack() as stack:
        factory = RequestFactory()
        servers: list[list[ServerProcess]] = []
        clients: list[LoadClient] = []
        urls: list[list[str]] = []
        works: list[Workload] = []
        for k, directory in enumerate(dirs):
            sub = tmp / "ab"[k]
            sub.mkdir()
            env = {"PYTHONPATH": directory}
            if loop_trace.threshold_ms() is not None:  # the servers trace their loops too
                env["PYTHONPATH"] = os.pathsep.join([str(TRACING), directory])
            if args.database_url is None:
                started = [
                    await start_firewatch(slack.api_url, sqlite_url(sub), sub, extra_env=env)
                ]
            else:
                fresh = fresh_database(args.database_url, sub, f"compare_{'ab'[k]}")
                url = await stack.enter_async_context(fresh)
                started = await start_replicas(
                    slack.api_url, url, sub, args.replicas, extra_env=env
                )
            for server in started:
                await stack.enter_async_context(running(server))
            servers.append(started)
            urls.append([server.events_url for server in started])
            client = await stack.enter_async_context(LoadClient(urls[k]))
            clients.append(client)
            view = await open_declare_view(slack, client, factory)
            channel = await declare_one(slack, client, factory, view, f"VBAB{k}", f"A/B {k}")
            works.append(
                Workload(factory, view, channel, has_note(await help_text(client, factory)))
            )
            warm = [await works[k].build(args.kind, f"w{k}", i) for i in range(40)]
            await open_loop(50, len(warm), sender(client, warm, args.kind))
        await quiesce(slack)
        count = max(1, int(args.rate * seconds))
        for r in range(rounds):
            for k in (0, 1) if r % 2 == 0 else (1, 0):
                batch: list[Prepared] = [
                    await works[k].build(args.kind, f"r{r}{'ab'[k]}", i) for i in range(count)
                ]
                pids = [server.process.pid for server in servers[k]]
                before = sum(cpu_seconds(pid) for pid in pids)
                if args.database_url is None:
                    send = sender(clients[k], batch, args.kind)
                    samples = await open_loop(args.rate, count, send)
                else:
                    samples = await open_loop_elsewhere(
                        urls[k], SECRET, args.rate, batch, args.kind
                    )
                cell = summary_ms([s.latency for s in samples])
                cell["cpu"] = (sum(cpu_seconds(pid) for pid in pids) - before) / count * 1000
                broken += [f"round {r} {'AB'[k]} #{s.index}: {s.error}" for s in failures(samples)]
                figures[k].append(cell)
                shown = "  ".join(f"{name} {cell[name]:.2f}" for name in FIGURES)
                print(f"round {r} {'AB'[k]}: {shown}", flush=True)
                if args.kind == "modal":  # the declarations' Slack work settles first
                    await quiesce(slack)
                await asyncio.sleep(0.5)
    report(args, figures)
    if broken:
        print(f"\n{len(broken)} requests failed; first: {broken[0]}", flush=True)
        return 1
    return 0


def report(args: argparse.Namespace, figures: dict[int, list[dict[str, float]]]) -> None:
    table = Table(
        f"Median over {len(figures[0])} rounds (ms; cpu: ms of server CPU per request)",
        ["figure", f"A {args.a}", f"B {args.b}", "B ÷ A", "verdict"],
    )
    for name in FIGURES:
        a = statistics.median(cell[name] for cell in figures[0])
        b = statistics.median(cell[name] for cell in figures[1])
        wins = sum(cb[name] < ca[name] for ca, cb in zip(figures[0], figures[1], strict=True))
        # Only a lower median that most rounds agree with counts as better.
        better = b < a and wins * 2 > len(figures[0])
        table.add(name, a, b, f"{b / a:.2f}" if a else "n/a", "B better" if better else "no change")
    table.print()


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", nargs="?", default=str(REPO), help="checkout A (before)")
    parser.add_argument("b", nargs="?", default=str(REPO), help="checkout B (after)")
    parser.add_argument("--kind", choices=KINDS, default="note")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="CI size: one short round")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL (default: a SQLite file per checkout)"
    )
    parser.add_argument(
        "--replicas", type=int, default=1, help="processes per checkout (with --database-url)"
    )
    args = parser.parse_args(argv)
    args.a, args.b = (str(Path(d).resolve()) for d in (args.a, args.b))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_main(lambda: main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
