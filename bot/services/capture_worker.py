"""The capture worker: completes stored capture requests (bot/services/captures.py).

For each pending request, oldest first: claim it for a lease (replicas take each once),
check that the person may still capture to the incident, fetch the message from Slack
when the request does not carry its text, and record the entry (its echo and the
person's notice with it) in the transaction that deletes the request. Slack failing in
a way that may pass (429, 5xx, a timeout) retries with back-off (honouring Retry-After);
a message that is gone, a channel Firewatch may not read, an incident that no longer
exists, or Slack failing every attempt: said on the timeline (where there still is one)
and to the person.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.incident import Incident, reference
from bot.domain.permissions import Action, Actor
from bot.domain.timeline import EntryKind
from bot.runtime.load import RequestLoad
from bot.services import effects
from bot.services.authority import Authority, Refused
from bot.services.captures import (
    SHORTCUT,
    MessageSource,
    Outcome,
    Wording,
    captured_entry,
    notice,
)
from bot.services.effects import Effect
from bot.services.outbox_handlers import PermanentFailure, RetryLater
from bot.services.polling import QueueWorker
from bot.services.timeline import Captured, capture_key
from storage import captures
from storage.captures import WITHDRAW, CaptureRequest
from storage.engine import Database
from storage.outbox import enqueue_rows
from storage.repositories import IncidentRepository
from storage.session import Connection, Session
from storage.timeline_batch import NewEntry, append_entries, lock_incidents

log = logging.getLogger(__name__)

BATCH = 50
# A form never submitted is forgotten after this long.
FORM_LIFETIME = timedelta(hours=24)

# What the timeline says of a capture that could not be completed.
FAILED = {
    Outcome.DELETED: "the message was deleted",
    Outcome.NO_ACCESS: "Firewatch cannot read that conversation",
    Outcome.GAVE_UP: "Slack did not answer",
}


class CaptureWorker(QueueWorker):
    _log = log
    _failure_log = "capture worker failed; retrying"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        source: MessageSource,
        wording: Wording,
        *,
        authority: Authority | None = None,
        on_commit: Callable[[], None] | None = None,
        load: RequestLoad | None = None,
        poll_seconds: float = 1.0,
        lease_seconds: float = 300.0,
        max_attempts: int = 8,
    ) -> None:
        self.db = db
        self.clock = clock
        self.source = source
        self.wording = wording
        self.authority = authority
        self._on_commit = on_commit or (lambda: None)
        self.load = load
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.backoff_base = 2.0  # seconds; doubled at each attempt
        self.backoff_max = 300.0
        self._wake = asyncio.Event()
        self._forms_checked: datetime | None = None

    async def _stats(self, session: Session) -> tuple[int, datetime | None]:
        # requests waiting for the worker
        return await captures.stats(session)

    async def run_once(self, limit: int = BATCH) -> int:
        """Complete the due requests; returns how many were completed."""
        now = self.clock.now()
        await self._forget_old_forms(now)
        async with self.db.session(write=False) as session:
            due = await captures.due(session, now, limit)
        done = 0
        for request in due:
            if self.load is not None:
                await self.load.gap()
            try:
                done += await self.complete(request)
            except Exception as exc:  # the request stays, retried with back-off
                log.exception("capture failed; retrying", extra={"capture": request.id})
                await self._retry(request, f"{type(exc).__name__}: {exc}", None)
        return done

    async def _forget_old_forms(self, now: datetime) -> None:
        """Forms never submitted (closed, left open) are forgotten, once an hour at most."""
        if self._forms_checked is not None and now - self._forms_checked < timedelta(hours=1):
            return
        self._forms_checked = now
        async with self.db.session() as session:
            await captures.forget_forms_before(session, now - FORM_LIFETIME)

    async def complete(self, request: CaptureRequest) -> bool:
        """One request: True when it is settled (recorded, or said why not)."""
        now = self.clock.now()
        async with self.db.session() as session:
            if not await captures.claim(session, request.id, now=now, until=now + self.lease):
                return False  # another replica has it
        if request.action == WITHDRAW:
            await self._write(request, lambda conn, now: self._withdraw(conn, request, now))
            return True
        incident = await self._incident(request.incident_id)
        if incident is None:
            return await self._fail(request, Outcome.INCIDENT_GONE, None)
        if not await self._allowed(request, incident):
            return True
        message = await self._message(request, incident)
        if message is None:
            return True  # retried later, or said why not
        await self._write(
            request, lambda conn, now: self._record(conn, request, incident, message, now)
        )
        return True

    async def _incident(self, incident_id: int | None) -> Incident | None:
        if incident_id is None:
            return None
        async with self.db.session(write=False) as session:
            return await IncidentRepository(session).find(incident_id)

    async def _allowed(self, request: CaptureRequest, incident: Incident) -> bool:
        """The policy's `capture` check, at the time the entry is written; a refusal is
        recorded (Authority) and told to the person."""
        if self.authority is None:
            return True
        actor = Actor(request.user_id, team_id=request.team_id, channel_id=request.asked_in)
        try:
            await self.authority.require(actor, Action.CAPTURE, incident.id)
        except Refused as refused:
            told = notice(request, str(refused))
            await self._write(request, lambda _conn, _now: [told])
            return False
        return True

    async def _message(self, request: CaptureRequest, incident: Incident) -> Captured | None:
        """The message: as the request carries it, else from Slack. None when it is not
        to be recorded now (retried later, or the failure said)."""
        text, author = request.text, request.author
        if text is None:
            try:
                found = await self.source.fetch(request.channel_id, request.message_ts)
            except RetryLater as exc:
                await self._retry(request, exc.reason, exc.retry_after)
                return None
            except PermanentFailure as exc:
                await self._fail(request, Outcome.NO_ACCESS, incident, str(exc))
                return None
            if found is None:
                await self._fail(request, Outcome.DELETED, incident)
                return None
            text, author = found.text, found.author or author
        return Captured(request.channel_id, request.message_ts, author, text, request.permalink)

    # --- settling -------------------------------------------------------------------------

    async def _retry(self, request: CaptureRequest, reason: str, retry_after: float | None) -> None:
        attempts = request.attempts + 1
        if attempts >= self.max_attempts:
            incident = await self._incident(request.incident_id)
            await self._fail(request, Outcome.GAVE_UP, incident, reason)
            return
        delay = retry_after or min(self.backoff_max, self.backoff_base * 2 ** (attempts - 1))
        at = self.clock.now() + timedelta(seconds=delay)
        log.warning(
            "capture will be retried",
            extra={"capture": request.id, "reason": reason, "attempt": attempts},
        )
        async with self.db.session() as session:
            await captures.retry_at(session, request.id, attempts=attempts, at=at, error=reason)

    async def _fail(
        self,
        request: CaptureRequest,
        outcome: Outcome,
        incident: Incident | None,
        detail: str = "",
    ) -> bool:
        log.warning(
            "capture could not be completed",
            extra={"capture": request.id, "outcome": outcome.value, "detail": detail},
        )
        ref = incident.ref if incident is not None else _ref(request)
        told = notice(request, self.wording(outcome, ref))

        def work(conn: Connection, now: datetime) -> list[Effect]:
            if incident is None:
                return [told]
            text = (
                f"<@{request.user_id}> asked to add a message to the timeline;"
                f" it could not be added: {FAILED.get(outcome, outcome.value)}"
            )
            data = {"channel": request.channel_id, "ts": request.message_ts}
            data |= {"permalink": request.permalink, "failed": outcome.value}
            entry = NewEntry(incident.id, EntryKind.SYSTEM, request.user_id, text, data)
            return [*_append(conn, entry, now), told]

        await self._write(request, work)
        return True

    async def _write(
        self, request: CaptureRequest, work: Callable[[Connection, datetime], list[Effect]]
    ) -> None:
        """Settle `request`: delete it and write what `work` returns (outbox rows), in one
        transaction; nothing when another replica settled it first."""
        now = self.clock.now()

        def settle(conn: Connection) -> bool:
            if not captures.take(conn, request.id):
                return False
            enqueue_rows(conn, work(conn, now), now=now)
            return True

        if await self.db.write_batch(settle):
            self._on_commit()

    def _record(
        self,
        conn: Connection,
        request: CaptureRequest,
        incident: Incident,
        message: Captured,
        now: datetime,
    ) -> list[Effect]:
        entry = captured_entry(incident.id, message, actor=request.user_id, via=request.via)
        appended = _append_one(conn, entry, now)
        if appended is None:  # purged since it was read
            return [notice(request, self.wording(Outcome.INCIDENT_GONE, incident.ref))]
        rows, added = appended
        if request.via == SHORTCUT:
            outcome = Outcome.ADDED if added else Outcome.ALREADY
            rows.append(notice(request, self.wording(outcome, incident.ref)))
        return rows

    def _withdraw(self, conn: Connection, request: CaptureRequest, now: datetime) -> list[Effect]:
        """The reaction was removed: a capture still queued is dropped; a recorded one is
        marked withdrawn by a new entry (history stays)."""
        if captures.cancel_adds(conn, request) or request.incident_id is None:
            return []
        key = capture_key(request.incident_id, request.channel_id, request.message_ts)
        seq = captures.captured_seq(conn, key)
        if seq is None:
            return []
        entry = NewEntry(
            request.incident_id,
            EntryKind.WITHDRAWN,
            request.user_id,
            f"Withdrew entry #{seq} from the timeline",
            {"withdraws": seq},
            f"withdraw:{key}",
        )
        return _append(conn, entry, now)


def _append_one(
    conn: Connection, entry: NewEntry, now: datetime
) -> tuple[list[Effect], bool] | None:
    """Append `entry`, its incident locked: its echo, and whether it was new (not
    recorded before); None when the incident is gone."""
    keys = [entry.source_key] if entry.source_key is not None else []
    heads = lock_incidents(conn, [entry.incident_id], keys)
    if entry.incident_id not in heads:
        return None
    written = append_entries(conn, [entry], at=now, locked=heads)
    return effects.echoes(heads[entry.incident_id].channel_status, written), written[0] is not None


def _append(conn: Connection, entry: NewEntry, now: datetime) -> list[Effect]:
    appended = _append_one(conn, entry, now)
    return appended[0] if appended is not None else []


def _ref(request: CaptureRequest) -> str:
    return reference(request.incident_id) if request.incident_id is not None else ""
