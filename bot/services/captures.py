"""Capture requests: a message added to an incident's timeline is answered once stored.

A 📌 reaction or the "Add to incident timeline" shortcut stores a capture request (which
message, who asked, when, and for the shortcut the text the payload carries) before
Slack gets its answer, like a declaration (bot/services/intake.py); the capture worker
(bot/services/capture_worker.py) fetches the message when needed and records the entry,
with retries. A request that cannot be completed is said on the timeline and to the
person, never dropped in silence.

An Events API delivery is recorded (`slack_events`) in the transaction that stores its
request: a delivery whose handling failed leaves no mark and Slack's retry is handled; a
delivery handled once is not handled again.

The capture form (the shortcut outside an incident's channel) keeps the request here,
in the "form" state, and only its key in the modal's private metadata (Slack allows
3,000 characters there; a long message in a non-Latin script escapes to more).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.clock import Clock
from bot.domain.timeline import EntryKind
from bot.services import effects
from bot.services.effects import Effect
from bot.services.timeline import NOTE_MAX, Captured, capture_key
from storage import captures
from storage.captures import ADD, FORM, WITHDRAW, CaptureRequest
from storage.engine import Database
from storage.timeline_batch import NewEntry

REACTION = "reaction"
SHORTCUT = "shortcut"


class Outcome(StrEnum):
    """How a capture ended, as the person is told (the Slack layer words it)."""

    ADDED = "added"
    ALREADY = "already"
    DELETED = "deleted"  # the message is no longer in Slack
    NO_ACCESS = "no_access"  # Firewatch may not read the channel
    INCIDENT_GONE = "incident_gone"
    GAVE_UP = "gave_up"  # Slack kept failing


# What the person is told: (outcome, the incident's reference) → the sentence.
Wording = Callable[[Outcome, str], str]


@dataclass(frozen=True)
class Fetched:
    text: str
    author: str | None


class MessageSource(Protocol):
    """Slack's copy of a message (the Slack layer: conversations.history). Returns None
    when there is no such message; raises the outbox's RetryLater when a later attempt
    may succeed, PermanentFailure when Firewatch may not read it."""

    async def fetch(self, channel: str, ts: str) -> Fetched | None: ...


def captured_entry(incident_id: int, message: Captured, *, actor: str, via: str) -> NewEntry:
    """The entry a captured message makes (as `TimelineService.capture` writes it)."""
    return NewEntry(
        incident_id,
        EntryKind.CAPTURED,
        actor,
        message.text[:NOTE_MAX],
        {
            "author": message.author,
            "channel": message.channel_id,
            "ts": message.ts,
            "permalink": message.permalink,
            "via": via,
        },
        capture_key(incident_id, message.channel_id, message.ts),
    )


def notice(request: CaptureRequest, text: str) -> Effect:
    """A private notice to the person who asked, where they asked (or by DM)."""
    channel = request.asked_in or request.channel_id
    user = request.user_id
    payload = {"user": user, "channel": channel, "text": text}
    return (effects.EPHEMERAL, f"ephemeral:{user}", payload, None)


class CaptureDesk:
    """Where listeners leave capture requests."""

    def __init__(
        self, db: Database, clock: Clock, on_stored: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self._on_stored = on_stored or (lambda: None)

    async def reaction(
        self,
        event_id: str,
        *,
        incident_id: int,
        channel: str,
        ts: str,
        user: str,
        team: str | None,
        author: str | None,
        removed: bool = False,
        record_event: bool = True,
    ) -> bool:
        """Store the request a reaction makes, with its event id (`slack_events`, unless
        not `record_event`: a delivery that carries none) in the same transaction; False
        when this event was handled before (nothing stored)."""
        request = CaptureRequest(
            key=f"event:{event_id}",
            action=WITHDRAW if removed else ADD,
            via=REACTION,
            channel_id=channel,
            message_ts=ts,
            user_id=user,
            team_id=team,
            asked_in=channel,
            author=author,
            permalink=permalink(None, channel, ts),
            requested_at=self.clock.now(),
            incident_id=incident_id,
        )
        return await self._store(request, event_id=event_id if record_event else None)

    async def shortcut(
        self,
        key: str,
        message: Captured,
        *,
        incident_id: int | None,
        user: str,
        team: str | None,
    ) -> bool:
        """Store the request the message shortcut makes: for `incident_id`, or (None) in
        the "form" state until the person chooses the incident."""
        request = CaptureRequest(
            key=key,
            action=ADD,
            via=SHORTCUT,
            channel_id=message.channel_id,
            message_ts=message.ts,
            user_id=user,
            team_id=team,
            asked_in=message.channel_id,
            text=message.text,
            author=message.author,
            permalink=message.permalink,
            requested_at=self.clock.now(),
            incident_id=incident_id,
            state=FORM if incident_id is None else captures.PENDING,
        )
        return await self._store(request)

    async def _store(self, request: CaptureRequest, *, event_id: str | None = None) -> bool:
        async with self.db.session() as session:
            stored = await captures.add(session, request, event_id=event_id)
        if stored and request.state != FORM:
            self._on_stored()
        return stored

    async def form(self, key: str) -> CaptureRequest | None:
        """The request a capture form stands for (None: expired or already chosen)."""
        async with self.db.session(write=False) as session:
            found = await captures.by_key(session, key)
        return found if found is not None and found.state == FORM else None

    async def chosen(self, key: str, *, incident_id: int, user: str) -> bool:
        """The form was submitted: the request goes to the worker. False when the form's
        request is gone (expired, or submitted before)."""
        async with self.db.session() as session:
            done = await captures.choose(
                session, key, incident_id=incident_id, user_id=user, now=self.clock.now()
            )
        if done:
            self._on_stored()
        return done

    async def forget_form(self, key: str) -> None:
        """No form will be shown (no open incident): its request is dropped."""
        async with self.db.session() as session:
            await captures.forget_form(session, key)


def permalink(team_domain: str | None, channel: str, ts: str) -> str:
    """Slack's message link, built without an API call."""
    host = f"https://{team_domain}.slack.com" if team_domain else "https://slack.com"
    return f"{host}/archives/{channel}/p{ts.replace('.', '')}"
