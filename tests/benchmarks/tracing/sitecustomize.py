"""Imported at start-up by a benchmark's server when BENCH_TRACE_MS is set: the
server's PYTHONPATH then starts with this folder (tests/benchmarks/loop_trace.py)."""

from pathlib import Path

from tests.benchmarks import loop_trace

_limit = loop_trace.threshold_ms()
if _limit is not None:
    loop_trace.install(Path.cwd() / loop_trace.SERVER_FILE, _limit)
