"""The fault matrix: every step of an incident × every fault, on PostgreSQL with two
replicas; after recovery the record and what Slack shows must agree.

Faults:
* ``kill:<method>#<n>:<phase>`` — SIGKILL of the replica making the step's n-th call of
  `method`, at `phase`: ``before`` (the fact is stored, Slack has not seen the call),
  ``effect`` (Slack did it, the replica never hears back) or ``answer`` (Slack answered;
  the replica dies before it settles, as near as a second process can time it).
* ``slack:429`` / ``slack:500`` / ``slack:timeout`` on the step's first Slack write: a rate
  limit with Retry-After, a server error, and a call that took effect but answered after
  the client's timeout.
* ``db:restart`` — every replica's database connections cut while the step is delivered.

The kill points are found, not listed: a clean run of each step records the Slack writes it
makes, and each becomes three cases. Run it all with::

    FIREWATCH_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        python -m tests.faults.matrix --full

``--markdown`` prints the table for docs/readiness-review.md. CI runs a small sample
(tests/faults/test_fault_matrix.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import _create_pg_database as create_database
from tests.conftest import _drop_pg_database as drop_database
from tests.faults.checks import agree
from tests.faults.cluster import Cluster, cluster
from tests.faults.flows import STEPS, Incident

PHASES = ("before", "effect", "answer")
SLACK_FAULTS = ("slack:429", "slack:500", "slack:timeout")
# Calls that only read; a kill there is the same as a kill before the next write.
READS = {
    "auth.test",
    "users.info",
    "users.lookupByEmail",
    "conversations.info",
    "conversations.history",
    "conversations.replies",
    "conversations.list",
    "conversations.members",
    "chat.getPermalink",
    "pins.list",
}


@dataclass(frozen=True)
class Case:
    step: str
    fault: str

    @property
    def name(self) -> str:
        return f"{self.step}/{self.fault}"


@dataclass
class Result:
    case: Case
    ok: bool
    detail: str
    seconds: float
    killed: str | None = None


async def play(c: Cluster, step: str, inc: Incident) -> None:
    """The steps `step` needs, without faults, then nothing more."""
    for name in STEPS[step].needs:
        await STEPS[name].act(c, inc)
        await STEPS[name].check(c, inc)


async def writes_of(c: Cluster, step: str, tag: str) -> list[tuple[str, int]]:
    """The Slack writes a clean run of `step` makes, as (method, n-th of that method)."""
    inc = Incident(tag)
    await play(c, step, inc)
    start = len(c.slack.calls)
    await STEPS[step].act(c, inc)
    await STEPS[step].check(c, inc)
    seen: Counter[str] = Counter()
    found = []
    for call in c.slack.calls[start:]:
        if call.method in READS or call.replica is None:
            continue
        seen[call.method] += 1
        found.append((call.method, seen[call.method]))
    return found


def cases_for(step: str, writes: Sequence[tuple[str, int]]) -> list[Case]:
    kills = [Case(step, f"kill:{m}#{n}:{phase}") for m, n in writes for phase in PHASES]
    return [*kills, *(Case(step, f) for f in SLACK_FAULTS), Case(step, "db:restart")]


async def run_case(c: Cluster, case: Case, tag: str, first_write: str | None) -> Result:
    started = time.monotonic()
    inc = Incident(tag)
    killed: list[str] = []
    try:
        await play(c, case.step, inc)
        kind, _, spec = case.fault.partition(":")
        restart: asyncio.Task[str] | None = None
        if kind == "kill":
            target, _, phase = spec.rpartition(":")
            method, _, nth = target.partition("#")

            def kill(replica: str | None) -> None:
                killed.append(f"replica {replica}" if replica else "?")
                if replica is not None:
                    c.kill(replica)

            c.slack.intercept(method, nth=int(nth), phase=phase, then=kill)
        elif kind == "slack" and first_write is not None:
            if spec == "429":
                c.slack.fail(first_write, status=429, retry_after=1)
            elif spec == "500":
                c.slack.fail(first_write, status=500)
            else:  # took effect, answered after FIREWATCH_SLACK_TIMEOUT_SECONDS (2 s)
                c.slack.fail(first_write, delay=3.0)
        await STEPS[case.step].act(c, inc)
        if kind == "db":
            restart = asyncio.create_task(c.restart_database())
        if restart is not None:
            killed.append(await restart)
        await asyncio.sleep(0.2)  # let a kill armed for a late call happen before recovery
        await c.recover()
        await STEPS[case.step].check(c, inc)
        await agree(c)
        if kind == "kill" and not killed:
            raise AssertionError("the call to kill at was never made: the fault did not happen")
        return Result(case, True, "", time.monotonic() - started, ",".join(killed) or None)
    except Exception as exc:  # a failed case is a row of the table, not the end of the run
        lines = [line for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip()]
        # The first line, and the last where they differ: a failed command's message is
        # its output, whose last line (the exception) says what happened.
        detail = " … ".join(dict.fromkeys([lines[0][:200], lines[-1].strip()[:200]]))
        if os.environ.get("FAULTS_TRACEBACKS"):
            import traceback

            traceback.print_exc()
        return Result(case, False, detail, time.monotonic() - started, ",".join(killed) or None)
    finally:
        c.slack.clear_faults()
        await c.recover()


def sample(cases: Sequence[Case], size: int, offset: int = 0) -> list[Case]:
    """`size` cases of different kinds (a kill at the step's first write in each phase,
    each Slack fault, the database restart), rotated by `offset` so that a small run
    across the steps still covers every kind; every case when `size` is 0."""
    if size <= 0:
        return list(cases)
    kinds: list[Case] = []
    seen: set[str] = set()
    for case in cases:
        kind = case.fault.rsplit(":", 1)[-1] if case.fault.startswith("kill") else case.fault
        if kind not in seen:
            seen.add(kind)
            kinds.append(case)
    return [kinds[(offset + i) % len(kinds)] for i in range(min(size, len(kinds)))]


Planned = tuple[Case, str | None]  # a case, and the step's first delivery write


async def plan(c: Cluster, steps: Iterable[str], size: int) -> list[Planned]:
    """Each step's cases, from a clean run of it (which also checks it without faults)."""
    planned: list[Planned] = []
    for index, step in enumerate(steps):
        writes = await writes_of(c, step, f"w{index}")
        # Slack's failures go to the first delivery (a form that does not open is a person
        # trying again: the kills cover that).
        later = [m for m, _ in writes if not m.startswith("views.")]
        first = STEPS[step].slack_target or (later[0] if later else None)
        planned += [(case, first) for case in sample(cases_for(step, writes), size, index * size)]
    return planned


