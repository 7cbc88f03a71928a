"""SlackRequestSender: Slack's signature, encodings and payload shapes, checked by a tiny receiver
that verifies with slack_sdk's own SignatureVerifier."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator, SlackRequestSender, input_values, sign

from .conftest import TOKEN

REFERENCE = Path("/work/shared/slack-reference/payloads")
SECRET = "test-signing-secret"


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    valid: bool

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body, keep_blank_values=True).items()}

    def payload(self) -> dict[str, Any]:
        form = self.form()
        assert list(form) == ["payload"]
        result: dict[str, Any] = json.loads(form["payload"])
        return result


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)

    @property
    def last(self) -> Received:
        return self.requests[-1]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    verifier = SignatureVerifier(SECRET)
    app = web.Application()
    state = Receiver(url="")

    async def events(request: web.Request) -> web.Response:
        body = await request.text()
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        valid = (
            timestamp is not None
            and signature is not None
            and verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        )
        state.requests.append(Received(dict(request.headers), body, valid))
        return web.json_response({"ok": valid}, status=200 if valid else 401)

    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    state.url = f"http://127.0.0.1:{sock.getsockname()[1]}/slack/events"
    yield state
    await runner.cleanup()


@pytest.fixture
async def sender(receiver: Receiver) -> AsyncIterator[SlackRequestSender]:
    async with SlackRequestSender(receiver.url, SECRET) as s:
        yield s


def test_sign_reproduces_slacks_worked_example() -> None:
    vector = json.loads((REFERENCE / "signature_test_vector.docs.json").read_text())
    got = sign(vector["signing_secret"], vector["x_slack_request_timestamp"], vector["raw_body"])
    assert got == vector["expected_x_slack_signature"]
    assert sign("other-secret", vector["x_slack_request_timestamp"], vector["raw_body"]) != got


async def test_slash_command(sender: SlackRequestSender, receiver: Receiver) -> None:
    response = await sender.slash_command("declare sev1 db down")
    assert (response.status, response.json()) == (200, {"ok": True})
    first = receiver.last
    assert first.valid
    assert first.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = first.form()
    reference = (REFERENCE / "slash_command.bolt.form.txt").read_text().strip()
    reference_fields = set(parse_qs(reference, keep_blank_values=True))
    assert reference_fields - {"enterprise_id", "enterprise_name"} <= set(form)
    assert form["command"] == "/incident"
    assert form["text"] == "declare sev1 db down"
    assert (form["user_id"], form["channel_id"], form["team_id"]) == (
        "U0ALICE",
        "C0INCIDENTS",
        "T0FIREWTCH",
    )
    assert form["response_url"].startswith("https://hooks.slack.com/commands/T0FIREWTCH/")
    await sender.slash_command("")
    assert receiver.last.form()["trigger_id"] != form["trigger_id"]


async def test_block_action_from_a_message(sender: SlackRequestSender, receiver: Receiver) -> None:
    message = {
        "ts": "1700000000.000100",
        "text": "SEV1",
        "blocks": [
            {
                "type": "actions",
                "block_id": "incident_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "ack",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "value": "INC-1",
                    }
                ],
            }
        ],
    }
    await sender.block_action("ack", value="INC-1", channel_id="C0INCIDENTS", message=message)
    assert receiver.last.valid
    payload = receiver.last.payload()
    reference = json.loads((REFERENCE / "block_actions.bolt.json").read_text())
    assert set(reference) <= set(payload)
    assert payload["type"] == "block_actions"
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["type"], action["value"]) == (
        "ack",
        "incident_actions",
        "button",
        "INC-1",
    )
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C0INCIDENTS",
        "is_ephemeral": False,
    }
    assert payload["channel"]["id"] == "C0INCIDENTS"


async def test_event_envelope_and_retries(sender: SlackRequestSender, receiver: Receiver) -> None:
    mention = {
        "type": "app_mention",
        "user": "U0ALICE",
        "text": "<@U0FIREBOT> status",
        "channel": "C0INCIDENTS",
    }
    await sender.event(mention)
    first = receiver.last
    assert first.valid
    assert first.headers["Content-Type"] == "application/json"
    assert "X-Slack-Retry-Num" not in first.headers
    envelope = json.loads(first.body)
    reference = json.loads((REFERENCE / "event_app_mention.bolt.json").read_text())
    assert set(reference) - {"enterprise_id", "authed_users"} <= set(envelope)
    assert envelope["type"] == "event_callback"
    assert envelope["event"]["text"] == "<@U0FIREBOT> status"
    assert "event_ts" in envelope["event"]
    await sender.event(mention, event_id=envelope["event_id"], retry_num=1)
    retry = receiver.last
    assert retry.valid
    assert (retry.headers["X-Slack-Retry-Num"], retry.headers["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )
    assert json.loads(retry.body)["event_id"] == envelope["event_id"]
    await sender.event(mention)
    assert json.loads(receiver.last.body)["event_id"] != envelope["event_id"]


async def test_url_verification(sender: SlackRequestSender, receiver: Receiver) -> None:
    await sender.url_verification("abc123")
    assert receiver.last.valid
    assert json.loads(receiver.last.body) == {
        "token": "verification_token",
        "challenge": "abc123",
        "type": "url_verification",
    }


async def test_shortcuts(sender: SlackRequestSender, receiver: Receiver) -> None:
    await sender.global_shortcut("declare_incident", user_id="U0BOB")
    payload = receiver.last.payload()
    assert (payload["type"], payload["callback_id"], payload["user"]["id"]) == (
        "shortcut",
        "declare_incident",
        "U0BOB",
    )
    assert payload["trigger_id"]
    message = {
        "type": "message",
        "ts": "1700000000.000200",
        "text": "db is slow",
        "user": "U0ALICE",
    }
    await sender.message_shortcut(
        "incident_from_message", message=message, channel_id="C0INCIDENTS"
    )
    payload = receiver.last.payload()
    assert payload["type"] == "message_action"
    assert (payload["message_ts"], payload["channel"]["id"]) == ("1700000000.000200", "C0INCIDENTS")
    assert receiver.last.valid


async def test_forged_stale_and_unsigned_requests_are_rejected(
    sender: SlackRequestSender, receiver: Receiver
) -> None:
    body = "token=x&command=%2Fincident&text="
    content_type = "application/x-www-form-urlencoded"
    forged = await sender.post_raw(body, content_type=content_type, signature="v0=" + "0" * 64)
    stale = await sender.post_raw(body, content_type=content_type, timestamp=1531420618)
    unsigned = await sender.post_raw(body, content_type=content_type, sign=False)
    good = await sender.post_raw(body, content_type=content_type)
    assert [forged.status, stale.status, unsigned.status, good.status] == [401, 401, 401, 200]
    assert "X-Slack-Signature" not in receiver.requests[2].headers


def test_input_values_builds_slack_state() -> None:
    view = {
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "not an input"}},
            {
                "type": "input",
                "block_id": "title",
                "element": {"type": "plain_text_input", "action_id": "t"},
            },
            {
                "type": "input",
                "block_id": "sev",
                "element": {
                    "type": "static_select",
                    "action_id": "severity",
                    "options": [
                        {"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"},
                        {"text": {"type": "plain_text", "text": "SEV2"}, "value": "sev2"},
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "flags",
                "element": {
                    "type": "checkboxes",
                    "action_id": "f",
                    "options": [
                        {
                            "text": {"type": "plain_text", "text": "Customer impact"},
                            "value": "impact",
                        },
                        {"text": {"type": "plain_text", "text": "Security"}, "value": "security"},
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "when",
                "element": {"type": "datepicker", "action_id": "d"},
            },
            {
                "type": "input",
                "block_id": "ic",
                "element": {"type": "users_select", "action_id": "u"},
            },
            {
                "type": "input",
                "block_id": "resp",
                "element": {"type": "multi_users_select", "action_id": "m"},
            },
            {
                "type": "input",
                "block_id": "notes",
                "element": {"type": "plain_text_input", "action_id": "n"},
            },
        ]
    }
    state = input_values(
        view,
        {
            "t": "Checkout down",
            "severity": "sev1",
            "flags": ["impact"],
            "d": "2024-05-01",
            "u": "U0BOB",
            "m": ["U0ALICE"],
        },
    )
    assert state["title"] == {"t": {"type": "plain_text_input", "value": "Checkout down"}}
    assert state["sev"]["severity"]["selected_option"]["value"] == "sev1"
    assert state["sev"]["severity"]["selected_option"]["text"]["text"] == "SEV1"
    assert [o["value"] for o in state["flags"]["f"]["selected_options"]] == ["impact"]
    assert state["when"]["d"] == {"type": "datepicker", "selected_date": "2024-05-01"}
    assert state["ic"]["u"] == {"type": "users_select", "selected_user": "U0BOB"}
    assert state["resp"]["m"]["selected_users"] == ["U0ALICE"]
    assert state["notes"]["n"] == {"type": "plain_text_input", "value": None}
    assert "section" not in json.dumps(state)
    with pytest.raises(ValueError, match="no option"):
        input_values(view, {"severity": "sev9"})
    with pytest.raises(ValueError, match="titel"):
        input_values(view, {"titel": "typo"})


async def test_trigger_from_sender_opens_a_view_and_submission_carries_it(
    sender: SlackRequestSender, receiver: Receiver
) -> None:
    async with SlackEmulator(bot_token=TOKEN) as emulator:
        client = AsyncWebClient(token=TOKEN, base_url=emulator.api_url)
        await sender.global_shortcut("declare_incident")
        trigger_id = receiver.last.payload()["trigger_id"]
        modal = {
            "type": "modal",
            "callback_id": "declare",
            "private_metadata": "C0INCIDENTS",
            "title": {"type": "plain_text", "text": "Declare"},
            "blocks": [
                {
                    "type": "input",
                    "block_id": "title",
                    "label": {"type": "plain_text", "text": "Title"},
                    "element": {"type": "plain_text_input", "action_id": "title_input"},
                }
            ],
        }
        await client.views_open(trigger_id=trigger_id, view=modal)
        [view] = emulator.opened_views("declare")
    await sender.view_submission(view, input_values(view, {"title_input": "DB down"}))
    assert receiver.last.valid
    payload = receiver.last.payload()
    reference = json.loads((REFERENCE / "view_submission.bolt.json").read_text())
    assert set(reference) <= set(payload)
    assert set(reference["view"]) <= set(payload["view"])
    assert payload["type"] == "view_submission"
    assert (payload["view"]["id"], payload["view"]["hash"]) == (view["id"], view["hash"])
    assert payload["view"]["private_metadata"] == "C0INCIDENTS"
    assert payload["view"]["state"]["values"] == {
        "title": {"title_input": {"type": "plain_text_input", "value": "DB down"}}
    }
    await sender.view_closed(view)
    assert receiver.last.payload()["type"] == "view_closed"
