"""A real Prometheus Alertmanager for tests, and a webhook receiver to point it at.

`Alertmanager` writes a one-receiver config into a directory, runs the real binary on
127.0.0.1 (clustering off), waits for `GET /-/ready` and stops it on exit. Alerts are
pushed through its API (`POST /api/v2/alerts`), as Prometheus does; Alertmanager then
groups them and POSTs its webhook body (version "4") to `webhook_url` with
`Authorization: Bearer <token>`.

Timing (Alertmanager 0.25, measured; see tests/alerts/test_alertmanager_peer.py):
- `group_interval` and `repeat_interval` must not be zero; the smallest it accepts is
  `1ms` (durations are Prometheus durations: ms, s, m, h, d, w, y; no µs).
- A group is only ever notified on a `group_interval` tick: a resend of an unchanged
  group comes on the first tick after `repeat_interval` has passed since the last
  notification. With `repeat_interval` under `group_interval`, that is every tick.
- The first notification waits `group_wait`, measured from the first alert's
  `startsAt`: an alert whose `startsAt` is older than that is flushed at once, before
  the rest of the same push has joined its group. `push` therefore fills a missing
  `startsAt` with now, and the default `group_wait` (100ms) keeps one push one
  notification.
- A resolved alert is notified on the next tick (with `send_resolved`), once.

The binary is `prometheus-alertmanager` (Debian) or `alertmanager`; CI installs it
(.ci/run). Without it `AlertmanagerMissing` is raised: these tests never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from tests.ports import free_port

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40


class AlertmanagerError(RuntimeError):
    """Alertmanager did not start, stopped, or refused a request (its log tail included)."""


class AlertmanagerMissing(AlertmanagerError):
    """Neither `prometheus-alertmanager` nor `alertmanager` is on PATH."""


def find_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not found:
        raise AlertmanagerMissing(
            "Prometheus Alertmanager is not installed: neither `prometheus-alertmanager` nor "
            "`alertmanager` is on PATH. Install it (Debian: apt-get install "
            "prometheus-alertmanager; .ci/run does) or put the release binary on PATH."
        )
    return found


Duration = str | float  # an Alertmanager duration ("100ms", "1s") or seconds


def duration(value: Duration) -> str:
    if isinstance(value, str):
        return value
    return f"{round(value * 1000)}ms"


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wire_alert(alert: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An alert as POST /api/v2/alerts takes it; datetimes become RFC 3339 and a missing
    startsAt becomes `now` (see the module's note on group_wait)."""
    wire: dict[str, Any] = {"labels": dict(alert["labels"])}
    wire["annotations"] = dict(alert.get("annotations") or {})
    for key in ("startsAt", "endsAt"):
        value = alert.get(key)
        if isinstance(value, datetime):
            value = rfc3339(value)
        if value:
            wire[key] = value
    wire.setdefault("startsAt", rfc3339(now))
    if alert.get("generatorURL"):
        wire["generatorURL"] = alert["generatorURL"]
    return wire


