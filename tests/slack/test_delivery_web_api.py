"""The outbox's Web API helpers: the exact calls a post, and a retry's look for it, make.

Incident messages and pages post through one `SlackPoster`, but pages keep the calls
they always made: the metadata holds only their outbox id, and a retry reads the last 50
messages of the bot's DM with a person. These tests pin both, call by call.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.outbox_worker import OutboxItem, PermanentFailure
from bot.slack.delivery.paging import PagePoster
from bot.slack.delivery.web_api import METADATA_EVENT, SlackPoster, tolerating


class _Response:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


class FakeSlack:
    """Records each Web API call and answers from `answers` (method → data)."""

    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def api_call(
        self, method: str, *, json: dict[str, Any] | None = None, data: Any = None
    ) -> _Response:
        self.calls.append((method, dict(json if json is not None else data)))
        return _Response({"ok": True, **self.answers.get(method, {})})

    def client(self) -> AsyncWebClient:
        return cast(AsyncWebClient, self)


async def _no_progress(_: dict[str, Any]) -> None:
    pass


def _item(row_id: int, *, outcome_unknown: bool = False, batch: int = 0) -> OutboxItem:
    behind = [_item(row_id + n, outcome_unknown=outcome_unknown) for n in range(1, batch + 1)]
    return OutboxItem(
        id=row_id,
        kind="post",
        ordering_key="incident:1",
        payload={},
        attempts=1,
        outcome_unknown=outcome_unknown,
        progress={},
        incident_id=1,
        save_progress=_no_progress,
        batch=behind,
    )


def _message(ts: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"ts": ts, "metadata": {"event_type": METADATA_EVENT, "event_payload": payload}}


async def test_a_post_carries_its_rows_ids_in_metadata_in_the_thread() -> None:
    slack = FakeSlack({"chat.postMessage": {"ts": "1.5", "channel": "C1"}})
    posted = await SlackPoster(slack.client()).post(
        _item(7, batch=1), "C1", "hi", [], thread_ts="1.1"
    )
    assert posted == ("1.5", "C1", [7, 8])
    assert slack.calls == [
        (
            "chat.postMessage",
            {
                "channel": "C1",
                "text": "hi",
                "blocks": [],
                "unfurl_links": False,
                "metadata": {
                    "event_type": METADATA_EVENT,
                    "event_payload": {"outbox_id": 7, "outbox_ids": [7, 8]},
                },
                "thread_ts": "1.1",
            },
        )
    ]


async def test_a_retry_finds_its_earlier_post_in_the_thread_instead_of_posting_again() -> None:
    earlier = _message("1.4", {"outbox_id": 7, "outbox_ids": [7]})
    slack = FakeSlack({"conversations.replies": {"messages": [earlier]}})
    posted = await SlackPoster(slack.client()).post(
        _item(7, outcome_unknown=True, batch=1), "C1", "hi", [], thread_ts="1.1"
    )
    assert posted == ("1.4", "C1", [7])  # row 8 was not in it: it goes in the next message
    assert slack.calls == [
        (
            "conversations.replies",
            {"channel": "C1", "ts": "1.1", "limit": "200", "include_all_metadata": "true"},
        )
    ]


async def test_a_retry_that_finds_nothing_posts() -> None:
    other = _message("1.3", {"outbox_id": 6})
    slack = FakeSlack(
        {
            "conversations.history": {"messages": [other]},
            "chat.postMessage": {"ts": "1.6", "channel": "C1"},
        }
    )
    posted = await SlackPoster(slack.client()).post(_item(7, outcome_unknown=True), "C1", "x", [])
    assert posted == ("1.6", "C1", [7])
    assert [method for method, _ in slack.calls] == ["conversations.history", "chat.postMessage"]
    assert slack.calls[0][1] == {"channel": "C1", "limit": 200, "include_all_metadata": True}


async def test_a_page_carries_only_its_own_id() -> None:
    slack = FakeSlack({"chat.postMessage": {"ts": "2.1", "channel": "D1"}})
    posted = await PagePoster(slack.client()).post(_item(9), "U1", "paged", [])
    assert posted == ("2.1", "D1", [9])
    (method, args), *_ = slack.calls
    assert method == "chat.postMessage"
    assert args["metadata"] == {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": 9}}
    assert "thread_ts" not in args


async def test_a_page_retry_reads_the_bots_dm_with_the_person() -> None:
    slack = FakeSlack(
        {
            "conversations.open": {"channel": {"id": "D1"}},
            "conversations.history": {"messages": [_message("2.0", {"outbox_id": 9})]},
        }
    )
    posted = await PagePoster(slack.client()).post(_item(9, outcome_unknown=True), "U1", "p", [])
    assert posted == ("2.0", "D1", [9])
    assert slack.calls == [
        ("conversations.open", {"users": "U1"}),
        ("conversations.history", {"channel": "D1", "limit": 50, "include_all_metadata": True}),
    ]


def test_tolerating_lets_only_the_named_errors_pass() -> None:
    with tolerating("already_pinned"):
        raise PermanentFailure("pins.add: already_pinned")
    with pytest.raises(PermanentFailure), tolerating("already_pinned"):
        raise PermanentFailure("pins.add: no_pin")
