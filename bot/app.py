"""Composition root: builds Firewatch from Settings and a Clock, starts and stops it."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError, Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.paging import UnknownPerson
from bot.domain.policy import Policy
from bot.policy.holder import PolicyHolder, load_policy_or_fail
from bot.runtime.load import RequestLoad
from bot.runtime.metrics import InstrumentedWebClient, Metrics
from bot.runtime.scheduler import Scheduler
from bot.services import effects
from bot.services.changes import ChangeService
from bot.services.digest import DigestService
from bot.services.events import EventLog
from bot.services.incidents import IncidentService
from bot.services.intake import DeclarationIntake
from bot.services.jobs import JobRunner
from bot.services.lifecycle import run_purge
from bot.services.notices import NoticeService
from bot.services.outbox_worker import OutboxWorker
from bot.services.paging import PagingService
from bot.services.postmortems import PostmortemService
from bot.services.roster import RosterKeeper
from bot.services.timeline import TimelineService
from bot.slack.bolt_app import build_bolt_app
from bot.slack.delivery.digest import DigestEffects
from bot.slack.delivery.incidents import SlackEffects
from bot.slack.delivery.paging import ExternalPaging, PagingEffects, SlackDirectory
from bot.slack.delivery.postmortems import PostmortemEffects
from bot.slack.delivery.timeline import TimelineEffects
from bot.slack.deps import ListenerDeps
from bot.slack.follow_ups import FollowUps
from bot.slack.server import build_web_app
from storage import migrate
from storage.engine import CHECKPOINT_SECONDS, Database, background_writes
from storage.outbox import OutboxRepository

log = logging.getLogger(__name__)

SCHEMA_OUT_OF_DATE = (
    "the database schema is at revision {current}, this Firewatch needs {head}: "
    "run `firewatch migrate` (or set FIREWATCH_AUTO_MIGRATE=true)"
)


@dataclass
class SlackIdentity:
    """What auth.test told us; refreshed in the background, never on a request's path."""

    ok: bool = False
    team_id: str | None = None
    bot_user_id: str | None = None
    bot_id: str | None = None
    error: str | None = None
    checked_at: datetime | None = None


@dataclass
class SocketState:
    connected: bool = False
    last_message_at: datetime | None = None


# A declaration answered this long ago and still not declared makes /health degraded.
INTAKE_DEGRADED_SECONDS = 60.0
# A moment counts as a gap between requests once none has been answered for this long.
QUIET_SECONDS = 0.005
# The longest the outbox steps aside for requests being answered before each step.
OUTBOX_YIELD_MAX_SECONDS = 0.25


