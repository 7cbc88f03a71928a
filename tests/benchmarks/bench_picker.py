"""The incident picker's options load: how long Firewatch takes to answer a
`block_suggestion` (Slack gives up after 3 seconds) at many open incidents.

    python -m tests.benchmarks.bench_picker [--quick] [--open 10000] [--rounds 20]
        [--database-url postgresql+asyncpg://…]

Seeds `--open` open incidents, opens the picker with `/incident note …` typed outside an
incident channel, then types filters (nothing, a word of many titles, a rare word, a
number) over signed HTTP and reports the answer times (p50, max) and the option counts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.emulator.suggestions import suggest
from bot.slack.ids import PickerIds
from tests.scenarios.test_incident_picker import open_picker, seed
from tests.support import start_harness

FILTERS = ("", "checkout", "region 4", "12", "no such words")
LIMIT_S = 3.0  # Slack's


async def run(open_count: int, rounds: int, database_url: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        async with start_harness(url) as harness:
            await seed(harness.app.db, open_count)
            view = await open_picker(harness, "note benchmark")
            print(f"{open_count} open incidents, {rounds} rounds per filter")
            worst = 0.0
            for text in FILTERS:
                times, count = [], 0
                for _ in range(rounds):
                    start = time.perf_counter()
                    count = len(await suggest(harness.sender, view, PickerIds.SELECT, text))
                    times.append(time.perf_counter() - start)
                worst = max(worst, max(times))
                p50, most = statistics.median(times) * 1000, max(times) * 1000
                print(f"  {text!r:>16}: {count:3d} options, p50 {p50:6.1f} ms, max {most:6.1f} ms")
            print(f"worst {worst * 1000:.1f} ms (Slack waits {LIMIT_S:.0f} s)")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI size: 500 open, 3 rounds")
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    open_count, rounds = (500, 3) if args.quick else (args.open, args.rounds)
    raise SystemExit(asyncio.run(run(open_count, rounds, args.database_url)))


if __name__ == "__main__":
    main()
