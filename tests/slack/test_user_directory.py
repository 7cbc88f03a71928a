"""Who is a guest: users.info, cached for an hour on the injected clock, bounded, and
failing closed when Slack does not answer (issue 20, item 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import FrozenClock
from bot.domain.permissions import ActorKind
from bot.slack.user_directory import UserDirectory


class FakeUsers:
    """users.info answers: a user dict, or an exception to raise."""

    def __init__(self, answers: dict[str, dict[str, Any] | Exception]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def users_info(self, *, user: str) -> dict[str, Any]:
        self.asked.append(user)
        answer = self.answers[user]
        if isinstance(answer, Exception):
            raise answer
        return {"ok": True, "user": answer}


def directory(users: FakeUsers, clock: FrozenClock, **options: Any) -> UserDirectory:
    return UserDirectory(cast(AsyncWebClient, users), clock, **options)


def not_found() -> SlackApiError:
    error = {"ok": False, "error": "user_not_found"}
    return SlackApiError("user_not_found", error)  # type: ignore[no-untyped-call]


async def test_restricted_accounts_are_guests_and_answers_are_cached_an_hour() -> None:
    clock = FrozenClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    users = FakeUsers(
        {
            "U0GUEST": {"is_restricted": True},
            "U0SINGLE": {"is_ultra_restricted": True},
            "U0BOB": {"is_restricted": False},
        }
    )
    found = directory(users, clock)
    assert await found.kind("U0GUEST") is ActorKind.GUEST
    assert await found.kind("U0SINGLE") is ActorKind.GUEST
    assert await found.kind("U0BOB") is ActorKind.MEMBER
    assert await found.kind("U0BOB") is ActorKind.MEMBER
    assert users.asked == ["U0GUEST", "U0SINGLE", "U0BOB"]
    clock.advance(timedelta(hours=1, seconds=1))
    assert found.known("U0BOB") is None
    assert await found.kind("U0BOB") is ActorKind.MEMBER
    assert users.asked[-1] == "U0BOB"


async def test_a_failure_uses_the_last_answer_else_counts_as_a_guest() -> None:
    clock = FrozenClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    users = FakeUsers({"U0BOB": {}, "U0NEW": TimeoutError()})
    found = directory(users, clock)
    assert await found.kind("U0BOB") is ActorKind.MEMBER
    clock.advance(timedelta(hours=2))
    limited = {"ok": False, "error": "ratelimited"}
    users.answers["U0BOB"] = SlackApiError("ratelimited", limited)  # type: ignore[no-untyped-call]
    assert await found.kind("U0BOB") is ActorKind.MEMBER  # stale, but the last answer
    assert await found.kind("U0NEW") is ActorKind.GUEST  # never answered: fails closed
    assert found.known("U0NEW") is None  # and is asked again next time


async def test_user_not_found_is_a_member_and_the_cache_is_bounded() -> None:
    clock = FrozenClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    users = FakeUsers({"U0A": not_found(), "U0B": {}, "U0C": {}})
    found = directory(users, clock, size=2)
    for user in ("U0A", "U0B", "U0C"):
        assert await found.kind(user) is ActorKind.MEMBER
    assert found.known("U0A") is None  # the least recently looked up went first
    assert found.known("U0C") is ActorKind.MEMBER
