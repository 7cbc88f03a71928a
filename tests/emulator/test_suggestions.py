"""The emulator's block_suggestion payload (as Slack's reference shows it) and its
checks of external selects and of the options an app answers with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.emulator import SlackPayloads
from bot.emulator.api_base import SlackError
from bot.emulator.block_limits import check_options_answer, check_view
from bot.emulator.suggestions import block_suggestion_payload
from tests.slack.test_manifest import slack_reference


def a_modal(**element: Any) -> dict[str, Any]:
    select = {"type": "external_select", "action_id": "pick", **element}
    block = {"type": "input", "block_id": "b1", "label": {"type": "plain_text", "text": "I"}}
    block["element"] = select
    return {
        "id": "V1",
        "type": "modal",
        "title": {"type": "plain_text", "text": "Which incident?"},
        "blocks": [block],
    }


def test_a_block_suggestion_has_the_shape_slack_sends() -> None:
    payloads = slack_reference() / "payloads"
    reference = json.loads((payloads / "block_suggestion.bolt.json").read_text())
    payload = block_suggestion_payload(SlackPayloads(), a_modal(), "pick", "chec", user_id="U0BOB")
    assert set(reference) <= set(payload)
    # what the view had, and what Slack adds to every view it sends
    view_keys = {"id", "team_id", "type", "blocks", "title", "state", "hash", "app_id"}
    view_keys |= {"private_metadata", "callback_id", "external_id", "previous_view_id"}
    assert view_keys | {"root_view_id"} <= set(payload["view"]) <= set(reference["view"])
    assert payload["type"] == "block_suggestion"
    assert (payload["action_id"], payload["block_id"], payload["value"]) == ("pick", "b1", "chec")
    assert payload["container"] == {"type": "view", "view_id": "V1"}
    assert payload["user"]["id"] == "U0BOB"


def test_an_external_select_is_accepted_with_its_own_fields() -> None:
    check_view(a_modal(min_query_length=0, placeholder={"type": "plain_text", "text": "Type"}))
    initial = {"text": {"type": "plain_text", "text": "INC-1"}, "value": "1"}
    check_view(a_modal(min_query_length=3, initial_option=initial))


@pytest.mark.parametrize(
    "element",
    [
        {"options": [{"text": {"type": "plain_text", "text": "x"}, "value": "x"}]},
        {"min_query_length": -1},
        {"min_query_length": "2"},
        {"initial_option": {"text": {"type": "plain_text", "text": "x" * 76}, "value": "1"}},
    ],
)
def test_an_external_select_breaking_a_rule_is_refused(element: dict[str, Any]) -> None:
    with pytest.raises(SlackError) as refused:
        check_view(a_modal(**element))
    assert refused.value.error == "invalid_arguments"


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def test_an_options_answer_is_read_within_slacks_limits() -> None:
    hundred = [option(f"INC-{n}", str(n)) for n in range(100)]
    assert check_options_answer({"options": hundred}) == hundred
    bad_answers: list[Any] = [
        {"options": [*hundred, option("INC-100", "100")]},
        {"options": [option("x" * 76, "1")]},
        {"options": [option("x", "1" * 151)]},
        [],
    ]
    for bad in bad_answers:
        with pytest.raises(SlackError):
            check_options_answer(bad)
