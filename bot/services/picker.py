"""The incident picker: a command that needs an incident, typed outside an incident
channel, waits as a draft while the person picks the incident from open ones.

The draft (what was typed, by whom, where) stays on the server (`declare_drafts`, keyed
`picker:<token>`): a note can be longer than a modal's 3000 characters of metadata, and
nothing the person could alter comes back from Slack but the key.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from bot.domain.clock import Clock
from bot.domain.incident import Incident
from storage.engine import Database
from storage.incident_search import IncidentSearch
from storage.repositories import DraftRepository

#: Slack's most options in one select menu.
MOST_OPTIONS = 100
#: A draft nobody submitted is dropped after this long.
DRAFT_LIFETIME = timedelta(days=1)
_PREFIX = "picker:"


class PickerService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def open_matching(self, text: str) -> list[Incident]:
        """At most `MOST_OPTIONS` open incidents matching `text` (words of the title, or
        the number), from one indexed query: it answers a `block_suggestion`."""
        async with self.db.session(write=False) as session:
            return await IncidentSearch(session).open_matching(text[:200], MOST_OPTIONS)

    async def save_draft(self, data: dict[str, Any]) -> str:
        """Keep the typed command until the picker is submitted; returns its key."""
        key = _PREFIX + secrets.token_urlsafe(16)
        now = self.clock.now()
        async with self.db.session() as session:
            drafts = DraftRepository(session)
            await drafts.save(key, data, now)
            await drafts.delete_older_than(now - DRAFT_LIFETIME)  # forms never submitted
        return key

    async def draft(self, key: str) -> dict[str, Any] | None:
        """The draft `key` names; None for anything that is not a picker's live draft."""
        if not key.startswith(_PREFIX) or len(key) > 100:
            return None
        async with self.db.session(write=False) as session:
            return await DraftRepository(session).get(key)
