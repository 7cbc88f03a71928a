"""Test helpers: start the emulator and Firewatch together, drive the declare flow."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import Firewatch
from bot.config import Settings
from bot.domain.clock import Clock
from bot.domain.incident import IncidentReport
from bot.emulator import (
    SlackEmulator,
    SlackRequestSender,
    SlackResponse,
    SocketModeSender,
    input_values,
)
from bot.services.polling import QueueWorker
from bot.slack.ids import Block, Callback
from storage.models import IncidentRow, OutboxRow, TimelineEntryRow
from storage.refusals import RefusalRow

PG_ENV = "FIREWATCH_TEST_DATABASE_URL"
TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret-0123456789abcdef"
APP_TOKEN = "xapp-1-A0FIREWTCH-1234567890-0123456789abcdef"

# Checklist ticks that qualify under the default policy (seed 003): items 1 and 2, one
# of the "severe" sub-items, all of the "urgent" ones.
QUALIFYING: dict[str, list[str]] = {
    "checklist__incident": ["production", "user_access"],
    "checklist__severe": ["system_downtime"],
    "checklist__urgent": ["ongoing", "no_workaround", "cannot_wait"],
}
NOT_URGENT: dict[str, list[str]] = {**QUALIFYING, "checklist__urgent": ["ongoing"]}

REPORT: dict[str, str] = {
    Block.TITLE: "Checkout errors",
    Block.SEVERITY: "sev1",
    Block.NATURE: "HTTP 500 on /checkout for a third of requests",
    Block.DISCOVERY: "monitoring_alert",
    Block.IMPACT: "Customers cannot pay",
    Block.EVIDENCE: "https://grafana.example.com/d/checkout",
    Block.SERVICE: "checkout-api",
}


def make_settings(database_url: str, api_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api_url,
        "FIREWATCH_DATABASE_URL": database_url,
        "FIREWATCH_BROADCAST_CHANNEL": "#incidents",
        "FIREWATCH_HOST": "127.0.0.1",
        "FIREWATCH_PORT": 0,
        "FIREWATCH_AUTO_MIGRATE": True,
        "FIREWATCH_OUTBOX_POLL_SECONDS": 0.05,
        "FIREWATCH_ECHO_INTERVAL_SECONDS": 0,  # tests that pace echoes say so
        "FIREWATCH_HOME_PUBLISH_INTERVAL_SECONDS": 0,  # tests that pace Homes say so
        "FIREWATCH_ENV": "test",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class Harness:
    slack: SlackEmulator
    app: Firewatch
    sender: SlackRequestSender
    database_url: str
    #: Set when started with ``socket=True``: pushes envelopes over the emulator's socket.
    socket: SocketModeSender | None = None

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.app.port}/slack/events"

    async def open_declare_modal(self, text: str = "", user_id: str = "U0ALICE") -> dict[str, Any]:
        before = len(self.slack.opened_views(Callback.DECLARE_MODAL))
        response = await self.sender.slash_command(text, user_id=user_id)
        assert response.status == 200, response.text
        views = await self.slack.wait_for(
            lambda: list(self.slack.opened_views(Callback.DECLARE_MODAL))[before:]
        )
        return views[-1]

    async def submit(
        self,
        view: Mapping[str, Any],
        report: Mapping[str, str] | None = None,
        user_id: str = "U0ALICE",
        checklist: Mapping[str, list[str]] | None = None,
    ) -> SlackResponse:
        answers = QUALIFYING if checklist is None else checklist
        values = input_values(view, {**(report or REPORT), **answers})
        response = await self.sender.view_submission(view, values, user_id=user_id)
        await self.declared()
        return response

    async def declared(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every acknowledged declaration has become an incident (the intake
        declares right after the answer)."""
        await _emptied(self.app.intake, "declaration intake still pending", timeout)

    async def declare(
        self,
        report: Mapping[str, str] | None = None,
        checklist: Mapping[str, list[str]] | None = None,
    ) -> SlackResponse:
        view = await self.open_declare_modal()
        response = await self.submit(view, report, checklist=checklist)
        assert response.status == 200, response.text
        return response

    async def incidents(self) -> list[IncidentRow]:
        async with self.app.db.session(write=False) as session:
            return list(
                (await session.execute(select(IncidentRow).order_by(IncidentRow.id))).scalars()
            )

    async def outbox(self) -> list[OutboxRow]:
        async with self.app.db.session(write=False) as session:
            return list((await session.execute(select(OutboxRow).order_by(OutboxRow.id))).scalars())

    async def refusals(self) -> list[tuple[str, str, str, int | None]]:
        """Every refusal recorded, oldest first: (who, kind, action, incident id)."""
        async with self.app.db.session(write=False) as session:
            found = (await session.execute(select(RefusalRow).order_by(RefusalRow.id))).scalars()
            return [(r.actor, r.actor_kind, r.action, r.incident_id) for r in found]

    async def timeline(self) -> list[TimelineEntryRow]:
        async with self.app.db.session(write=False) as session:
            stmt = select(TimelineEntryRow).order_by(
                TimelineEntryRow.incident_id, TimelineEntryRow.seq
            )
            return list((await session.execute(stmt)).scalars())

    async def captured(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the capture worker has completed every stored capture request."""
        await _emptied(self.app.capturer, "capture requests still pending", timeout)

    async def noted(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every acknowledged note is on its timeline (the note worker appends
        right after the answer)."""
        await _emptied(self.app.notes, "notes still waiting to be appended", timeout)

    async def settled(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the outbox has nothing pending (captures, declarations and notes
        first)."""
        await self.declared(timeout)
        await self.captured(timeout)
        await self.noted(timeout)

        async def pending() -> int:
            # Rows scheduled for later (e.g. archiving a channel in a week) do not count.
            horizon = self.app.clock.now() + timedelta(minutes=1)
            return sum(
                1
                for row in await self.outbox()
                if row.status == "pending" and row.next_attempt_at <= horizon
            )

        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await pending():
            if loop.time() > deadline:
                rows = [(r.id, r.kind, r.status, r.last_error) for r in await self.outbox()]
                raise TimeoutError(f"outbox still pending: {rows}")
            self.app.worker.wake()
            await asyncio.sleep(0.02)


async def _emptied(worker: QueueWorker, still: str, timeout: float) -> None:  # noqa: ASYNC109
    """Wake `worker` until its queue is empty; TimeoutError (`still`) after `timeout` s."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await worker.backlog())[0]:
        if loop.time() > deadline:
            raise TimeoutError(still)
        worker.wake()
        await asyncio.sleep(0.01)


@asynccontextmanager
async def start_harness(
    database_url: str,
    *,
    clock: Clock | None = None,
    emulator: SlackEmulator | None = None,
    start_worker: bool = True,
    socket: bool = False,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """``socket=True``: Socket Mode (app token, no signing secret); the emulator accepts it."""
    own_emulator = emulator is None
    slack = emulator or SlackEmulator(bot_token=TOKEN)
    if socket:
        slack.app_token = slack.app_token or APP_TOKEN
        settings = {"SLACK_APP_TOKEN": slack.app_token, "SLACK_SIGNING_SECRET": None, **settings}
    if own_emulator:
        await slack.start()
    app = Firewatch(make_settings(database_url, slack.api_url, **settings), clock=clock)
    app.worker.backoff_base = 0.01  # keep retries quick; Retry-After is still honoured
    await app.start(deliver=start_worker)
    if socket:
        # Socket Mode connects in the background: wait (bounded) for the socket.
        await slack.wait_for(lambda: slack.socket_connected, timeout=10)
    sender = SlackRequestSender(
        f"http://127.0.0.1:{app.port}/slack/events",
        SECRET,
        response_url_base=slack.hooks_url,
        workspace=slack.state,
    )
    try:
        yield Harness(
            slack=slack,
            app=app,
            sender=sender,
            database_url=database_url,
            socket=SocketModeSender(slack) if socket else None,
        )
    finally:
        await sender.close()
        await app.stop()
        if own_emulator:
            await slack.stop()


@asynccontextmanager
async def status_page_harness(
    database_url: str, policy_file: Path, policy: str, clock: Clock
) -> AsyncIterator[Harness]:
    """A harness whose policy is `policy` (written to `policy_file`), serving the public
    status page on a port of its own, its page built afresh for every request."""
    await asyncio.to_thread(policy_file.write_text, policy)
    async with start_harness(
        database_url,
        clock=clock,
        FIREWATCH_POLICY_FILE=str(policy_file),
        FIREWATCH_STATUS_PORT=0,
        FIREWATCH_STATUS_CACHE_SECONDS=0,
    ) as harness:
        yield harness


def checkout_report() -> IncidentReport:
    """A complete, valid incident report (checkout failing) for tests that only need one."""
    return IncidentReport(
        title="Checkout errors",
        severity="sev1",
        nature="HTTP 500",
        discovery="monitoring_alert",
        impact="Customers cannot pay",
        evidence="https://grafana.example.com/d/checkout",
    )


REPO = Path(__file__).resolve().parents[1]


async def spawn_cli(
    *args: str, database_url: str, extra_env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`firewatch ARGS` started on `database_url`, none of this process's Slack or
    Firewatch settings passed on, its standard output and error piped to the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "FIREWATCH_"))}
    env["FIREWATCH_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_cli(
    *args: str, database_url: str, extra_env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`firewatch ARGS` run to its end without blocking the event loop: the app under
    test runs on it, and a command waiting for a row one of its transactions holds would
    otherwise wait forever."""
    proc = await spawn_cli(*args, database_url=database_url, extra_env=extra_env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(list(args), proc.returncode, out.decode(), err.decode())
