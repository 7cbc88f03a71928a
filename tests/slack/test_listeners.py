"""The listeners as Bolt sees them, and how a modal submission is answered.

Bolt hands a listener its arguments by parameter name, read once at registration. The
listeners are bound methods (Bolt skips `self`), some wrapped by `answer_errors`; a
wrapper Bolt cannot see through would get no arguments at all, and Bolt would only log a
warning. So every listener the real app registers is checked here.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_bolt.util.utils import get_arg_names_of_callable

from bot.app import Firewatch
from bot.services.incidents import IncidentNotFound, InvalidChange
from bot.slack import messages
from bot.slack.listeners.forms import answering
from tests.support import make_settings

# The names Bolt injects (AsyncArgs takes each of them).
BOLT_ARGS = frozenset(inspect.signature(AsyncArgs.__init__).parameters) - {"self", "kwargs"}


def _arg_names(function: Any) -> list[str]:
    names = get_arg_names_of_callable(function)
    return names[1:] if names[:1] == ["self"] else names


def test_every_listener_asks_only_for_what_bolt_injects(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{(tmp_path / 'firewatch.db').as_posix()}", "http://127.0.0.1:9/api/"
    )
    bolt = Firewatch(settings).bolt
    assert bolt is not None
    listeners = bolt._async_listeners
    assert len(listeners) > 10
    for listener in listeners:
        names = _arg_names(listener.ack_function)
        if not listener.auto_acknowledgement:  # Bolt answers events itself
            assert "ack" in names, f"{listener.ack_function!r} does not get `ack`: {names}"
        assert set(names) <= BOLT_ARGS, f"{listener.ack_function!r} asks for {names}"
        for lazy in listener.lazy_functions:
            assert set(_arg_names(lazy)) <= BOLT_ARGS, f"{lazy!r} asks for {_arg_names(lazy)}"


class Ack:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


async def test_a_submission_is_answered_when_the_work_is_done() -> None:
    ack = Ack()
    async with answering(ack, "field"):  # type: ignore[arg-type]
        pass
    assert ack.calls == [{}]


@pytest.mark.parametrize(
    ("raised", "shown"),
    [
        (ValueError("not a number"), messages.INCIDENT_GONE),
        (IncidentNotFound(), messages.INCIDENT_GONE),
        (InvalidChange("Say why."), "Say why."),
    ],
)
async def test_a_refused_submission_keeps_the_form_open_with_the_reason(
    raised: Exception, shown: str
) -> None:
    ack = Ack()
    async with answering(ack, "field", refused=(InvalidChange,)):  # type: ignore[arg-type]
        raise raised
    assert ack.calls == [{"response_action": "errors", "errors": {"field": shown}}]


async def test_an_unexpected_failure_is_left_to_answer_errors() -> None:
    ack = Ack()
    with pytest.raises(RuntimeError):
        async with answering(ack, "field"):  # type: ignore[arg-type]
            raise RuntimeError("boom")
    assert ack.calls == []
