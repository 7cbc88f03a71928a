"""Where a slow answer's time went: event-loop callbacks and garbage collections over a
threshold, in the server and in the load generator, on one clock.

    BENCH_TRACE_MS=1 BENCH_KEEP_LOGS=/tmp/bench python -m tests.benchmarks.bench_ack_latency
    python -m tests.benchmarks.loop_trace /tmp/bench

With BENCH_TRACE_MS set, each Firewatch server a benchmark starts writes `loop-trace.log`
beside its log (kept by BENCH_KEEP_LOGS), and the benchmark's own process writes
`generator-trace.log` with the same events plus every request slower than the threshold
(scheduled time, latency). Both use CLOCK_MONOTONIC, shared by the processes of one
machine, so the reader lines each slow request up with what both processes were doing
meanwhile: one long callback (a CPU step), a collection, or — in both processes at once,
with nothing long in either — the machine itself. Diagnostics only: it wraps asyncio's
`Handle._run`, which costs a little on every callback.
"""

from __future__ import annotations

import argparse
import asyncio.events
import gc
import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

ENV = "BENCH_TRACE_MS"
SERVER_FILE = "loop-trace.log"
GENERATOR_FILE = "generator-trace.log"
_out: TextIO | None = None


def threshold_ms() -> float | None:
    value = os.environ.get(ENV, "").strip()
    return float(value) if value else None


def install(path: Path, threshold: float) -> None:
    """Record, in `path`, each callback and collection that takes over `threshold` ms."""
    global _out
    if _out is not None:
        return
    out = _out = path.open("a", buffering=1, encoding="utf-8")
    limit = threshold / 1000
    run = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        start = time.monotonic()
        run(handle)
        took = time.monotonic() - start
        if took > limit:
            callback = handle._callback  # type: ignore[attr-defined]
            owner = getattr(callback, "__self__", None)  # a task names its coroutine
            if owner is None or isinstance(owner, ModuleType):
                owner = callback
            what = repr(owner).replace("\n", " ")[:240]
            out.write(f"callback {start:.6f} {took * 1000:.2f} {what}\n")

    asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
    started: list[float] = [0.0]

    def collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.monotonic()
            return
        took = time.monotonic() - started[0]
        if took > limit:
            out.write(f"gc {started[0]:.6f} {took * 1000:.2f} generation {info['generation']}\n")

    gc.callbacks.append(collection)


def record_request(label: str, index: int, scheduled: float, latency: float) -> None:
    """A request slower than the threshold, from the generator's side."""
    limit = threshold_ms()
    if _out is not None and limit is not None and latency * 1000 > limit:
        _out.write(f"request {scheduled:.6f} {latency * 1000:.2f} {label} #{index}\n")


def install_in_generator() -> None:
    """In a benchmark's own process: trace into BENCH_KEEP_LOGS when both are set."""
    limit, keep = threshold_ms(), os.environ.get("BENCH_KEEP_LOGS")
    if limit is not None and keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        install(Path(keep) / GENERATOR_FILE, limit)


def read(directory: Path, worst: int = 10, before_ms: float = 10.0) -> list[str]:
    """The `worst` slowest requests, each with every traced event in both processes from
    `before_ms` before it was due until it was answered."""
    events: list[tuple[float, float, str, str]] = []
    requests: list[tuple[float, float, str]] = []
    for path in sorted(directory.rglob("*trace.log")):
        side = "generator" if path.name == GENERATOR_FILE else f"server ({path.parent.name})"
        for line in path.read_text(encoding="utf-8").splitlines():
            kind, start, length, what = (line.split(" ", 3) + [""])[:4]
            if kind == "request":
                requests.append((float(start), float(length), what))
            else:
                events.append((float(start), float(length), side, f"{kind} {what}".strip()))
    events.sort()
    lines: list[str] = []
    for at, took, what in sorted(requests, key=lambda r: -r[1])[:worst]:
        lines.append(f"{what}: {took:.2f} ms, due at {at:.6f}")
        for when, spent, side, event in events:
            if at - before_ms / 1000 <= when <= at + took / 1000:
                offset = (when - at) * 1000
                lines.append(f"    {offset:+8.2f} ms  {spent:7.2f} ms  {side}: {event[:160]}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Line slow requests up with traced events.")
    parser.add_argument("directory", type=Path, help="the BENCH_KEEP_LOGS directory")
    parser.add_argument("--worst", type=int, default=10)
    args = parser.parse_args(argv)
    print("\n".join(read(args.directory, args.worst)) or "no slow requests traced")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
