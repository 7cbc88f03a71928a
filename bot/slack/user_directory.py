"""Who is a guest: Slack's `users.info` (`is_restricted`, `is_ultra_restricted`), cached.

Asked only where a permission is checked (`bot.services.authority.Authority`), never on
the hot paths: `/incident note` checks nothing, and the declare form's submission reads
only the cache (`known`). Each answer is kept for `ttl` (an hour by default), for at most
`size` people, the least recently looked up forgotten first.

When `users.info` fails (Slack down, rate limited, slower than `timeout`), the last answer
for that person is used even if older than `ttl`; someone never looked up counts as a
GUEST. Failing closed refuses an action to a full member for as long as Slack does not
answer (they are told who may, and can retry); failing open would let a guest act. The
failure is logged. `user_not_found` is an answer, not a failure: the request naming the
person was signed by Slack and a guest of this workspace is always found, so the person
counts as a member (people of other organisations are told apart by their team id).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.domain.permissions import ActorKind

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(hours=1)
DEFAULT_SIZE = 10_000
DEFAULT_TIMEOUT = 1.5  # seconds: the answer to Slack must still come within 3 s


class UserDirectory:
    def __init__(
        self,
        client: AsyncWebClient,
        clock: Clock,
        *,
        ttl: timedelta = DEFAULT_TTL,
        size: int = DEFAULT_SIZE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.client, self.clock = client, clock
        self.ttl, self.size, self.timeout = ttl, size, timeout
        self._kinds: OrderedDict[str, tuple[datetime, ActorKind]] = OrderedDict()

    def known(self, user_id: str) -> ActorKind | None:
        """The cached kind if still fresh; None when it would need a Slack call."""
        entry = self._kinds.get(user_id)
        if entry is None or self.clock.now() - entry[0] > self.ttl:
            return None
        return entry[1]

    async def kind(self, user_id: str) -> ActorKind:
        """MEMBER or GUEST, from the cache or `users.info` (see the module's note)."""
        fresh = self.known(user_id)
        if fresh is not None:
            return fresh
        user: dict[str, Any] = {}
        try:
            response = await asyncio.wait_for(
                self.client.users_info(user=user_id), timeout=self.timeout
            )
            user = response.get("user") or {}
        except SlackApiError as exc:
            if exc.response.get("error") != "user_not_found":
                return self._failed(user_id, exc)
        except Exception as exc:  # noqa: BLE001 - any failure: decide safely, answer anyway
            return self._failed(user_id, exc)
        guest = bool(user.get("is_restricted") or user.get("is_ultra_restricted"))
        found = ActorKind.GUEST if guest else ActorKind.MEMBER
        self.remember(user_id, found)
        return found

    def remember(self, user_id: str, kind: ActorKind) -> None:
        self._kinds[user_id] = (self.clock.now(), kind)
        self._kinds.move_to_end(user_id)
        while len(self._kinds) > self.size:
            self._kinds.popitem(last=False)

    def _failed(self, user_id: str, exc: Exception) -> ActorKind:
        """The last answer for this person, however old; GUEST if none."""
        stale = self._kinds.get(user_id)
        fallback = stale[1] if stale is not None else ActorKind.GUEST
        log.warning("users.info for %s failed (%r); counted as %s", user_id, exc, fallback.value)
        return fallback
