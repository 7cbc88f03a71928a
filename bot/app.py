"""Composition root: builds Firewatch from Settings and a Clock and wires its parts (the
database, the services, the Slack app, the workers, the runtime); start, stop and health
hand over to them.

Nothing here decides anything: start-up checks, background work, health and metrics live
in bot/runtime/, everything that talks to Slack in bot/slack/.
"""

from __future__ import annotations

import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.config import Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.policy import Policy
from bot.policy.holder import PolicyHolder, load_policy_or_fail
from bot.runtime.access import OperatorAccess
from bot.runtime.alert_endpoints import AlertTokens, alert_routes
from bot.runtime.background import Background, Nudges, paging_tick, sqlite_checkpoints, watch
from bot.runtime.health import Health, Probe
from bot.runtime.load import RequestLoad
from bot.runtime.metrics import Metrics
from bot.runtime.scheduler import Scheduler
from bot.runtime.startup import prepare_schema, resolve_roster
from bot.services import effects
from bot.services.alert_actions import AlertActions
from bot.services.alert_cards import AlertCards
from bot.services.alert_paging import AlertPaging
from bot.services.alerts import AlertDesk
from bot.services.authority import Authority
from bot.services.capture_worker import CaptureWorker
from bot.services.captures import CaptureDesk
from bot.services.changes import ChangeService
from bot.services.channel_names import ChannelNameService
from bot.services.digest import DigestService
from bot.services.events import EventLog
from bot.services.home import HomeService
from bot.services.incidents import IncidentService
from bot.services.intake import DeclarationIntake
from bot.services.jobs import JobRunner
from bot.services.lifecycle import run_purge
from bot.services.notes import NoteIntake
from bot.services.notices import NoticeService
from bot.services.outbox_worker import EffectHandler, OutboxWorker, delivery_lease
from bot.services.paging import PagingService
from bot.services.postmortems import PostmortemService
from bot.services.retitle import Retitling
from bot.services.roster import RosterKeeper
from bot.services.status_page import StatusPageService
from bot.services.timeline import TimelineService
from bot.slack.auth import AUTH_CHECK_SECONDS, SlackAuth, SlackIdentity
from bot.slack.blocks.incident import declared_with_fallback
from bot.slack.clients import SlackClients
from bot.slack.delivery.alert_pages import AlertPageEffects
from bot.slack.delivery.alerts import AlertEffects
from bot.slack.delivery.channel_names import ChannelNames
from bot.slack.delivery.digest import DigestEffects
from bot.slack.delivery.handler import CALLS_PER_DELIVERY
from bot.slack.delivery.home import HomeEffects
from bot.slack.delivery.incidents import IncidentEffects
from bot.slack.delivery.live_channel import LiveChannelEffects
from bot.slack.delivery.paging import ExternalPaging, PagingEffects, SlackDirectory
from bot.slack.delivery.postmortems import PostmortemEffects
from bot.slack.delivery.timeline import TimelineEffects
from bot.slack.deps import ListenerDeps
from bot.slack.follow_ups import FollowUps
from bot.slack.instrumentation import request_metrics
from bot.slack.listeners.capture import SlackMessages, capture_wording
from bot.slack.permission import refusal_sentence
from bot.slack.runtime import SocketMode, build_slack_app
from bot.slack.server import HttpServer, build_web_app
from bot.slack.user_directory import UserDirectory
from bot.web.status_server import build_status_app, status_routes
from storage.engine import Database
from storage.instrumentation import time_database

# long: the composition root names each part it builds and wires; split, the wiring
# would be read across files.
log = logging.getLogger(__name__)

# A moment counts as a gap between requests once none has been answered for this long.
# Longer than the time between two requests at 100 a second (one replica's share of 200):
# at 5 ms, half those moments were "gaps", background work (a declaration's channel,
# pages, announcement) ran in nearly all of them, and with the other replica and
# PostgreSQL on the same cores the answers waited for the CPU (declarations' p99 at 4×
# the floor; docs/performance.md, fourteenth session). Under such load each background
# step now goes at most once per OUTBOX_YIELD_MAX_SECONDS, and catches up after.
QUIET_SECONDS = 0.02
# The longest the outbox steps aside for requests being answered before each step.
OUTBOX_YIELD_MAX_SECONDS = 0.25