class Firewatch:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        policy: Policy | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.policy = PolicyHolder(policy) if policy is not None else load_policy_or_fail(settings)
        self.db = Database(settings.effective_database_url)
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        self.identity = SlackIdentity()
        self.socket = SocketState()
        self.metrics = Metrics()
        self.metrics.install_sqlalchemy_timing(self.db.engine)
        self.db.on_writer_wait = self.metrics.writer_waited
        # Two clients: the outbox's retries are durable (ours); interactive calls such as
        # views.open keep slack_sdk's default connection-error retry.
        self.outbox_client = InstrumentedWebClient(
            metrics=self.metrics,
            token=token,
            base_url=settings.slack_api_url,
            timeout=int(settings.slack_timeout_seconds),
        )
        self.outbox_client.retry_handlers = []
        self.client = InstrumentedWebClient(
            metrics=self.metrics,
            token=token,
            base_url=settings.slack_api_url,
            timeout=int(settings.slack_timeout_seconds),
        )
        self.worker: OutboxWorker
        self.incidents = IncidentService(
            self.db,
            self.policy,
            self.clock,
            broadcast_channel=settings.broadcast_channel,
            on_commit=lambda: self.worker.wake(),
        )
        self.timeline = TimelineService(
            self.db,
            self.policy,
            self.clock,
            broadcast_channel=settings.broadcast_channel,
            on_commit=lambda: self.worker.wake(),
            on_echoes=lambda keys: self.worker.wake_for(effects.TIMELINE_ECHO, keys),
        )
        # RACI checks ask the roster (absences, stand-ins, per-incident assignments).
        self.changes = ChangeService(
            self.db,
            self.policy,
            self.clock,
            holders=lambda role, incident: self.paging.holders(role, incident),
            on_commit=lambda: self.worker.wake(),
        )
        self.notices = NoticeService(self.db, self.clock, on_commit=lambda: self.worker.wake())
        self.postmortems = PostmortemService(
            self.db,
            self.policy,
            self.clock,
            self.timeline,
            timezone=settings.timezone,
            holders=lambda role, incident: self.paging.holders(role, incident),
            on_commit=lambda: self.worker.wake(),
        )
        # The weekly meeting: APScheduler says when; job_runs makes each run happen once.
        self.digest = DigestService(
            self.db,
            self.policy,
            self.clock,
            timezone=settings.timezone,
            on_commit=lambda: self.worker.wake(),
        )
        self.jobs = JobRunner(
            self.db,
            self.policy,
            self.clock,
            settings.timezone,
            worker_id,
            on_commit=lambda: self.worker.wake(),
            digest=self.digest,
        )
        audit_key = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
        self.jobs.purge = lambda: run_purge(self.db, self.policy, self.clock, audit_key=audit_key)
        self.scheduler = Scheduler(self.jobs, self.clock, settings.timezone)
        self.policy.listeners.append(self.scheduler.reschedule)
        # Paging: the roster's emails become user ids at start; the file is re-read when
        # it changes (only when the policy came from the file, not from the caller).
        self.roster = RosterKeeper(
            self.policy,
            directory=SlackDirectory(self.client),
            policy_file=settings.policy_file if policy is None else None,
        )
        pagerduty_key = settings.pagerduty_routing_key
        self.paging = PagingService(
            self.db,
            self.policy,
            self.clock,
            settings.broadcast_channel,
            on_commit=lambda: self.worker.wake(),
            roster_keeper=self.roster,
            pagerduty=pagerduty_key is not None,
            webhook=settings.page_webhook_url is not None,
        )
        # Nudges only: the tick pages whatever these miss (a crash right after commit).
        # They run after the answer, in a task: paging reads the roster and the pages
        # and writes its own transaction, which a declaration's acknowledgement must not
        # wait for (it was 44% of a declaration's answer).
        self._nudges: set[asyncio.Task[None]] = set()
        self.incidents.declared.append(lambda incident: self._page_soon(incident.id))
        self.incidents.severity_raised.append(lambda incident, _old: self._page_soon(incident.id))
        self.effects = SlackEffects(
            self.outbox_client, self.incidents, self.policy, self._bot_user_id
        )
        self.paging_effects = PagingEffects(
            self.outbox_client,
            self.paging,
            self.policy,
            self.effects.resolve_channel,
            ExternalPaging(
                pagerduty_routing_key=pagerduty_key.get_secret_value() if pagerduty_key else None,
                pagerduty_url=settings.pagerduty_url,
                webhook_url=settings.page_webhook_url,
                timeout_seconds=settings.slack_timeout_seconds,
            ),
        )
        # Requests being answered; the outbox waits for gaps between them.
        self.load = RequestLoad(max_wait=OUTBOX_YIELD_MAX_SECONDS, quiet=QUIET_SECONDS)
        self.worker = OutboxWorker(
            self.db,
            {
                **self.effects.handlers(),
                **self.paging_effects.handlers(),
                **TimelineEffects(self.effects, self.changes).handlers(),
                **PostmortemEffects(self.effects, self.postmortems, self.changes).handlers(),
                **DigestEffects(self.effects, self.digest).handlers(),
            },
            self.clock,
            max_attempts=settings.outbox_max_attempts,
            poll_seconds=settings.outbox_poll_seconds,
            worker_id=worker_id,
            observer=self.metrics,
            load=self.load,
            pacing={effects.TIMELINE_ECHO: settings.echo_interval_seconds},
        )
        self.metrics.register_outbox_kinds(self.worker.handlers)
        self.follow_ups = FollowUps(self.load)
        # Declarations are answered once stored; the incident is written right after.
        self.intake = DeclarationIntake(
            self.db,
            self.incidents,
            self.clock,
            load=self.load,
            poll_seconds=settings.outbox_poll_seconds,
        )
        self.bolt: AsyncApp | None = None
        if settings.slack_bot_token is not None and (
            settings.slack_signing_secret is not None or settings.socket_mode
        ):
            self.bolt = self._build_bolt(token)
        self.started_monotonic = time.monotonic()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        self._socket_handler: Any = None
        self._http: aiohttp.ClientSession | None = None
        self.port: int | None = None

    # --- assembly ---------------------------------------------------------------------

    def _build_bolt(self, token: str) -> AsyncApp:
        secret = (
            self.settings.slack_signing_secret.get_secret_value()
            if self.settings.slack_signing_secret
            else None
        )
        identity = self.identity

        async def authorize(
            enterprise_id: str | None, team_id: str | None, **_: Any
        ) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id or identity.team_id,
                bot_token=token,
                bot_user_id=identity.bot_user_id,
                bot_id=identity.bot_id,
            )

        # Bolt gets a token-less client: `authorize` hands each request the token.
        bolt_client = AsyncWebClient(
            base_url=self.settings.slack_api_url, timeout=int(self.settings.slack_timeout_seconds)
        )
        return build_bolt_app(
            client=bolt_client,
            signing_secret=secret or "",
            authorize=authorize,
            deps=ListenerDeps(
                incidents=self.incidents,
                intake=self.intake,
                follow_ups=self.follow_ups,
                policy=self.policy,
                timeline=self.timeline,
                changes=self.changes,
                notices=self.notices,
                postmortems=self.postmortems,
                paging=self.paging,
                digest=self.digest,
            ),
            events=EventLog(self.db),
            clock=self.clock,
            verify_requests=secret is not None,
            # Firewatch's own client: one keep-alive session, and its calls are counted.
            listener_client=self.client,
        )

    def web_app(self) -> web.Application:
        secret = self.settings.slack_signing_secret
        http_mode = not self.settings.socket_mode
        refresh = self.metrics.database_refresh(
            self.db, now=self.clock.now, slack_auth_ok=lambda: self.identity.ok
        )
        return build_web_app(
            bolt=self.bolt if http_mode else None,
            signing_secret=secret.get_secret_value() if (secret and http_mode) else None,
            health=self.health,
            ready=self.readiness,
            extra_routes=[web.get("/metrics", self.metrics.aiohttp_handler(refresh))],
            load=self.load,
            middlewares=[self.metrics.aiohttp_middleware()],
        )

    async def _bot_user_id(self) -> str:
        if self.identity.bot_user_id is None:
            await self.check_slack_auth()
        return self.identity.bot_user_id or ""

    # --- lifecycle --------------------------------------------------------------------

    async def prepare_database(self) -> None:
        current = await migrate.current_revision(self.db.engine)
        head = migrate.head_revision()
        if current == head:
            return
        if self.settings.should_auto_migrate:
            log.info(
                "migrating the database schema", extra={"from": current or "empty", "to": head}
            )
            await migrate.upgrade(self.db.engine)
            return
        raise ConfigError(SCHEMA_OUT_OF_DATE.format(current=current or "empty", head=head))

    def _share_http_session(self) -> None:
        """One connection pool for the outbox's and Firewatch's own Web API calls: a call
        reuses a warm keep-alive connection instead of opening one (slack_sdk makes a
        session per call otherwise). Not for Bolt's client: lazy listeners deep-copy the
        request context, and a session (with its event loop) must not be copied."""
        if self._http is None:
            # slack_sdk applies its timeout only to sessions it makes itself.
            timeout = aiohttp.ClientTimeout(total=self.settings.slack_timeout_seconds)
            self._http = aiohttp.ClientSession(timeout=timeout)
        for client in (self.client, self.outbox_client):
            client.session = self._http

    async def start(
        self,
        *,
        serve: bool = True,
        deliver: bool = True,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        """Migrate (or refuse), then start the outbox worker, the Slack auth watch and the
        HTTP server; `deliver=False` leaves the outbox to be driven by hand (tests)."""
        await self.prepare_database()
        self._share_http_session()
        await self.resolve_roster()
        await self.scheduler.start()  # catches up on a digest or reminder missed while down
        self._tasks.append(asyncio.create_task(self._tick_paging(), name="paging-tick"))
        self._tasks.append(asyncio.create_task(self._checkpoints(), name="sqlite-checkpoint"))
        self._tasks.append(
            asyncio.create_task(self.intake.run_forever(self._stop), name="declaration-intake")
        )
        if deliver:
            self._tasks.append(
                asyncio.create_task(self.worker.run_forever(self._stop), name="outbox")
            )
        self._tasks.append(asyncio.create_task(self._watch_slack_auth(), name="slack-auth"))
        if serve:
            self._runner = web.AppRunner(self.web_app(), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(
                self._runner,
                host if host is not None else self.settings.host,
                port if port is not None else self.settings.port,
            )
            await site.start()
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        if self.settings.socket_mode and self.bolt is not None:
            await self._start_socket_mode()
        log.info(
            "firewatch started",
            extra={"mode": "socket" if self.settings.socket_mode else "http", "port": self.port},
        )

    async def resolve_roster(self) -> None:
        """Look up the roster's emails (users.lookupByEmail) before serving."""
        try:
            await self.roster.resolve()
        except UnknownPerson as exc:
            raise ConfigError(f"FIREWATCH_POLICY_FILE: {exc}") from None
        except Exception as exc:
            raise ConfigError(
                f"FIREWATCH_POLICY_FILE: could not look up the roster's emails in Slack: {exc}"
            ) from None

    async def _page_soon(self, incident_id: int) -> None:
        task = asyncio.create_task(self._page_now(incident_id), name=f"page-{incident_id}")
        self._nudges.add(task)
        task.add_done_callback(self._nudges.discard)

    async def _page_now(self, incident_id: int) -> None:
        try:
            # Background work like any other: in a gap between requests (at most
            # OUTBOX_YIELD_MAX_SECONDS late), and requests' writes go first. Under a
            # storm of declarations the nudges otherwise ran alongside the answers.
            await self.load.gap()
            with background_writes():
                await self.paging.page_incident(incident_id)
        except Exception:
            log.exception(
                "paging nudge failed; the paging tick pages it", extra={"incident": incident_id}
            )

    async def _checkpoints(self) -> None:
        """SQLite: move the write-ahead log into the database file from a thread of its
        own every CHECKPOINT_SECONDS, so no answer's commit does it (storage/engine.py)."""
        while not self._stop.is_set():
            try:
                if await self.db.checkpoint() is None:
                    return  # PostgreSQL, or SQLite in memory: nothing to do
            except Exception:
                log.exception("SQLite checkpoint failed; retrying at the next one")
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=CHECKPOINT_SECONDS)
            except TimeoutError:
                pass

    async def _tick_paging(self) -> None:
        """The periodic paging driver; deadlines live in the database, so a missed tick
        only delays an escalation until the next one."""
        while not self._stop.is_set():
            try:
                with background_writes():
                    await self.paging.tick()
            except Exception:
                log.exception("paging tick failed; retrying at the next one")
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.paging_tick_seconds)
            except TimeoutError:
                pass

    async def _start_socket_mode(self) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        assert self.bolt is not None
        assert self.settings.slack_app_token is not None
        handler = AsyncSocketModeHandler(
            self.bolt, self.settings.slack_app_token.get_secret_value()
        )
        state = self.socket
        clock = self.clock

        async def seen(*_: Any) -> None:
            state.last_message_at = clock.now()

        handler.client.message_listeners.append(seen)
        # Kept before connecting: slack_sdk retries a refused connection forever, and stop()
        # must still be able to close the client (and its aiohttp session) then. The
        # connection is made in the background so a bad app token cannot hang start-up
        # (and with it SIGTERM): /health shows the socket disconnected and the logs say why.
        self._socket_handler = handler
        self._tasks.append(asyncio.create_task(self._connect_socket(handler), name="socket-mode"))

    async def _connect_socket(self, handler: Any) -> None:
        try:
            await handler.connect_async()
        except Exception:
            log.exception("Socket Mode could not connect; check SLACK_APP_TOKEN")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Stop taking work, let background loops finish what they hold (a delivery in
        flight, a database transaction), then close everything."""
        self._stop.set()
        self.scheduler.stop()
        await self.follow_ups.wait(timeout=grace)
        if self._nudges:  # a nudge cut short is paged by the tick after the restart
            _, late = await asyncio.wait(self._nudges, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._socket_handler is not None:
            await self._socket_handler.close_async()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()
            self._http = None
        await self.db.dispose()

    async def run_until_stopped(self) -> None:
        await self._stop.wait()

    def request_stop(self) -> None:
        self._stop.set()

    # --- Slack identity ---------------------------------------------------------------

    async def check_slack_auth(self) -> SlackIdentity:
        try:
            response = await self.client.auth_test()
            self.identity.ok = True
            self.identity.team_id = response.get("team_id")
            self.identity.bot_user_id = response.get("user_id")
            self.identity.bot_id = response.get("bot_id")
            self.identity.error = None
        except Exception as exc:  # health reports it; requests keep being answered
            self.identity.ok = False
            self.identity.error = _slack_error(exc)
            log.warning("Slack auth check failed: %s", self.identity.error)
        self.identity.checked_at = self.clock.now()
        return self.identity

    async def _watch_slack_auth(self, every: float = 300.0) -> None:
        while not self._stop.is_set():
            await self.check_slack_auth()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=every)
            except TimeoutError:
                pass

    # --- health -----------------------------------------------------------------------

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        try:
            current = await asyncio.wait_for(migrate.current_revision(self.db.engine), timeout=2)
        except Exception as exc:
            return 503, {
                "status": "not ready",
                "reason": f"database unreachable: {type(exc).__name__}",
            }
        if current != migrate.head_revision():
            return 503, {"status": "not ready", "reason": "database schema is not current"}
        return 200, {"status": "ready"}

    async def health(self) -> tuple[int, dict[str, Any]]:
        components: dict[str, Any] = {}
        status = "ok"
        started = time.perf_counter()
        try:
            async with self.db.session(write=False) as session:
                stats = await asyncio.wait_for(OutboxRepository(session).stats(), timeout=2)
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            components["database"] = {"status": "ok", "latency_ms": latency_ms}
            oldest_age = (
                (self.clock.now() - stats.oldest_pending).total_seconds()
                if stats.oldest_pending
                else 0.0
            )
            outbox_status = "ok" if stats.dead == 0 and oldest_age < 300 else "degraded"
            components["outbox"] = {
                "status": outbox_status,
                "pending": stats.pending,
                "dead": stats.dead,
                "oldest_pending_age_seconds": round(max(oldest_age, 0.0), 3),
            }
            if outbox_status != "ok":
                status = "degraded"
            # Declarations answered but not declared yet: seconds at most, normally.
            waiting, waited = await asyncio.wait_for(self.intake.backlog(), timeout=2)
            intake_status = "ok" if waited < INTAKE_DEGRADED_SECONDS else "degraded"
            components["declaration_intake"] = {
                "status": intake_status,
                "pending": waiting,
                "oldest_pending_age_seconds": round(waited, 3),
            }
            if intake_status != "ok":
                status = "degraded"
        except Exception as exc:
            components["database"] = {"status": "down", "error": type(exc).__name__}
            status = "down"
        components["slack_auth"] = {
            "status": "ok" if self.identity.ok else "failing",
            "team": self.identity.team_id,
            "error": self.identity.error,
            "checked_at": self.identity.checked_at.isoformat()
            if self.identity.checked_at
            else None,
        }
        if not self.identity.ok and status == "ok":
            status = "degraded"
        if self.settings.socket_mode:
            connected = False
            if self._socket_handler is not None:
                try:
                    connected = bool(await self._socket_handler.client.is_connected())
                except Exception:
                    connected = False
            last = self.socket.last_message_at
            components["socket_mode"] = {
                "status": "ok" if connected else "disconnected",
                "connected": connected,
                "last_message_at": last.isoformat() if last else None,
            }
            if not connected and status == "ok":
                status = "degraded"
        payload = {
            "status": status,
            "uptime_seconds": round(time.monotonic() - self.started_monotonic, 1),
            "mode": "socket" if self.settings.socket_mode else "http",
            "components": components,
            "time": datetime.now(UTC).isoformat(),
        }
        return (503 if status == "down" else 200), payload


def _slack_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return str(response.get("error") or f"HTTP {response.status_code}")
        except Exception:
            return type(exc).__name__
    return type(exc).__name__
