"""Events API deliveries, each handled once.

Slack re-sends an event it thinks we missed (X-Slack-Retry-Num), and with several
replicas the retry may reach another process: the event id is recorded in the database
(`slack_events`), and only its first delivery is handled.
"""

from __future__ import annotations

from datetime import datetime

from storage.engine import Database
from storage.repositories import SlackEventRepository


class EventLog:
    """The record of Events API deliveries; the Slack middleware asks it about each one."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def first_delivery(self, event_id: str, now: datetime) -> bool:
        """Record the delivery of `event_id` in a transaction of its own; False when it
        was recorded before (a retry, or another replica's delivery)."""
        async with self.db.session() as session:
            return await SlackEventRepository(session).first_time(event_id, now)