# How long the note worker gathers notes before it appends them (one transaction for
# them all, bot/services/notes.py); under load it then waits for a lull, up to
# OUTBOX_YIELD_MAX_SECONDS more. A note's echo and `/incident timeline` do not wait.
NOTE_GATHER_SECONDS = 0.1


class Firewatch:
    """One Firewatch process, built from `settings`; `clock` and `policy` stand in for
    the system clock and the policy file (tests), `worker_id` names this replica."""

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
        self.metrics = Metrics()
        time_database(self.db, self.metrics.statement_executed)
        self.db.on_writer_wait = self.metrics.writer_waited
        self.slack = SlackClients(settings, self.metrics)
        self.auth = SlackAuth(self.slack.interactive, self.clock)
        # Requests being answered; background work waits for gaps between them.
        self.load = RequestLoad(max_wait=OUTBOX_YIELD_MAX_SECONDS, quiet=QUIET_SECONDS)
        self.worker: OutboxWorker  # built after the services that wake it
        self._build_services()
        # Paging re-reads the policy file when it changes, only when it came from the file.
        self._build_jobs_and_paging(
            worker_id, policy_file=settings.policy_file if policy is None else None
        )
        self._build_workers(worker_id)
        self._build_captures()
        self._build_alerts()
        self.bolt = build_slack_app(
            settings,
            clients=self.slack,
            auth=self.auth,
            deps=self._listener_deps(),
            events=EventLog(self.db),
            clock=self.clock,
        )
        app_token = settings.slack_app_token
        self.socket = SocketMode(app_token.get_secret_value(), self.clock) if app_token else None
        self.checks = Health(
            self.db,
            self.clock,
            intake_backlog=self.intake.backlog,
            intake_set_aside=self.intake.set_aside,
            capture_backlog=self.capturer.backlog,
            note_backlog=self.notes.backlog,
            identity=self.auth.identity,
            socket=self.socket,
        )
        self.background = self._background()
        self.server = HttpServer()
        self.port: int | None = None
        # The public status page's own server (FIREWATCH_STATUS_PORT; off when unset).
        self.status_server = HttpServer()
        self.status_port: int | None = None

    # --- assembly ---------------------------------------------------------------------

    def _wake_outbox(self) -> None:
        """Every use case's on_commit: deliver what it queued now, not at the next poll."""
        self.worker.wake()

    def _build_services(self) -> None:
        settings, db, policy, clock = self.settings, self.db, self.policy, self.clock
        wake = self._wake_outbox
        broadcast = settings.broadcast_channel
        self.incidents = IncidentService(
            db, policy, clock, broadcast_channel=broadcast, on_commit=wake
        )
        self.retitling = Retitling(db, policy, clock, on_commit=wake)
        self.timeline = TimelineService(
            db,
            policy,
            clock,
            broadcast_channel=broadcast,
            on_commit=wake,
        )
        # Who may do what: the policy's permissions, from stored state; refusals counted.
        self.users = UserDirectory(self.slack.interactive, clock)  # guests: users.info, cached
        self.authority = Authority(
            db,
            policy,
            clock,
            on_refusal=lambda action: self.metrics.permission_refused(action),
            home_team=lambda: self.auth.identity.team_id,  # another team's users: EXTERNAL
            directory=self.users,
            wording=refusal_sentence,  # the sentences are the Slack layer's (messages.py)
        )
        # RACI: who writes the post-mortem asks the roster and per-incident assignments;
        # approvals count the rostered holder only.
        holders, rostered = self._holders, self.authority.rostered
        self.changes = ChangeService(
            db, policy, clock, holders=holders, rostered=rostered, on_commit=wake
        )
        self.notices = NoticeService(db, clock, on_commit=wake)
        self.postmortems = PostmortemService(
            db,
            policy,
            clock,
            self.timeline,
            timezone=settings.timezone,
            holders=holders,
            rostered=rostered,
            on_commit=wake,
        )
        # The weekly meeting: APScheduler says when; job_runs makes each run happen once.
        self.digest = DigestService(db, policy, clock, timezone=settings.timezone, on_commit=wake)
        # The public status page: built from its own tables, cached a few seconds.
        self.status_page = StatusPageService(
            db,
            policy,
            clock,
            zone=ZoneInfo(settings.timezone),
            cache_seconds=settings.status_cache_seconds,
        )

    async def _holders(self, role: str, incident_id: int) -> set[str]:
        """RACI checks ask paging, which is built after the services that ask."""
        return await self.paging.holders(role, incident_id)

    def _build_jobs_and_paging(self, worker_id: str | None, *, policy_file: Path | None) -> None:
        settings, db, policy, clock = self.settings, self.db, self.policy, self.clock
        self.jobs = JobRunner(
            db,
            policy,
            clock,
            settings.timezone,
            worker_id,
            on_commit=self._wake_outbox,
            digest=self.digest,
        )
        audit = settings.audit_key.get_secret_value().encode() if settings.audit_key else None
        self.jobs.purge = lambda: run_purge(db, policy, clock, audit_key=audit)
        self.scheduler = Scheduler(self.jobs, clock, settings.timezone)
        policy.listeners.append(self.scheduler.reschedule)
        # Paging: the roster's emails become user ids at start.
        self.roster = RosterKeeper(
            policy, directory=SlackDirectory(self.slack.interactive), policy_file=policy_file
        )
        self.paging = PagingService(
            db,
            policy,
            clock,
            settings.broadcast_channel,
            on_commit=self._wake_outbox,
            roster_keeper=self.roster,
            pagerduty=settings.pagerduty_routing_key is not None,
            webhook=settings.page_webhook_url is not None,
        )
        # Alert page rules page roles through the same ladder (hooked on the alert desk;
        # its deadlines ride the paging tick).
        self.alert_paging = AlertPaging(
            db,
            lambda: self.paging.policy,
            clock,
            on_commit=self._wake_outbox,
            pagerduty=settings.pagerduty_routing_key is not None,
        )
        # Resolving (or closing) an incident resolves its pages in PagerDuty and the webhook.
        self.timeline.on_ended.append(self.paging.resolve_outside_slack)
        self.home = HomeService(db, lambda: self.paging.policy, clock, on_commit=self._wake_outbox)
        # Paging right after a declaration or a severity rise, after the answer.
        self.nudges = Nudges(self.paging, self.load)
        self.incidents.declared.append(lambda incident: self.nudges.page_soon(incident.id))
        self.incidents.severity_raised.append(
            lambda incident, _old: self.nudges.page_soon(incident.id)
        )

    def _note_intake(self) -> NoteIntake:
        """Notes are answered once stored; their worker appends them to the timeline, and
        their echo (queued with them) wakes the outbox."""
        return NoteIntake(
            self.db,
            self.clock,
            on_echo=lambda key: self.worker.wake_for(effects.TIMELINE_ECHO, {key}),
            load=self.load,
            poll_seconds=self.settings.outbox_poll_seconds,
            gather_seconds=NOTE_GATHER_SECONDS,
        )

    def _build_workers(self, worker_id: str | None) -> None:
        settings, outbox_client = self.settings, self.slack.outbox
        # A configured `#name` is looked up once (paging conversations.list) and stored.
        names = ChannelNames(outbox_client, ChannelNameService(self.db, self.clock), self.clock)
        self.notes = self._note_intake()
        self.effects = IncidentEffects(
            outbox_client,
            self.incidents,
            self.policy,
            self.auth.bot_user_id,
            names,
            linked_alerts=lambda incident_id: self.alert_actions.linked(incident_id),
        )
        pagerduty_key = settings.pagerduty_routing_key
        self.paging_effects = PagingEffects(
            outbox_client,
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
        self.worker = OutboxWorker(
            self.db,
            self._delivery_handlers(names),
            self.clock,
            max_attempts=settings.outbox_max_attempts,
            poll_seconds=settings.outbox_poll_seconds,
            lease=delivery_lease(settings.slack_timeout_seconds, CALLS_PER_DELIVERY),
            worker_id=worker_id,
            observer=self.metrics,
            load=self.load,
            # Slack's rate is about a message a second per channel: echoes and alert
            # cards (ordered per channel, `alerts:<channel>`) keep to it.
            pacing={
                effects.TIMELINE_ECHO: settings.echo_interval_seconds,
                effects.ALERT_CARD: settings.echo_interval_seconds,
                effects.ALERT_STORM_CARD: settings.echo_interval_seconds,
                # views.publish's rate is the workspace's: Homes share one key.
                effects.HOME_REFRESH: settings.home_publish_interval_seconds,
            },
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
            max_attempts=settings.intake_max_attempts,
            wording=declared_with_fallback,  # the sentence is the Slack layer's
        )

    def _delivery_handlers(self, names: ChannelNames) -> dict[str, EffectHandler]:
        """Every outbox row kind's delivery, one module per feature (bot/slack/delivery/)."""
        outbox_client = self.slack.outbox
        return {
            **self.effects.handlers(),
            **self.paging_effects.handlers(),
            **TimelineEffects(self.effects, self.changes, self.timeline, self.notes).handlers(),
            **PostmortemEffects(self.effects, self.postmortems, self.changes).handlers(),
            **LiveChannelEffects(self.effects, self.paging, self.retitling).handlers(),
            **DigestEffects(self.effects, self.digest).handlers(),
            **HomeEffects(outbox_client, self.home, lambda: self.paging.policy).handlers(),
            **AlertPageEffects(
                outbox_client,
                self.alert_paging,
                lambda: self.paging.policy,
                self.paging_effects.external,
            ).handlers(),
            **AlertEffects(
                outbox_client,
                AlertCards(self.db, self.policy, self.clock),
                self.policy,
                names,
            ).handlers(),
        }

    def _build_captures(self) -> None:
        """Captures are answered once stored; the worker reads the message and records it."""
        settings = self.settings
        self.captures = CaptureDesk(self.db, self.clock, on_stored=lambda: self.capturer.wake())
        self.capturer = CaptureWorker(
            self.db,
            self.clock,
            SlackMessages(self.slack.outbox),
            capture_wording,
            authority=self.authority,
            on_commit=self._wake_outbox,
            load=self.load,
            poll_seconds=settings.outbox_poll_seconds,
            lease_seconds=4 * settings.slack_timeout_seconds + 30,  # two calls and users.info
            max_attempts=settings.outbox_max_attempts,
        )

    def _build_alerts(self) -> None:
        """Alerts from monitors: stored at once, cards through the outbox, declarations
        through the intake (which links the alert group in the declaring transaction)."""
        self.alerts = AlertDesk(
            self.db,
            lambda: self.paging.policy,
            self.clock,
            broadcast_channel=self.settings.broadcast_channel,
            on_commit=self._wake_outbox,
            on_declare=self.intake.wake,
        )
        self.intake.declared_with.append(self.alerts.link_declared)
        self.timeline.on_ended.append(self.alerts.incident_ended)
        # The card's Declare, Link and Silence buttons; the report's list of alerts.
        self.alert_actions = AlertActions(self.alerts, on_commit=self._wake_outbox)
        self.alerts.on_firing.append(self.alert_paging.page_firing)
        # Its PagerDuty alerts resolved with the alert, or with the incident it is linked to.
        self.alerts.on_resolved.append(self.alert_paging.group_resolved)
        self.timeline.on_ended.append(self.alert_paging.incident_ended)

    def _listener_deps(self) -> ListenerDeps:
        return ListenerDeps(
            incidents=self.incidents,
            intake=self.intake,
            notes=self.notes,
            follow_ups=self.follow_ups,
            policy=self.policy,
            timeline=self.timeline,
            changes=self.changes,
            notices=self.notices,
            postmortems=self.postmortems,
            paging=self.paging,
            alert_paging=self.alert_paging,
            alert_actions=self.alert_actions,
            digest=self.digest,
            authority=self.authority,
            captures=self.captures,
            retitling=self.retitling,
            home=self.home,
            status_page=self.status_page,
        )

    def _background(self) -> Background:
        return Background(
            jobs=self.scheduler,
            loops=[
                paging_tick(self.paging, self.settings.paging_tick_seconds, self.alert_paging),
                sqlite_checkpoints(self.db),
                watch("slack-auth", AUTH_CHECK_SECONDS, self.auth.check),
            ],
            intake=self.intake,
            outbox=self.worker,
            nudges=self.nudges,
            follow_ups=self.follow_ups,
            captures=self.capturer,
            notes=self.notes,
        )

    def web_app(self) -> web.Application:
        secret = self.settings.slack_signing_secret
        http_mode = not self.settings.socket_mode
        access = OperatorAccess(self.settings.metrics_token_value)
        refresh = self.metrics.database_refresh(
            self.db, now=self.clock.now, slack_auth_ok=lambda: self.auth.identity.ok
        )
        return build_web_app(
            bolt=self.bolt if http_mode else None,
            signing_secret=secret.get_secret_value() if (secret and http_mode) else None,
            health=self.health,
            ready=self.readiness,
            extra_routes=[
                self.metrics.route(refresh, access=access),
                # Monitors' webhooks (docs/alerts.md): each source answers 404 until its
                # token is set.
                *alert_routes(
                    self.alerts,
                    AlertTokens.from_secrets(
                        self.settings.alertmanager_token,
                        self.settings.grafana_token,
                        self.settings.alert_webhook_token,
                    ),
                    self.metrics,
                    self.clock,
                    max_body_bytes=self.settings.alert_max_body_bytes,
                ),
            ],
            load=self.load,
            access=access,
            health_summary=self.checks.summary,
            middlewares=[request_metrics(self.metrics)],
        )

    def status_web_app(self) -> web.Application:
        """The public status page: /status, /status.json and /status.atom, nothing else."""
        return build_status_app(
            status_routes(
                self.status_page.public_page,
                cache_seconds=round(self.settings.status_cache_seconds),
                base_url=self.settings.status_url,
            )
        )

    # --- lifecycle --------------------------------------------------------------------

    async def prepare_database(self) -> None:
        await prepare_schema(self.db, auto_migrate=self.settings.should_auto_migrate)

    async def start(
        self,
        *,
        serve: bool = True,
        deliver: bool = True,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        """Migrate (or refuse), then start the background work (the outbox worker among
        it), the HTTP server and Socket Mode; `deliver=False` leaves the outbox to be
        driven by hand (tests)."""
        await self.prepare_database()
        self.slack.share_session()
        await resolve_roster(self.roster)
        await self.background.start(deliver=deliver)
        if serve:
            self.port = await self.server.start(
                self.web_app(),
                host if host is not None else self.settings.host,
                port if port is not None else self.settings.port,
            )
            if self.settings.status_port is not None:
                self.status_port = await self.status_server.start(
                    self.status_web_app(),
                    host if host is not None else self.settings.host,
                    self.settings.status_port,
                    setting="FIREWATCH_STATUS_PORT",
                )
        if self.socket is not None and self.bolt is not None:
            self.socket.open(self.bolt)
            self.background.spawn(self.socket.connect(), name="socket-mode")
        log.info(
            "firewatch started",
            extra={
                "mode": "socket" if self.settings.socket_mode else "http",
                "port": self.port,
                "status_port": self.status_port,
            },
        )

    async def stop(self, *, grace: float = 5.0) -> None:
        """Stop taking work, let background work finish what it holds (a delivery in
        flight, a database transaction), then close everything."""
        await self.background.stop(grace=grace)
        if self.socket is not None:
            await self.socket.close()
        await self.server.stop()
        await self.status_server.stop()
        await self.slack.close()
        await self.db.dispose()

    async def run_until_stopped(self) -> None:
        await self.background.stopping.wait()

    def request_stop(self) -> None:
        self.background.request_stop()

    # --- Slack identity and health ------------------------------------------------------

    async def check_slack_auth(self) -> SlackIdentity:
        return await self.auth.check()

    async def readiness(self) -> Probe:
        return await self.checks.readiness()

    async def health(self) -> Probe:
        return await self.checks.report()
