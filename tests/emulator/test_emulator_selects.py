"""The emulator holds selects and date-time pickers to what Slack accepts (issue 24's forms):
initial options that are one of the options exactly, never from two option groups of a
multi-select, and `initial_date_time` in Unix seconds; a submission's state carries
`selected_options` and `selected_date_time` as Slack sends them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.emulator import input_values
from bot.emulator.api_base import SlackError
from bot.emulator.block_limits import check_view


def option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text or value.upper()}, "value": value}


def modal(element: dict[str, Any]) -> dict[str, Any]:
    block = {
        "type": "input",
        "block_id": "b",
        "label": {"type": "plain_text", "text": "Label"},
        "element": {"action_id": "value", **element},
    }
    return {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [block]}


GROUPS = [
    {"label": {"type": "plain_text", "text": "Login"}, "options": [option("a"), option("b")]},
    {"label": {"type": "plain_text", "text": "Other"}, "options": [option("c")]},
]


def refusal(view: dict[str, Any]) -> str:
    with pytest.raises(SlackError) as caught:
        check_view(view)
    assert caught.value.error == "invalid_arguments"
    [message] = caught.value.extra["response_metadata"]["messages"]
    return str(message)


def test_initial_options_must_be_among_the_options_exactly() -> None:
    flat = {"type": "multi_static_select", "options": [option("a"), option("b")]}
    check_view(modal({**flat, "initial_options": [option("b")]}))
    assert refusal(modal({**flat, "initial_options": [option("z")]})) == (
        "[ERROR] must be one of the provided options "
        "[json-pointer:/view/blocks/0/element/initial_options]"
    )
    assert "initial_options" in refusal(modal({**flat, "initial_options": [option("a", "x")]}))
    assert "initial_options" in refusal(modal({**flat, "initial_options": []}))
    single = {"type": "static_select", "options": [option("a")]}
    assert "initial_option]" in refusal(modal({**single, "initial_option": option("b")}))


def test_a_multi_select_s_initial_options_stay_within_one_option_group() -> None:
    grouped = {"type": "multi_static_select", "option_groups": GROUPS}
    check_view(modal({**grouped, "initial_options": [option("a"), option("b")]}))
    assert "initial_options" in refusal(
        modal({**grouped, "initial_options": [option("a"), option("c")]})
    )


def test_a_datetimepicker_starts_at_unix_seconds() -> None:
    check_view(modal({"type": "datetimepicker", "initial_date_time": 1_765_000_000}))
    assert "initial_date_time" in refusal(
        modal({"type": "datetimepicker", "initial_date_time": "2026-12-06T10:00"})
    )
    assert "initial_date_time" in refusal(
        modal({"type": "datetimepicker", "initial_date_time": 17_650_000_000_000})
    )


def test_submitted_state_is_shaped_as_slack_sends_it() -> None:
    picker = modal({"type": "datetimepicker"})
    when = datetime(2026, 12, 6, 10, 30, tzinfo=UTC)
    assert input_values(picker, {"b": when}) == {
        "b": {"value": {"type": "datetimepicker", "selected_date_time": int(when.timestamp())}}
    }
    assert input_values(picker, {}) == {
        "b": {"value": {"type": "datetimepicker", "selected_date_time": None}}
    }
    menu = modal({"type": "multi_static_select", "option_groups": GROUPS})
    assert input_values(menu, {"b": ["a", "c"]}) == {
        "b": {
            "value": {"type": "multi_static_select", "selected_options": [option("a"), option("c")]}
        }
    }
    assert input_values(menu, {}) == {
        "b": {"value": {"type": "multi_static_select", "selected_options": []}}
    }
    with pytest.raises(ValueError, match="no option with value 'z'"):
        input_values(menu, {"b": ["z"]})
