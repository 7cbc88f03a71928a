"""Shared pieces of the benchmarks: servers on loopback, an open-loop load generator,
percentiles, resident memory and the result table.

Layout of a run (see docs/performance.md): the server under test — Firewatch started with
`python -m bot run`, or one of the bare Bolt baselines of `serve_baseline.py` — runs in its
own process, as it does in production. The Slack emulator and the load generator share the
benchmark's process, so the emulator can be inspected (messages, calls) while the server
is measured from the outside, over real signed HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import hmac
import importlib
import itertools
import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.emulator import SlackEmulator, SlackRequestSender, SlackResponse
from tests.benchmarks import loop_trace
from tests.ports import free_port
from tests.support import SECRET, TOKEN

REPO = Path(__file__).resolve().parents[2]
TRACING = Path(__file__).resolve().parent / "tracing"  # its sitecustomize: loop_trace
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
REQUEST_TIMEOUT = 10.0
MB = 1024 * 1024

NOT_AVAILABLE = "not available yet"


class FlowError(Exception):
    """The flow itself broke (errors, lost or duplicated notes): the script exits non-zero."""


class FeatureMissing(Exception):
    """A feature a figure needs does not exist yet: reported, not a failure."""


# --- machine and memory ------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> str:
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size from /proc/<pid>/status (VmRSS); psutil only where /proc is absent."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        psutil = importlib.import_module("psutil")
    except ImportError:
        return 0
    process = psutil.Process(None if pid == "self" else int(pid))
    return int(process.memory_info().rss)


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- statistics and the table ------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))  # ceil(q/100 * n)
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max, in milliseconds."""
    ms = [v * 1000 for v in latencies_s]
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else float("nan"),
    }


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "MISS")


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([_cell(c) for c in cells])

    def render(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        line = "  ".join("-" * w for w in widths)
        out = [
            self.title,
            line,
            "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True)),
        ]
        out.append(line)
        for row in self.rows:
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        out.append(line)
        return "\n".join(out)

    def print(self) -> None:
        print()
        print(self.render(), flush=True)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def banner(name: str, quick: bool) -> None:
    size = "quick (CI size)" if quick else "full size"
    print(f"{name} — {size}; {machine_info()}", flush=True)


def run_main(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """asyncio.run with the exit-code convention: 0 measured (targets may be missed),
    1 the flow broke."""
    loop_trace.install_in_generator()
    try:
        return asyncio.run(main())
    except FlowError as exc:
        print(f"\nFLOW BROKEN: {exc}", file=sys.stderr, flush=True)
        return 1


# --- signed requests ----------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A Slack request body built ahead of time; signed at the moment it is sent."""

    body: bytes
    content_type: str


class _Capture(SlackRequestSender):
    """SlackRequestSender that records the body instead of posting it (Slack's encodings)."""

    captured: Prepared | None = None

    async def post_raw(self, body: bytes | str, *, content_type: str, **_: Any) -> SlackResponse:
        raw = body if isinstance(body, bytes) else body.encode()
        self.captured = Prepared(raw, content_type)
        return SlackResponse(200, {}, "")


class RequestFactory:
    """Builds Slack-shaped request bodies with SlackRequestSender's exact encodings."""

    def __init__(self) -> None:
        self._capture = _Capture("http://unused.invalid/", SECRET)

    async def build(self, make: Callable[[SlackRequestSender], Awaitable[Any]]) -> Prepared:
        self._capture.captured = None
        await make(self._capture)
        assert self._capture.captured is not None
        return self._capture.captured

    async def command(self, text: str, **kw: Any) -> Prepared:
        return await self.build(lambda s: s.slash_command(text, **kw))

    async def click(self, action_id: str, **kw: Any) -> Prepared:
        return await self.build(lambda s: s.block_action(action_id, **kw))

    async def submission(
        self, view: Mapping[str, Any], values: Mapping[str, Any], **kw: Any
    ) -> Prepared:
        return await self.build(lambda s: s.view_submission(view, values, **kw))


@dataclass
class Reply:
    status: int
    text: str


class LoadClient:
    """Posts prepared requests, signed with the current time, over pooled keep-alive
    connections with no client-side concurrency cap (open-loop load must not queue here)."""

    def __init__(self, url: str | Sequence[str], secret: str = SECRET) -> None:
        # Several URLs: one per replica, taken in turn (a round-robin load balancer).
        self.urls = [url] if isinstance(url, str) else list(url)
        self.url = self.urls[0]
        self._turn = itertools.cycle(self.urls)
        self.secret = secret.encode()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LoadClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, request: Prepared) -> Reply:
        assert self._session is not None, "use `async with LoadClient(...)`"
        ts = str(int(time.time()))
        base = f"v0:{ts}:".encode() + request.body
        signature = "v0=" + hmac.new(self.secret, base, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": request.content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        url = next(self._turn)
        async with self._session.post(url, data=request.body, headers=headers) as resp:
            return Reply(resp.status, await resp.text())


# --- open-loop load -----------------------------------------------------------------------


@dataclass
class Sample:
    index: int
    scheduled: float  # loop time at which the request was due
    latency: float  # seconds from `scheduled` to the complete answer
    ok: bool
    error: str | None = None


async def open_loop(
    rate: float,
    count: int,
    send: Callable[[int], Awaitable[bool]],
    *,
    timeout: float = REQUEST_TIMEOUT,  # noqa: ASYNC109 - a per-request budget
) -> list[Sample]:
    """Request i is sent at start + i/rate whether or not earlier ones have returned;
    latency is counted from that scheduled time (so a stalled server is not hidden by
    a generator that waits for it)."""
    # The generator (and the emulator beside it) must not add pauses of its own: a full
    # garbage collection here stalled every request in flight by tens of milliseconds,
    # whichever server was measured. Collected before the clock starts instead.
    gc.collect()
    gc.disable()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    samples: list[Sample] = []

    async def one(i: int, scheduled: float) -> None:
        try:
            ok = await asyncio.wait_for(send(i), timeout)
            error = None if ok else "unexpected answer"
        except Exception as exc:  # a failed request is a sample, not a crash
            ok, error = False, f"{type(exc).__name__}: {exc}"[:200]
        latency = loop.time() - scheduled
        samples.append(Sample(i, scheduled, latency, ok, error))
        loop_trace.record_request("request", i, scheduled, latency)

    tasks: list[asyncio.Task[None]] = []
    try:
        for i in range(count):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
    samples.sort(key=lambda s: s.index)
    return samples


def failures(samples: Sequence[Sample]) -> list[Sample]:
    return [s for s in samples if not s.ok]


# --- servers ------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    name: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path
    started: float  # time.monotonic() at spawn
    ready_after: float = 0.0  # seconds from spawn to ready

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def events_url(self) -> str:
        return self.base_url + "/slack/events"

    def rss(self) -> int:
        return rss_bytes(self.process.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, timeout: float = 10.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM (Firewatch stops gracefully), then SIGKILL if it does not exit in time."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode


async def wait_http_ok(
    url: str,
    timeout: float,  # noqa: ASYNC109
    *,
    process: asyncio.subprocess.Process | None = None,
    interval: float = 0.01,
) -> None:
    """Poll `url` until it answers 200; bounded by `timeout`, and gives up if the process
    exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while loop.time() < deadline:
            if process is not None and process.returncode is not None:
                raise FlowError(f"server exited with code {process.returncode} before ready")
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(interval)
    raise FlowError(f"{url} not ready within {timeout:.0f}s")


def firewatch_env(
    *, api_url: str, database_url: str, port: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWATCH_", "SLACK_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": api_url,
            "FIREWATCH_DATABASE_URL": database_url,
            "FIREWATCH_BROADCAST_CHANNEL": "#incidents",
            "FIREWATCH_HOST": LOOPBACK,
            "FIREWATCH_PORT": str(port),
            "FIREWATCH_ENV": "test",
            "PYTHONPATH": str(REPO),
        }
    )
    if loop_trace.threshold_ms() is not None:  # the server traces its event loop too
        env["PYTHONPATH"] = os.pathsep.join([str(TRACING), str(REPO)])
    env.update(extra or {})
    return env


async def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    workdir: Path,
    port: int,
    ready_path: str,
    ready_timeout: float = 30.0,
) -> ServerProcess:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=workdir,  # no stray .env from the developer's checkout
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    server = ServerProcess(name, process, port, log_path, started)
    try:
        await wait_http_ok(server.base_url + ready_path, ready_timeout, process=process)
    except BaseException:
        await server.stop()
        print(server.log_tail(), file=sys.stderr)
        raise
    server.ready_after = time.monotonic() - started
    return server


async def start_firewatch(
    api_url: str,
    database_url: str,
    workdir: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    ready_timeout: float = 30.0,
) -> ServerProcess:
    """`python -m bot run` (what `firewatch run` runs), configured like production except
    that Slack is the emulator; ready when /health/ready answers 200."""
    port = free_port()
    env = firewatch_env(api_url=api_url, database_url=database_url, port=port, extra=extra_env)
    return await spawn(
        "firewatch",
        [PYTHON, "-m", "bot", "run"],
        env=env,
        workdir=workdir,
        port=port,
        ready_path="/health/ready",
        ready_timeout=ready_timeout,
    )


async def start_replicas(
    api_url: str,
    database_url: str,
    workdir: Path,
    count: int,
    *,
    extra_env: Mapping[str, str] | None = None,
) -> list[ServerProcess]:
    """`count` Firewatch processes on one (PostgreSQL) database, each with its own log;
    the first alone (it migrates the schema), then the others together."""
    if count > 1 and not database_url.startswith("postgresql"):
        raise FlowError("several replicas share a database only on PostgreSQL (--database-url)")
    env = {"FIREWATCH_AUTO_MIGRATE": "true", **(extra_env or {})}
    servers = []
    for i in range(count):
        home = workdir / f"replica-{i + 1}"
        home.mkdir(exist_ok=True)
        servers.append(await start_firewatch(api_url, database_url, home, extra_env=env))
    return servers


@asynccontextmanager
async def running_all(servers: Sequence[ServerProcess]) -> AsyncIterator[list[str]]:
    """The servers' events URLs while they run; every one stopped at the end."""
    try:
        yield [server.events_url for server in servers]
    finally:
        for server in servers:
            await server.stop()


BASELINES = {
    "bolt-default": "bare Bolt AsyncApp, as Bolt comes",
    "bolt-pbr": "bare Bolt AsyncApp, process_before_response=True",
}


async def start_baseline(mode: str, api_url: str, workdir: Path) -> ServerProcess:
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    argv = [PYTHON, "-m", "tests.benchmarks.serve_baseline", "--mode", mode]
    argv += ["--port", str(port), "--api-url", api_url]
    return await spawn(mode, argv, env=env, workdir=workdir, port=port, ready_path="/health")


@asynccontextmanager
async def emulator(latency_ms: float = 0.0) -> AsyncIterator[SlackEmulator]:
    slack = SlackEmulator(bot_token=TOKEN)
    await slack.start(LOOPBACK, 0)
    slack.latency = latency_ms / 1000
    try:
        yield slack
    finally:
        await slack.stop()


@asynccontextmanager
async def workdir(prefix: str) -> AsyncIterator[Path]:
    """A scratch directory for a run's databases and server logs, removed at the end;
    with BENCH_KEEP_LOGS=DIR set, its logs (not its databases) are copied to DIR first."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            yield Path(tmp)
        finally:
            keep = os.environ.get("BENCH_KEEP_LOGS")
            if keep:
                target = Path(keep) / Path(tmp).name
                shutil.copytree(tmp, target, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
                print(f"  logs kept in {target}", flush=True)


@asynccontextmanager
async def running(server: ServerProcess) -> AsyncIterator[ServerProcess]:
    try:
        yield server
    finally:
        await server.stop()


def sqlite_url(directory: Path, name: str = "firewatch.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


@asynccontextmanager
async def fresh_database(given: str | None, directory: Path, name: str) -> AsyncIterator[str]:
    """A temporary SQLite file; or, beside the PostgreSQL database given, a new empty
    database dropped at the end (the given one may be shared, or hold an earlier run's
    incidents: it is not touched)."""
    if given is None:
        yield sqlite_url(directory, f"{name}.db")
        return
    if not given.startswith("postgresql"):
        raise FlowError("--database-url: a PostgreSQL URL (SQLite is the default)")
    from tests.conftest import _create_pg_database, _drop_pg_database

    fresh, url = await _create_pg_database(given)
    try:
        yield url
    finally:
        await _drop_pg_database(given, fresh)


# --- Firewatch flows over HTTP ------------------------------------------------------------


async def help_text(client: LoadClient, factory: RequestFactory) -> str:
    reply = await client.post(await factory.command("help"))
    if reply.status != 200:
        raise FlowError(f"/incident help answered HTTP {reply.status}")
    try:
        return str(json.loads(reply.text).get("text", ""))
    except ValueError:
        return reply.text


def has_note(help_message: str) -> bool:
    """`/incident note` is registered when the help lists it (issue 6)."""
    return "/incident note" in help_message or "`note" in help_message


async def open_declare_view(
    slack: SlackEmulator, client: LoadClient, factory: RequestFactory
) -> dict[str, Any]:
    """`/incident declare` once; the declare modal as the emulator recorded it."""
    from bot.slack.ids import Callback

    before = len(slack.opened_views(Callback.DECLARE_MODAL))
    reply = await client.post(await factory.command("declare"))
    if reply.status != 200:
        raise FlowError(f"/incident declare answered HTTP {reply.status}: {reply.text[:200]}")
    views = await slack.wait_for(
        lambda: slack.opened_views(Callback.DECLARE_MODAL)[before:], timeout=10
    )
    return dict(views[-1])


def declare_values(view: Mapping[str, Any], title: str) -> dict[str, Any]:
    from bot.emulator import input_values
    from bot.slack.ids import Block
    from tests.support import QUALIFYING, REPORT

    return input_values(view, {**REPORT, Block.TITLE: title, **QUALIFYING})


def submission_accepted(reply: Reply) -> bool:
    return reply.status == 200 and '"errors"' not in reply.text


async def declare_one(
    slack: SlackEmulator,
    client: LoadClient,
    factory: RequestFactory,
    view: Mapping[str, Any],
    view_id: str,
    title: str,
) -> str:
    """Declare an incident through the modal and wait for its channel; its channel id."""
    payload = {**view, "id": view_id}
    reply = await client.post(await factory.submission(payload, declare_values(view, title)))
    if not submission_accepted(reply):
        raise FlowError(f"declare refused: HTTP {reply.status} {reply.text[:200]}")
    announced = await slack.wait_for(
        lambda: [m for m in slack.messages("#incidents") if title in (m.text or "")], timeout=15
    )
    found = re.search(r"<#(C[A-Z0-9]+)", json.dumps(announced[-1].blocks or []))
    if found is None:
        raise FlowError(f"the announcement of {title!r} links no channel")
    return found.group(1)
