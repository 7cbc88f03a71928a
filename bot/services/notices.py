"""Short private notices to one person (refusals, confirmations) through the outbox."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.clock import Clock
from bot.services import effects
from storage.engine import Database
from storage.outbox import OutboxRepository


class NoticeService:
    def __init__(
        self, db: Database, clock: Clock, on_commit: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self._on_commit = on_commit or (lambda: None)

    async def tell(self, user: str, channel: str, text: str) -> None:
        """An ephemeral message to `user` in `channel`; best effort, never retried forever."""
        async with self.db.session() as session:
            await OutboxRepository(session).enqueue(
                effects.EPHEMERAL,
                f"ephemeral:{user}",
                {"user": user, "channel": channel, "text": text},
                now=self.clock.now(),
            )
        self._on_commit()
