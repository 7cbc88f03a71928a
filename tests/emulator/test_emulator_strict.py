"""Where the emulator is as strict as Slack (fidelity.md): scopes per conversation type, user
ids that are no conversation ids, Block Kit limits, and slash-command escaping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator
from bot.emulator.manifest import manifest_bot_scopes, manifest_should_escape
from bot.emulator.signer import SlackPayloads

from .conftest import TOKEN


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(bot_token=TOKEN) as emu:  # the manifest's scopes, exactly
        yield emu


@pytest.fixture
def web(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.api_url)


async def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        await call
    assert info.value.response.status_code == 200
    body: dict[str, Any] = info.value.response.data
    return body


# -- granted scopes -----------------------------------------------------------------------------


async def test_granted_scopes_are_the_manifests_and_auth_test_reports_them(
    slack: SlackEmulator, web: AsyncWebClient
) -> None:
    assert slack.scopes == set(manifest_bot_scopes())
    assert {"chat:write", "im:write", "im:history"} <= slack.scopes
    slack.scopes.discard("pins:write")
    response = await web.auth_test()
    header = response.headers.get("x-oauth-scopes") or response.headers.get("X-OAuth-Scopes")
    granted = header[0] if isinstance(header, list) else header
    assert granted == ",".join(sorted(slack.scopes))
    assert "pins:write" not in str(granted).split(",")


async def test_history_needs_the_scope_of_the_conversations_type(
    slack: SlackEmulator, web: AsyncWebClient
) -> None:
    slack.scopes = {"channels:history", "im:write", "chat:write"}
    dm = (await web.conversations_open(users="U0BOB"))["channel"]["id"]
    assert dm.startswith("D")
    body = await refused(web.conversations_history(channel=dm))
    assert body == {
        "ok": False,
        "error": "missing_scope",
        "needed": "im:history",
        "provided": "channels:history,chat:write,im:write",
    }
    body = await refused(web.conversations_replies(channel=dm, ts="1.000001"))
    assert body["needed"] == "im:history"
    assert (await web.conversations_history(channel="C0INCIDENTS"))["ok"]
    slack.scopes.add("im:history")
    assert (await web.conversations_history(channel=dm))["ok"]


async def test_a_missing_scope_is_answered_before_anything_about_the_conversation(
    slack: SlackEmulator, web: AsyncWebClient
) -> None:
    slack.scopes = {"chat:write"}
    # Neither whether the channel exists nor whether the bot is in it is revealed.
    for channel in ("C0NOSUCH", "C0GENERAL", "C0INCIDENTS"):
        body = await refused(web.conversations_history(channel=channel))
        assert (body["error"], body["needed"]) == ("missing_scope", "channels:history")
    body = await refused(web.conversations_info(channel="C0INCIDENTS"))
    assert body["needed"] == "channels:read"


@pytest.mark.parametrize(
    ("method", "args", "needed"),
    [
        ("conversations.open", {"users": "U0BOB"}, "im:write"),
        ("conversations.open", {"users": "U0BOB,U0CAROL"}, "mpim:write"),
        ("conversations.create", {"name": "ops"}, "channels:manage"),
        ("conversations.create", {"name": "ops", "is_private": True}, "groups:write"),
        ("conversations.join", {"channel": "C0GENERAL"}, "channels:join"),
        ("conversations.list", {"types": "im"}, "im:read"),
        ("conversations.list", {"types": "private_channel"}, "groups:read"),
        ("conversations.invite", {"channel": "C0INCIDENTS", "users": "U0BOB"}, "channels:manage"),
        ("conversations.archive", {"channel": "C0INCIDENTS"}, "channels:manage"),
        ("chat.postMessage", {"channel": "C0INCIDENTS", "text": "hi"}, "chat:write"),
        ("chat.postMessage", {"channel": "U0BOB", "text": "hi"}, "chat:write"),
        ("pins.add", {"channel": "C0INCIDENTS", "timestamp": "1.1"}, "pins:write"),
        ("reactions.add", {"channel": "C0INCIDENTS", "timestamp": "1.1"}, "reactions:write"),
        ("users.info", {"user": "U0BOB"}, "users:read"),
        ("users.lookupByEmail", {"email": "bob@example.com"}, "users:read.email"),
        ("bookmarks.add", {"channel_id": "C0INCIDENTS", "title": "t"}, "bookmarks:write"),
    ],
)
async def test_each_method_needs_its_scope(
    slack: SlackEmulator, web: AsyncWebClient, method: str, args: dict[str, Any], needed: str
) -> None:
    slack.scopes = {"commands"}
    body = await refused(web.api_call(method, json=args))
    assert body["error"] == "missing_scope"
    assert (body["needed"], body["provided"]) == (needed, "commands")


async def test_lookup_by_email_needs_users_read_with_it(
    slack: SlackEmulator, web: AsyncWebClient
) -> None:
    slack.scopes = {"users:read.email"}
    body = await refused(web.users_lookupByEmail(email="bob@example.com"))
    assert body["needed"] == "users:read"


async def test_views_and_auth_test_need_no_scope(slack: SlackEmulator, web: AsyncWebClient) -> None:
    slack.scopes = set()
    assert (await web.auth_test())["ok"]
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}
    assert (await web.views_open(trigger_id="1.2.abc", view=view))["ok"]


async def test_posting_in_a_public_channel_not_joined_needs_chat_write_public(
    slack: SlackEmulator, web: AsyncWebClient
) -> None:
    body = await refused(web.chat_postMessage(channel="C0GENERAL", text="hi"))
    assert body["error"] == "not_in_channel"
    slack.scopes.add("chat:write.public")
    assert (await web.chat_postMessage(channel="C0GENERAL", text="hi"))["ok"]


# -- user ids are not conversation ids ----------------------------------------------------------


async def test_a_user_id_is_a_dm_only_for_chat_post_message(web: AsyncWebClient) -> None:
    posted = await web.chat_postMessage(channel="U0BOB", text="hello")
    dm = posted["channel"]
    assert dm.startswith("D")
    assert dm == (await web.conversations_open(users="U0BOB"))["channel"]["id"]
    ts = posted["ts"]
    for call in (
        web.conversations_history(channel="U0BOB"),
        web.conversations_replies(channel="U0BOB", ts=ts),
        web.chat_update(channel="U0BOB", ts=ts, text="edited"),
        web.chat_delete(channel="U0BOB", ts=ts),
        web.pins_add(channel="U0BOB", timestamp=ts),
        web.conversations_join(channel="U0BOB"),
    ):
        assert (await refused(call))["error"] == "channel_not_found"
    history = await web.conversations_history(channel=dm)
    assert [m["text"] for m in history["messages"]] == ["hello"]
    assert (await web.chat_update(channel=dm, ts=ts, text="edited"))["ok"]


# -- Block Kit limits ---------------------------------------------------------------------------


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(**overrides: Any) -> dict[str, Any]:
    base = {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
    return base | overrides


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def option(text: str = "a", value: str = "a", **more: Any) -> dict[str, Any]:
    return {"text": plain(text), "value": value, **more}


def select(options: list[dict[str, Any]], kind: str = "static_select") -> dict[str, Any]:
    return {"type": kind, "action_id": "pick", "options": options}


def input_block(element: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"type": "input", "label": plain("Title"), "element": element, **more}


TEXT_INPUT = {"type": "plain_text_input", "action_id": "t"}

OVER_LIMIT_BLOCKS: dict[str, list[dict[str, Any]]] = {
    "51 blocks": [section("x")] * 51,
    "section text": [section("x" * 3001)],
    "11 fields": [{"type": "section", "fields": [plain("f")] * 11}],
    "field text": [{"type": "section", "fields": [plain("f" * 2001)]}],
    "header": [{"type": "header", "text": plain("h" * 151)}],
    "context elements": [{"type": "context", "elements": [plain("c")] * 11}],
    "actions elements": [{"type": "actions", "elements": [button()] * 26}],
    "button text": [{"type": "actions", "elements": [button(text=plain("b" * 76))]}],
    "button value": [{"type": "actions", "elements": [button(value="v" * 2001)]}],
    "button url": [{"type": "actions", "elements": [button(url="https://x/" + "u" * 2991)]}],
    "action_id": [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
    "block_id": [{**section("x"), "block_id": "b" * 256}],
    "101 options": [{"type": "actions", "elements": [select([option()] * 101)]}],
    "option text": [{"type": "actions", "elements": [select([option("t" * 76)])]}],
    "option value": [{"type": "actions", "elements": [select([option(value="v" * 151)])]}],
    "option description": [
        {"type": "actions", "elements": [select([option(description=plain("d" * 76))])]}
    ],
    "11 checkboxes": [{"type": "actions", "elements": [select([option()] * 11, "checkboxes")]}],
    "11 radio buttons": [
        {"type": "actions", "elements": [select([option()] * 11, "radio_buttons")]}
    ],
    "placeholder": [
        section("x") | {"accessory": select([option()]) | {"placeholder": plain("p" * 151)}}
    ],
}


@pytest.mark.parametrize("blocks", OVER_LIMIT_BLOCKS.values(), ids=OVER_LIMIT_BLOCKS.keys())
async def test_messages_over_a_block_kit_limit_are_invalid_blocks(
    slack: SlackEmulator, web: AsyncWebClient, blocks: list[dict[str, Any]]
) -> None:
    for call in (
        web.chat_postMessage(channel="C0INCIDENTS", text="t", blocks=blocks),
        web.chat_postEphemeral(channel="C0INCIDENTS", user="U0BOB", text="t", blocks=blocks),
    ):
        body = await refused(call)
        assert body["error"] == "invalid_blocks"
        [reason] = body["response_metadata"]["messages"]
        assert reason.startswith("[ERROR] ")
        assert "[json-pointer:/blocks" in reason
    assert slack.messages("C0INCIDENTS") == []


async def test_blocks_at_the_limits_are_accepted_and_updates_are_checked(
    web: AsyncWebClient,
) -> None:
    at_limits = [section("x" * 3000)] * 49 + [
        {"type": "actions", "elements": [button(text=plain("b" * 75), value="v" * 2000)] * 25}
    ]
    posted = await web.chat_postMessage(channel="C0INCIDENTS", text="t", blocks=at_limits)
    body = await refused(
        web.chat_update(
            channel=posted["channel"], ts=posted["ts"], text="t", blocks=[section("x" * 3001)]
        )
    )
    assert body["error"] == "invalid_blocks"


def modal(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "declare",
        "title": plain("Declare"),
        "submit": plain("Declare"),
        "close": plain("Cancel"),
        "blocks": [input_block(TEXT_INPUT)],
    } | overrides


OVER_LIMIT_VIEWS: dict[str, dict[str, Any]] = {
    "private_metadata": modal(private_metadata="m" * 3001),
    "title": modal(title=plain("t" * 25)),
    "submit": modal(submit=plain("s" * 25)),
    "close": modal(close=plain("c" * 25)),
    "callback_id": modal(callback_id="c" * 256),
    "external_id": modal(external_id="e" * 256),
    "101 blocks": modal(blocks=[section("x")] * 101),
    "label": modal(blocks=[input_block(TEXT_INPUT, label=plain("l" * 2001))]),
    "hint": modal(blocks=[input_block(TEXT_INPUT, hint=plain("h" * 2001))]),
    "placeholder": modal(blocks=[input_block(TEXT_INPUT | {"placeholder": plain("p" * 151)})]),
    "max_length": modal(blocks=[input_block(TEXT_INPUT | {"max_length": 3001})]),
    "home blocks": {"type": "home", "blocks": [section("x")] * 101},
}


@pytest.mark.parametrize("view", OVER_LIMIT_VIEWS.values(), ids=OVER_LIMIT_VIEWS.keys())
async def test_views_over_a_limit_are_refused(
    slack: SlackEmulator, web: AsyncWebClient, view: dict[str, Any]
) -> None:
    if view["type"] == "home":
        body = await refused(web.views_publish(user_id="U0BOB", view=view))
    else:
        body = await refused(web.views_open(trigger_id="1.2.abc", view=view))
    assert body["error"] == "invalid_arguments"
    [reason] = body["response_metadata"]["messages"]
    assert reason.startswith("[ERROR] ")
    assert "[json-pointer:/view" in reason
    assert slack.opened_views() == []


async def test_private_metadata_of_3000_characters_fits_but_not_3001_in_push_or_update(
    slack: SlackEmulator, web: AsyncWebClient
) -> None:
    opened = await web.views_open(trigger_id="1.2.a", view=modal(private_metadata="m" * 3000))
    too_long = modal(private_metadata="m" * 3001)
    body = await refused(web.views_update(view_id=opened["view"]["id"], view=too_long))
    assert "/view/private_metadata" in body["response_metadata"]["messages"][0]
    body = await refused(web.views_push(trigger_id="1.2.b", view=too_long))
    assert body["error"] == "invalid_arguments"
    assert len(slack.opened_views()) == 1


# -- slash-command text escaping ----------------------------------------------------------------


def test_the_manifest_has_slack_escape_incident_command_text() -> None:
    assert manifest_should_escape("/incident") is True


def test_escaped_command_text_names_known_people_channels_and_links(slack: SlackEmulator) -> None:
    payloads = SlackPayloads(workspace=slack.state)
    text = "page @bob and @nobody in #incidents, see https://status.example.com/x now"
    fields = payloads.slash_command_fields(text)
    assert fields["text"] == (
        "page <@U0BOB|bob> and @nobody in <#C0INCIDENTS|incidents>, "
        "see <https://status.example.com/x> now"
    )
    # What is markup already stays as it is.
    already = payloads.slash_command_fields("assign pm <@U0BOB> <#C0GENERAL|general>")
    assert already["text"] == "assign pm <@U0BOB> <#C0GENERAL|general>"


def test_without_should_escape_the_text_arrives_as_typed(slack: SlackEmulator) -> None:
    payloads = SlackPayloads(workspace=slack.state, should_escape=False)
    text = "page @bob in #incidents https://example.com"
    assert payloads.slash_command_fields(text)["text"] == text