class Alertmanager:
    """`async with Alertmanager(webhook_url, token) as am:` a running Alertmanager whose
    one receiver POSTs every notification to `webhook_url`."""

    def __init__(
        self,
        webhook_url: str,
        token: str,
        *,
        group_by: Sequence[str] = ("alertname",),
        group_wait: Duration = "100ms",
        group_interval: Duration = "1s",
        repeat_interval: Duration = "1ms",  # the least accepted: a resend every tick
        send_resolved: bool = True,
        max_alerts: int = 0,
        receiver: str = "firewatch",
        workdir: Path | None = None,
        external_url: str | None = None,
        log_level: str = "info",
    ) -> None:
        self.binary = find_binary()
        self.webhook_url = webhook_url
        self.token = token
        self.group_by = list(group_by)
        self.group_wait = duration(group_wait)
        self.group_interval = duration(group_interval)
        self.repeat_interval = duration(repeat_interval)
        self.send_resolved = send_resolved
        self.max_alerts = max_alerts
        self.receiver = receiver
        self.log_level = log_level
        self._external_url = external_url
        self._given_workdir = workdir
        self.workdir = Path()
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._log_file: Any = None

    # -- what it runs with -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def external_url(self) -> str:
        return self._external_url or self.url

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    @property
    def config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    def config(self) -> dict[str, Any]:
        return {
            "route": {
                "receiver": self.receiver,
                "group_by": self.group_by,
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [
                {
                    "name": self.receiver,
                    "webhook_configs": [
                        {
                            "url": self.webhook_url,
                            "send_resolved": self.send_resolved,
                            "max_alerts": self.max_alerts,
                            "http_config": {
                                "authorization": {"type": "Bearer", "credentials": self.token}
                            },
                        }
                    ],
                }
            ],
        }

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _error(self, what: str) -> AlertmanagerError:
        return AlertmanagerError(f"{what}\n--- {self.log_path} (tail) ---\n{self.log_tail()}")

    # -- start and stop --------------------------------------------------------------------

    async def __aenter__(self) -> Alertmanager:
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False), "utf-8")
        (self.workdir / "data").mkdir(exist_ok=True)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop()

    async def _start(self) -> None:
        self.port = free_port()
        self._log_file = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--web.external-url={self.external_url}",
            "--cluster.listen-address=",  # no gossip: a single, private instance
            f"--log.level={self.log_level}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
        )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        assert self.process is not None
        assert self._session is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while True:
            if self.process.returncode is not None:
                raise self._error(
                    f"Alertmanager ({self.binary}) exited with {self.process.returncode} "
                    "before it was ready"
                )
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with self._session.get(f"{self.url}/-/ready") as resp:
                    if resp.status == 200:
                        return
            if loop.time() > deadline:
                raise self._error(f"Alertmanager not ready on {self.url} in {READY_TIMEOUT}s")
            await asyncio.sleep(0.05)

    async def _stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._given_workdir is None and self.workdir != Path():
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- its API ---------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._session is None or self.process is None:
            raise AlertmanagerError("Alertmanager is not running (use `async with`)")
        try:
            async with self._session.request(method, f"{self.url}{path}", **kwargs) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise self._error(f"{method} {path}: {resp.status} {text}")
                return await resp.json() if text.strip() else None
        except (aiohttp.ClientError, OSError) as exc:
            raise self._error(f"{method} {path}: {exc!r}") from exc

    async def push(self, alerts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """POST /api/v2/alerts. Each alert: labels, and optionally annotations, startsAt,
        endsAt, generatorURL (datetimes or RFC 3339 strings). Returns what was sent."""
        now = datetime.now(UTC)
        wire = [_wire_alert(alert, now) for alert in alerts]
        await self._request("POST", "/api/v2/alerts", json=wire)
        return wire

    async def resolve(self, *label_sets: Mapping[str, str]) -> list[dict[str, Any]]:
        """Resolve the active alerts with exactly these labels: each is pushed again as
        Alertmanager holds it (startsAt, annotations and generatorURL kept, for a push
        replaces them) with endsAt now, which is past by the time Alertmanager reads it."""
        held = {_key(a["labels"]): a for a in await self.alerts()}
        now = datetime.now(UTC)
        again = []
        for labels in label_sets:
            alert = held.get(_key(labels))
            if alert is None:
                raise self._error(f"no active alert with labels {dict(labels)}")
            again.append({**alert, "endsAt": now})
        return await self.push(again)

    async def alerts(self, *matchers: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: the active alerts (optionally filtered: `alertname="X"`)."""
        params = [("filter", m) for m in matchers]
        found: list[dict[str, Any]] = await self._request("GET", "/api/v2/alerts", params=params)
        return found


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


# -- a webhook receiver on loopback ---------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver took: its headers and JSON body."""

    headers: Mapping[str, str]
    body: dict[str, Any]
    received_at: datetime

    @property
    def fingerprints(self) -> list[str]:
        return sorted(alert["fingerprint"] for alert in self.body["alerts"])


@dataclass
class WebhookReceiver:
    """`async with WebhookReceiver() as receiver:` an aiohttp server on 127.0.0.1 that
    answers 200 to every POST on `path` and keeps what it got, in order."""

    path: str = "/alerts/alertmanager"
    deliveries: list[Delivery] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post(self.path, self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _take(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._arrived:
            self.deliveries.append(Delivery(dict(request.headers), body, datetime.now(UTC)))
            self._arrived.notify_all()
        return web.Response(text="ok")

    async def wait_for(
        self,
        predicate: Callable[[Delivery], bool] = lambda _delivery: True,
        *,
        since: int = 0,
        timeout: float = 20.0,  # noqa: ASYNC109  (a real process's pace, not a deadline)
        alertmanager: Alertmanager | None = None,
    ) -> Delivery:
        """The first delivery from index `since` on that `predicate` holds for (any, by
        default), waiting up to `timeout` seconds for Alertmanager to send it."""

        def found() -> Delivery | None:
            return next((d for d in self.deliveries[since:] if predicate(d)), None)

        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: found() is not None)
        except TimeoutError:
            bodies = "\n".join(repr(d.body) for d in self.deliveries[since:]) or "(none)"
            tail = ""
            if alertmanager is not None:
                tail = f"\n--- Alertmanager log (tail) ---\n{alertmanager.log_tail()}"
            raise AssertionError(
                f"no matching delivery in {timeout}s; got since #{since}:\n{bodies}{tail}"
            ) from None
        delivery = found()
        assert delivery is not None
        return delivery
