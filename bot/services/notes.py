"""`/incident note`: stored in one statement before the answer, appended to the incident's
hash chain right after (storage/note_intake.py says why).

`NoteIntake.accept` stores the note with its echo; `run_once` appends the waiting notes
of each incident under its lock, in the order they were acknowledged. Whatever else
appends to an incident first appends its waiting notes, so an acknowledged note is never
overtaken by a later entry, whichever replica, worker or transaction gets there first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.clock import Clock
from bot.domain.incident import reference
from bot.domain.timeline import TimelineEntry
from bot.runtime.load import RequestLoad
from bot.services import effects
from bot.services.incidents import IncidentNotFound, InvalidChange
from bot.services.polling import QueueWorker
from bot.services.timeline import NOTE_MAX, too_long
from storage import note_intake
from storage.engine import Database, background_writes
from storage.note_intake import WaitingNote
from storage.repositories import TimelineRepository
from storage.session import Connection, Session
from storage.timeline_batch import append_waiting, lock_incidents

log = logging.getLogger(__name__)

# Incidents whose waiting notes one pass appends, each group in one transaction.
BATCH = 20


class NoteIntake(QueueWorker):
    _log = log
    _failure_log = "note intake failed; retrying"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        on_echo: Callable[[str], object] | None = None,
        load: RequestLoad | None = None,
        poll_seconds: float = 1.0,
        gather_seconds: float = 0.0,
    ) -> None:
        self.db = db
        self.clock = clock
        # Told the ordering key of each echo queued (the outbox may deliver it now).
        self._on_echo: Callable[[str], object] = on_echo or (lambda _key: None)
        self.load = load
        self.poll_seconds = poll_seconds
        # How long a pass woken by a note waits for more notes to append with it: under a
        # storm, one transaction per this many milliseconds instead of one per note.
        self.gather_seconds = gather_seconds
        self._wake = asyncio.Event()
        # Incidents with notes accepted here since the last pass: the pass needs no query
        # to find them (notes another replica accepted are found by the poll).
        self._accepted: set[int] = set()

    async def accept(self, incident_id: int, *, actor: str, text: str, source_key: str) -> bool:
        """Store the note and its echo; False when this command (`source_key`) was
        stored before. Raises InvalidChange for an empty or an over-long note."""
        text = text.strip()
        if not text:
            raise InvalidChange("Write the note after the command: `/incident note <text>`.")
        if len(text) > NOTE_MAX:
            raise InvalidChange(too_long("A note", text))
        note = WaitingNote(incident_id, actor, text, source_key, self.clock.now())
        echo = effects.note_echo(incident_id, source_key)
        try:
            accepted = await note_intake.store(self.db, note, echo)
        except note_intake.IncidentGone as exc:
            raise IncidentNotFound(reference(incident_id)) from exc
        if accepted:
            self._accepted.add(incident_id)
            self._wake.set()
            self._on_echo(echo[1])
        return accepted

    async def _stats(self, session: Session) -> tuple[int, datetime | None]:
        # notes waiting to be appended
        return await note_intake.stats(session)

    async def run_once(self, limit: int = BATCH) -> int:
        """Append every waiting note of up to `limit` incidents; how many. Under
        load it first waits for a gap between answers, and the notes that arrive
        meanwhile join the same transaction."""
        if self._accepted and self.gather_seconds > 0:
            await asyncio.sleep(self.gather_seconds)
        if self.load is not None and self._accepted:
            await self.load.gap()
        incident_ids = sorted(self._accepted)[:limit]
        self._accepted.difference_update(incident_ids)
        if not incident_ids:
            async with self.db.session(write=False) as session:
                incident_ids = await note_intake.incidents_waiting(session, limit)
            if not incident_ids:
                return 0
        return await self.append_waiting(incident_ids)

    async def caught_up(self, incident_id: int) -> None:
        """Append the incident's waiting notes now, if it has any: someone who reads the
        timeline right after sending a note finds it there."""
        async with self.db.session(write=False) as session:
            if not await note_intake.any_waiting(session, incident_id):
                return
        await self.append_waiting([incident_id])

    async def append_waiting(self, incident_ids: list[int]) -> int:
        """Append these incidents' waiting notes now (also what an echo does when it gets
        to a note before this worker); how many were appended."""

        def append(conn: Connection) -> int:
            return len(append_waiting(conn, sorted(lock_incidents(conn, incident_ids))))

        return await self.db.write_batch(append)

    async def echoed(
        self, incident_id: int, payloads: Sequence[Mapping[str, Any]]
    ) -> list[TimelineEntry | None]:
        """The entry each echo row shows, by `entry_id` or, for a note, `note_key` (None:
        purged since). A note still waiting is appended first: its echo went ahead of
        this worker."""
        keys = [str(p["note_key"]) for p in payloads if "note_key" in p]
        if keys:
            async with self.db.session(write=False) as session:
                still_waiting = await note_intake.is_waiting(session, keys)
            if still_waiting:
                with background_writes():
                    await self.append_waiting([incident_id])
        ids = [int(p["entry_id"]) for p in payloads if "entry_id" in p]
        async with self.db.session(write=False) as session:
            repo = TimelineRepository(session)
            by_key = await repo.by_source_keys(keys) if keys else {}
            by_id = {e.id: e for e in await repo.many(ids)} if ids else {}
        return [
            by_key.get(str(p["note_key"])) if "note_key" in p else by_id.get(int(p["entry_id"]))
            for p in payloads
        ]
