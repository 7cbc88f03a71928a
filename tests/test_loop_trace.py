"""The benchmarks' loop trace lines a slow request up with what the server's and the
generator's event loops were doing (tests/benchmarks/loop_trace.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.benchmarks import loop_trace

REPO = Path(__file__).resolve().parents[1]

PROGRAM = textwrap.dedent(
    """
    import asyncio, gc, sys, time
    from pathlib import Path
    from tests.benchmarks import loop_trace

    loop_trace.install(Path(sys.argv[1]), 5.0)
    gc.disable()  # a collection over 5 ms on a busy machine would be traced too

    async def main():
        loop = asyncio.get_running_loop()
        due = loop.time()
        loop.call_soon(time.sleep, 0.03)  # a 30 ms step on the loop
        loop.call_soon(time.sleep, 0.001)  # under the threshold: not recorded
        await asyncio.sleep(0.05)
        loop_trace.record_request("note", 7, due, loop.time() - due)
        loop_trace.record_request("note", 8, due, 0.001)  # fast: not recorded

    asyncio.run(main())
    """
)


def test_a_slow_request_is_shown_with_the_long_callback_that_delayed_it(tmp_path: Path) -> None:
    server = tmp_path / "fw-bench-ack-x"
    server.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), loop_trace.ENV: "5"}
    subprocess.run(
        [sys.executable, "-c", PROGRAM, str(server / loop_trace.SERVER_FILE)],
        check=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    lines = (server / loop_trace.SERVER_FILE).read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["callback", "request"]

    report = loop_trace.read(tmp_path)
    assert report[0].startswith("note #7: ")
    assert len(report) == 2
    assert "server (fw-bench-ack-x): callback" in report[1]
    assert "sleep" in report[1]
    spent = float(report[1].split("ms")[1])
    assert 25 <= spent < 1000


def test_nothing_is_traced_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(loop_trace.ENV, raising=False)
    assert loop_trace.threshold_ms() is None
    loop_trace.record_request("note", 1, 0.0, 10.0)  # no file open: a no-op
