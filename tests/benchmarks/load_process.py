"""The open-loop load generator in a process of its own.

By default a benchmark's load generator shares its process with the Slack emulator, so
a Firewatch cell has the emulator's work (the echoes, the channels and pages a
declaration makes) beside the generator, and a baseline's has not: the generator's own
sends and timings wait on the emulator's callbacks. `open_loop_elsewhere` sends the same
prepared requests from a child process (`python -m tests.benchmarks.load_process`),
whose event loop does nothing else, and returns the same samples.

The child reads one JSON object on stdin — urls, secret, rate, kind and the requests
(base64 bodies) — and writes the samples as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Sequence
from typing import Any

from tests.benchmarks import loop_trace
from tests.benchmarks.common import PYTHON, REPO, LoadClient, Prepared, Sample, open_loop


def accepted(kind: str, status: int, text: str) -> bool:
    if kind == "modal":
        return status == 200 and '"errors"' not in text
    return status == 200


async def open_loop_elsewhere(
    urls: str | Sequence[str], secret: str, rate: float, requests: Sequence[Prepared], kind: str
) -> list[Sample]:
    """`open_loop` over `requests` at `rate`, run by a child process."""
    job = {
        "urls": [urls] if isinstance(urls, str) else list(urls),
        "secret": secret,
        "rate": rate,
        "kind": kind,
        "requests": [
            {"body": base64.b64encode(r.body).decode(), "content_type": r.content_type}
            for r in requests
        ],
    }
    child = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "tests.benchmarks.load_process",
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate(json.dumps(job).encode())
    if child.returncode != 0:
        raise RuntimeError(f"the load process exited {child.returncode}")
    return [Sample(**fields) for fields in json.loads(out)]


async def _run(job: dict[str, Any]) -> list[Sample]:
    requests = [Prepared(base64.b64decode(r["body"]), r["content_type"]) for r in job["requests"]]
    kind = str(job["kind"])
    async with LoadClient(job["urls"], job["secret"]) as client:

        async def send(i: int) -> bool:
            reply = await client.post(requests[i])
            return accepted(kind, reply.status, reply.text)

        return await open_loop(float(job["rate"]), len(requests), send)


def main() -> int:
    job = json.loads(sys.stdin.buffer.read())
    loop_trace.install_in_generator()  # its slow requests, beside the servers' traces
    samples = asyncio.run(_run(job))
    json.dump([s.__dict__ for s in samples], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
