"""Timeline use cases: status changes, reading and verifying.

Every entry is appended to the incident's hash chain and echoed in its channel through
the outbox, in the same transaction. Notes come through the note intake
(bot/services/notes.py), captured messages through the capture worker
(bot/services/capture_worker.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.domain.clock import Clock
from bot.domain.incident import Incident, Kind, Status, reference
from bot.domain.policy import Policy
from bot.domain.retention import chain_problem
from bot.domain.status import LABELS, StatusChange, transition
from bot.domain.status_page import ComponentState
from bot.domain.timeline import EntryKind, TimelineEntry
from bot.services import effects, status_page
from bot.services.base import Service, locked_incident
from bot.services.effects import Effect
from bot.services.home import refresh_incident_homes
from bot.services.incidents import InvalidChange
from storage.engine import Database
from storage.outbox import OutboxRepository
from storage.repositories import IncidentRepository, TimelineRepository
from storage.session import Session

log = logging.getLogger(__name__)

# The longest text a person can send in Slack, so the longest note or update we store
# whole: Slack documents 40,000 characters for a message's `text` (chat.postMessage
# "msg_too_long"; longer messages are truncated), and the composer a slash command is typed
# in sends no more. Beyond it the text is refused with an answer that quotes none of it.
# The echo and the timeline pages show its start; `/incident timeline #n` shows all of it.
NOTE_MAX = 40_000

# Work that must commit with a status change: (session, the incident as changed, now).
InTransaction = Callable[[Session, Incident, datetime], Awaitable[None]]
# What resolving also does, whatever asked for it: (session, incident, now, how it was
# resolved). The post-mortem service sets it (requesting the post-mortem).
OnResolved = Callable[[Session, Incident, datetime, str], Awaitable[None]]
RESOLUTION_NEEDED = "Say how it was resolved: `/incident status resolved <how>`."


@dataclass(frozen=True)
class Captured:
    """A Slack message added to a timeline."""

    channel_id: str
    ts: str
    author: str | None
    text: str
    permalink: str


@dataclass(frozen=True)
class ChainProblem:
    incident_ref: str
    seq: int
    at: datetime


class TimelineService(Service):
    def __init__(
        self,
        db: Database,
        policy: Callable[[], Policy],
        clock: Clock,
        *,
        broadcast_channel: str | None,
        on_commit: Callable[[], None] | None = None,
        audit_key: bytes | None = None,
    ) -> None:
        super().__init__(db, policy, clock, on_commit)
        # Checks the HMAC signatures of purge and forget tombstones (FIREWATCH_AUDIT_KEY).
        self.audit_key = audit_key
        self.broadcast_channel = broadcast_channel
        # Every way to "resolved" goes through change_status, so through this (one path).
        self.on_resolved: OnResolved | None = None
        # What ending the incident also does, resolved here or closed by its approved
        # post-mortem (PostmortemService._close): its pages resolved outside Slack.
        self.on_ended: list[InTransaction] = []

    async def change_status(
        self,
        incident_id: int,
        target: Status,
        *,
        actor: str,
        update: str = "",
        source_key: str | None = None,
        also: InTransaction | None = None,
        public_update: str = "",
        components: Mapping[str, ComponentState] | None = None,
    ) -> Incident:
        """Move the incident to `target`, with an update for stakeholders; `also` runs in
        the same transaction (e.g. requesting the post-mortem when resolving). Raises
        InvalidTransition (domain) for a move the state machine forbids. Resolving needs
        an update (how) and runs `on_resolved` in the transaction too. `public_update`
        and `components`: what the status page says (status_page.publish_with_status)."""
        _check_update(target, update, public_update)
        now = self.clock.now()
        async with self.db.session() as session:
            incident = await locked_incident(session, incident_id)
            if incident.kind is not Kind.INCIDENT:
                raise InvalidChange(f"{incident.ref} is a non-incident report.")
            if source_key and await TimelineRepository(session).by_source_key(source_key):
                return incident  # the same submission, again
            change = transition(
                incident.status,
                target,
                at=now,
                mitigated_at=incident.mitigated_at,
                resolved_at=incident.resolved_at,
            )
            incident, entry = await _record_change(
                session, incident_id, change, update, actor, now, source_key
            )
            outbox = OutboxRepository(session)
            await outbox.enqueue_many(self._status_effects(incident, entry), now=now)
            said = await status_page.publish_with_status(
                session,
                incident,
                public_update,
                components,
                policy=self.policy,
                actor=actor,
                at=now,
            )
            await outbox.enqueue_many(effects.echoes(incident.channel_status, said), now=now)
            if also is not None:
                await also(session, incident, now)
            if change.new is Status.RESOLVED:
                await self._resolving(session, incident, now, update.strip())
            await outbox.enqueue_many(effects.report_update(incident), now=now)
            await refresh_incident_homes(session, incident_id, now)
        self._on_commit()
        log.info(
            "status changed", extra={"incident": incident.ref, "status": incident.status.value}
        )
        return incident

    async def _resolving(
        self, session: Session, incident: Incident, now: datetime, how: str
    ) -> None:
        """What resolving also does, in its transaction."""
        if self.on_resolved is not None:
            await self.on_resolved(session, incident, now, how)
        for ended in self.on_ended:
            await ended(session, incident, now)

    def _status_effects(self, incident: Incident, entry: TimelineEntry | None) -> list[Effect]:
        """A status change's news: echoed in the channel, the announcement brought up to
        date, the stakeholder update in the announcement's thread."""
        queued = effects.echoes(incident.channel_status, [entry])
        if self.broadcast_channel:
            key = effects.BROADCAST_KEY
            queued.append(effects.about(effects.UPDATE_ANNOUNCEMENT, key, incident.id))
            if entry is not None:
                queued.append(
                    effects.about(effects.STATUS_BROADCAST, key, incident.id, entry_id=entry.id)
                )
        return queued

    async def entries(self, incident_id: int) -> list[TimelineEntry]:
        async with self.db.session(write=False) as session:
            return await TimelineRepository(session).for_incident(incident_id)

    async def entry(self, entry_id: int) -> TimelineEntry | None:
        async with self.db.session(write=False) as session:
            return await TimelineRepository(session).get(entry_id)

    async def entries_by_id(self, entry_ids: list[int]) -> list[TimelineEntry]:
        """Entries by id, in the order given; ids no longer stored are left out (the
        echo of a note storm reads hundreds at once)."""
        async with self.db.session(write=False) as session:
            found = {e.id: e for e in await TimelineRepository(session).many(entry_ids)}
        return [found[i] for i in entry_ids if i in found]

    async def verify(self, incident_id: int | None = None) -> list[ChainProblem]:
        """Check hash chains; the first broken link of each broken incident.

        A chain whose oldest entries were purged starts at its signed tombstone; signed
        entries (tombstones, redactions) must carry a valid signature, checked with
        `audit_key` when they were signed with a key.
        """
        problems = []
        async with self.db.session(write=False) as session:
            repo = TimelineRepository(session)
            ids = [incident_id] if incident_id else await repo.incident_ids()
            for iid in ids:
                broken = chain_problem(await repo.for_incident(iid), self.audit_key)
                if broken is not None:
                    problems.append(ChainProblem(reference(iid), broken.seq, broken.at))
        return problems


