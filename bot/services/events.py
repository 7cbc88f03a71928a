"""Events API deliveries, each handled once and none dropped.

Slack re-sends an event it thinks we missed (X-Slack-Retry-Num), and with several
replicas the retry may reach another process. The event id is recorded in the database
(`slack_events`) in the transaction that stores what the event produces (a capture
request: bot/services/captures.py), so a delivery whose handling failed leaves no mark
and its retry is handled; a delivery already handled is skipped (here, before the
listener runs) and, if two arrive at once, the second one's transaction stores nothing.
An event that produces nothing (another emoji) leaves no mark: handling it again
produces nothing again.
"""

from __future__ import annotations

from storage.engine import Database
from storage.repositories import SlackEventRepository


class EventLog:
    """The record of Events API deliveries; the Slack middleware asks it about each one."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def handled(self, event_id: str) -> bool:
        """Whether a delivery of `event_id` was handled (what it produced is stored)."""
        async with self.db.session(write=False) as session:
            return await SlackEventRepository(session).seen(event_id)
