"""The declaration intake: a declare-modal submission is answered once it is stored.

Declaring writes an incident, its first timeline entry and five outbox rows, and its
nudges page the response team: about ten milliseconds of work on our machines. Slack
gives the submission 3 seconds, and under a storm of declarations those milliseconds
queue behind each other (at 200 submissions a second the answers took seconds). So the
answer waits only for one durable row per submission, written with group commit; the
intake worker declares from those rows right after, in submission order, stepping out of
the way of requests being answered. A crash between the two loses nothing: the row stays
until the transaction that declares its incident deletes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from bot.domain.clock import Clock
from bot.domain.incident import IncidentReport, Kind
from bot.runtime.load import RequestLoad
from bot.services.group_commit import GroupCommit
from bot.services.incidents import DeclareOutcome, IncidentService, InvalidReport
from bot.services.polling import poll_until_stopped
from storage import intake
from storage.engine import Database, background_writes

log = logging.getLogger(__name__)

BATCH = 50


class DeclarationIntake:
    def __init__(
        self,
        db: Database,
        incidents: IncidentService,
        clock: Clock,
        *,
        load: RequestLoad | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.incidents = incidents
        self.clock = clock
        self.load = load
        self.poll_seconds = poll_seconds
        self._commit: GroupCommit[tuple[str, dict[str, Any]], None] = GroupCommit(self._write)
        self._wake = asyncio.Event()

    async def submit(
        self,
        report: IncidentReport,
        *,
        reporter_id: str,
        declare_key: str,
        checklist_answers: set[str],
    ) -> None:
        """Screen the submission (raises InvalidReport or NotAnIncident, nothing stored)
        and store it; returns once it is committed. Idempotent on `declare_key`."""
        checklist = self.incidents.screen(report, checklist_answers=checklist_answers)
        data = {"report": asdict(report), "reporter_id": reporter_id, "checklist": checklist}
        await self._commit.submit((declare_key, data))
        self._wake.set()

    async def _write(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[None]:
        now = self.clock.now()
        await self.db.write_batch(lambda conn: intake.add_many(conn, items, now=now))
        return [None] * len(items)

    def wake(self) -> None:
        self._wake.set()

    async def pending(self) -> int:
        return (await self.backlog())[0]

    async def backlog(self) -> tuple[int, float]:
        """Submissions waiting to be declared, and the oldest one's age in seconds."""
        async with self.db.session(write=False) as session:
            count, oldest = await intake.stats(session)
        age = (self.clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        return count, max(age, 0.0)

    async def run_forever(self, stop: asyncio.Event) -> None:
        with background_writes():  # and the paging nudges it starts
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        await poll_until_stopped(
            self.run_once,
            self._wake,
            stop,
            idle=lambda: self.poll_seconds,
            log=log,
            failed="declaration intake failed; retrying",
        )

    async def run_once(self, limit: int = BATCH) -> int:
        """Declare the oldest stored submissions; returns how many were taken."""
        async with self.db.session(write=False) as session:
            items = await intake.oldest(session, limit)
        failed = 0
        for item in items:
            if self.load is not None:
                await self.load.gap()
            try:
                await self.declare(item)
            except Exception:  # the row stays for the next pass; the others go on
                failed += 1
                log.exception(
                    "could not declare a stored submission; retrying", extra={"intake": item.id}
                )
        return len(items) - failed

    async def declare(self, item: intake.IntakeItem) -> DeclareOutcome | None:
        try:
            report = IncidentReport(**item.data["report"])
            reporter_id = str(item.data["reporter_id"])
            checklist = dict(item.data.get("checklist") or {})
        except (KeyError, TypeError, ValueError):
            log.error("unreadable declaration in the intake; dropped", extra={"intake": item.id})
            await self._drop(item.id)
            return None
        try:
            async with self.db.session(background=True) as session:
                if not await intake.claim(session, item.id):
                    return None  # another replica declared it
                outcome = await self.incidents.declare_in(
                    session,
                    report,
                    reporter_id=reporter_id,
                    declare_key=item.declare_key,
                    checklist=checklist,
                    kind=Kind.INCIDENT,
                    at=item.received_at,
                )
        except InvalidReport as exc:  # the policy lost the severity since the answer
            log.error(
                "declaration no longer valid under the current policy; dropped",
                extra={"intake": item.id, "errors": exc.errors, "reporter": reporter_id},
            )
            await self._drop(item.id)
            return None
        return await self.incidents.declared_committed(outcome)

    async def _drop(self, item_id: int) -> None:
        async with self.db.session(background=True) as session:
            await intake.claim(session, item_id)