async def _record_change(
    session: Session,
    incident_id: int,
    change: StatusChange,
    update: str,
    actor: str,
    now: datetime,
    source_key: str | None,
) -> tuple[Incident, TimelineEntry | None]:
    """The incident's new status and its timeline entry."""
    incident = await IncidentRepository(session).update(
        incident_id,
        status=change.new.value,
        mitigated_at=change.mitigated_at,
        resolved_at=change.resolved_at,
        updated_at=now,
    )
    entry = await TimelineRepository(session).append(
        incident_id,
        EntryKind.STATUS,
        _status_text(change, update),
        at=now,
        actor=actor,
        data={"from": change.old.value, "to": change.new.value, "update": update.strip()},
        source_key=source_key,
    )
    return incident, entry


def _check_update(target: Status, update: str, public_update: str = "") -> None:
    if len(public_update) > status_page.PUBLIC_UPDATE_MAX:
        limit = status_page.PUBLIC_UPDATE_MAX
        raise InvalidChange(f"A public update holds at most {limit:,} characters.")
    if target is Status.RESOLVED and not update.strip():
        raise InvalidChange(RESOLUTION_NEEDED)
    if len(update.strip()) > NOTE_MAX:
        raise InvalidChange(too_long("An update", update.strip()))


def too_long(what: str, text: str) -> str:
    """The refusal of a text over NOTE_MAX: its size, none of its words."""
    return (
        f"{what} holds at most {NOTE_MAX:,} characters; this one has {len(text):,}."
        " Nothing was saved: split it into several, or attach the log as a file and note its link."
    )


def _status_text(change: StatusChange, update: str) -> str:
    verb = "Reopened" if change.reopened else "Status"
    text = f"{verb}: {LABELS[change.old]} → {LABELS[change.new]}"
    return f"{text} — {update.strip()}" if update.strip() else text


def capture_key(incident_id: int, channel_id: str, ts: str) -> str:
    return f"capture:{incident_id}:{channel_id}:{ts}"


async def timeline_page(
    db: Database, incident_id: int, *, offset: int, limit: int
) -> tuple[list[TimelineEntry], int]:
    async with db.session(write=False) as session:
        return await TimelineRepository(session).page(incident_id, offset=offset, limit=limit)