async def run_cases(
    c: Cluster, planned: Sequence[Planned], results: list[Result], *, prefix: str, log: bool
) -> None:
    for serial, (case, first) in enumerate(planned):
        result = await run_case(c, case, f"{prefix}{serial}", first)
        results.append(result)
        if log:
            mark = "ok  " if result.ok else "FAIL"
            print(f"{mark} {case.name:55} {result.seconds:5.1f}s {result.detail}", flush=True)


@asynccontextmanager
async def scratch_dir() -> AsyncIterator[Path]:
    keep = os.environ.get("FAULTS_KEEP_LOGS")  # a directory: the replicas' logs stay there
    with tempfile.TemporaryDirectory(prefix="firewatch-faults-") as scratch:
        yield Path(tempfile.mkdtemp(prefix="firewatch-faults-", dir=keep) if keep else scratch)


async def run_matrix(
    database_urls: Sequence[str], steps: Iterable[str], *, size: int = 0, log: bool = True
) -> list[Result]:
    """Plan on the first database; with one, play the cases there too, else on clusters
    side by side, one per further database (two replicas each): a killed replica's lease
    takes a while to run out, and the clusters wait for theirs at the same time."""
    results: list[Result] = []
    async with scratch_dir() as tmp, cluster(database_urls[0], tmp / "plan") as c:
        planned = await plan(c, steps, size)
        if len(database_urls) == 1:
            await run_cases(c, planned, results, prefix="c", log=log)
            return results
    sides = database_urls[1:]

    async def side(i: int, url: str) -> None:
        mine = planned[i :: len(sides)]
        async with scratch_dir() as tmp, cluster(url, tmp / f"side{i}") as c:
            await run_cases(c, mine, results, prefix=f"c{i}-", log=log)

    await asyncio.gather(*(side(i, url) for i, url in enumerate(sides)))
    order = {case: n for n, (case, _) in enumerate(planned)}
    return sorted(results, key=lambda r: order[r.case])


async def on_new_databases(
    admin_url: str, steps: Sequence[str], size: int, parallel: int
) -> list[Result]:
    """The matrix on databases of its own, dropped afterwards."""
    made = [await create_database(admin_url) for _ in range(1 + max(0, parallel))]
    try:
        return await run_matrix([url for _, url in made], steps, size=size)
    finally:
        for name, _ in made:
            await drop_database(admin_url, name)


def markdown(results: Sequence[Result]) -> str:
    lines = ["| step | fault | what went down | result |", "| --- | --- | --- | --- |"]
    for r in results:
        verdict = "agree" if r.ok else f"**FAIL** {r.detail}"
        lines.append(f"| {r.case.step} | `{r.case.fault}` | {r.killed or '-'} | {verdict} |")
    passed = sum(r.ok for r in results)
    lines.append("")
    lines.append(f"{passed} of {len(results)} cases: the record and Slack agree.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every case (default: a sample)")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated steps")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--parallel", type=int, default=4, help="clusters side by side (each: two replicas)"
    )
    args = parser.parse_args(argv)
    url = os.environ.get("FIREWATCH_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        print("the fault matrix needs PostgreSQL: set FIREWATCH_TEST_DATABASE_URL", file=sys.stderr)
        return 2
    steps = [s for s in args.steps.split(",") if s]
    size = 0 if args.full else 2
    results = asyncio.run(on_new_databases(url, steps, size, args.parallel))
    if args.markdown:
        print(markdown(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
