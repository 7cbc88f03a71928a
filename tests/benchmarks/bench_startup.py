"""Figure 6: start-up — `firewatch run` (`python -m bot run`) to ready on an empty database.

    python -m tests.benchmarks.bench_startup [--quick] [--runs 5]

Each run spawns a fresh process on a new, empty SQLite file (so the schema is created by
auto-migration, as on a first start) and polls /health/ready every 10 ms; the time is
from spawn to the first 200. The emulator answers auth.test in-process.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tests.benchmarks.common import (
    Table,
    banner,
    emulator,
    percentile,
    run_main,
    sqlite_url,
    start_firewatch,
    verdict,
    workdir,
)

TARGET_S = 2.0


async def main_async(args: argparse.Namespace) -> int:
    banner("Figure 6 — start-up", args.quick)
    times: list[float] = []
    async with emulator() as slack, workdir("fw-bench-startup-") as tmp:
        for run in range(args.runs):
            directory = tmp / f"run{run}"
            directory.mkdir()
            server = await start_firewatch(slack.api_url, sqlite_url(directory), directory)
            times.append(server.ready_after)
            await server.stop()
    table = Table(
        f"Figure 6 — `firewatch run` to ready, empty SQLite, {args.runs} runs (s)",
        ["figure", "min", "p50", "max", "target", "verdict"],
    )
    table.add(
        "spawn → /health/ready 200",
        min(times),
        percentile(times, 50),
        max(times),
        f"< {TARGET_S:g}",
        verdict(max(times) < TARGET_S),
    )
    table.print()
    return 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 1 run")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 5
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    return run_main(lambda: main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
