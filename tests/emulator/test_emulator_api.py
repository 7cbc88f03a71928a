"""The emulator's Web API, driven through real HTTP by slack_sdk's AsyncWebClient."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import SlackEmulator

from .conftest import TOKEN

TS = re.compile(r"^\d{10}\.\d{6}$")
MODAL = {
    "type": "modal",
    "callback_id": "declare_incident",
    "title": {"type": "plain_text", "text": "Declare"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "private_metadata": "C0INCIDENTS",
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "title_input"},
        }
    ],
}


async def slack_error(call: object) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call  # type: ignore[misc]
    return info.value


# -- auth ---------------------------------------------------------------------------------------


async def test_auth_test_identifies_the_bot(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == "U0FIREBOT"
    assert response["team_id"] == "T0FIREWTCH"
    assert response["url"] == "https://firewatch-demo.slack.com/"


async def test_missing_token_is_not_authed(emulator: SlackEmulator) -> None:
    err = await slack_error(AsyncWebClient(base_url=emulator.api_url).auth_test())
    assert err.response.status_code == 200
    assert err.response["error"] == "not_authed"


async def test_wrong_token_is_invalid_auth(emulator: SlackEmulator) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=emulator.api_url)
    err = await slack_error(client.chat_postMessage(channel="#incidents", text="hi"))
    assert err.response["error"] == "invalid_auth"
    assert emulator.messages("incidents") == []


async def test_token_as_form_argument_and_json_string_blocks(emulator: SlackEmulator) -> None:
    blocks = '[{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1*"}}]'
    form = {"token": TOKEN, "channel": "C0INCIDENTS", "text": "fallback", "blocks": blocks}
    async with (
        aiohttp.ClientSession() as session,
        session.post(emulator.api_url + "chat.postMessage", data=form) as resp,
    ):
        body = await resp.json()
    assert body["ok"] is True
    [message] = emulator.messages("#incidents")
    assert message.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1*"}}]
    assert emulator.calls[-1].args["blocks"][0]["type"] == "section"
    assert "token" not in emulator.calls[-1].args


async def test_unknown_method_is_404(client: AsyncWebClient) -> None:
    err = await slack_error(client.api_call("chat.teleport"))
    assert err.response.status_code == 404
    assert err.response["error"] == "unknown_method"


async def test_missing_required_argument(client: AsyncWebClient) -> None:
    err = await slack_error(client.api_call("users.info", params={}))
    assert err.response["error"] == "missing_argument"


# -- chat ---------------------------------------------------------------------------------------


async def test_post_message_shape_and_state(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    response = await client.chat_postMessage(channel="#incidents", text="hi", blocks=blocks)
    assert response["channel"] == "C0INCIDENTS"
    assert TS.match(response["ts"])
    assert response["message"]["text"] == "hi"
    assert response["message"]["user"] == "U0FIREBOT"
    assert response["message"]["blocks"] == blocks
    [stored] = emulator.messages("incidents")
    assert (stored.ts, stored.text, stored.blocks) == (response["ts"], "hi", blocks)


async def test_message_ts_strictly_increasing(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    for i in range(5):
        await client.chat_postMessage(channel="C0INCIDENTS", text=str(i))
    stamps = [m.ts for m in emulator.messages("C0INCIDENTS")]
    assert [m.text for m in emulator.messages("C0INCIDENTS")] == ["0", "1", "2", "3", "4"]
    assert all(float(a) < float(b) for a, b in zip(stamps, stamps[1:], strict=False))


async def test_post_to_user_id_opens_dm(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    response = await client.chat_postMessage(channel="U0BOB", text="you are on call")
    dm = emulator.dm_channel_for("U0BOB")
    assert dm is not None
    assert dm.id.startswith("D")
    assert response["channel"] == dm.id
    assert [m.text for m in emulator.messages("U0BOB")] == ["you are on call"]


async def test_thread_reply_and_metadata(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    parent = await client.chat_postMessage(channel="#incidents", text="SEV2 declared")
    metadata = {"event_type": "incident", "event_payload": {"id": "INC-7"}}
    await client.chat_postMessage(
        channel="#incidents", text="update", thread_ts=parent["ts"], metadata=metadata
    )
    reply = emulator.messages("incidents")[1]
    assert reply.thread_ts == parent["ts"]
    assert reply.metadata == metadata
    history = await client.conversations_history(channel="C0INCIDENTS")
    assert [m["text"] for m in history["messages"]] == ["SEV2 declared"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "#incidents"}, "no_text"),
        ({"channel": "#nope", "text": "x"}, "channel_not_found"),
        ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
    ],
)
async def test_post_message_errors(
    client: AsyncWebClient, kwargs: dict[str, str], error: str
) -> None:
    # api_call: chat_postMessage() itself warns about a missing text (warnings are errors here)
    err = await slack_error(client.api_call("chat.postMessage", json=kwargs))
    assert err.response["error"] == error


async def test_private_channel_requires_membership(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    emulator.add_channel("secops", is_private=True, members=["U0ALICE"], bot_is_member=False)
    err = await slack_error(client.chat_postMessage(channel="#secops", text="x"))
    assert err.response["error"] == "not_in_channel"


async def test_archived_channel_rejects_posts(client: AsyncWebClient) -> None:
    created = await client.conversations_create(name="inc-archived")
    await client.conversations_archive(channel=created["channel"]["id"])
    err = await slack_error(client.chat_postMessage(channel="#inc-archived", text="x"))
    assert err.response["error"] == "is_archived"
    again = await slack_error(client.conversations_archive(channel=created["channel"]["id"]))
    assert again.response["error"] == "already_archived"
    general = await slack_error(client.conversations_archive(channel="C0GENERAL"))
    assert general.response["error"] == "cant_archive_general"


async def test_update_and_its_errors(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    posted = await client.chat_postMessage(channel="#incidents", text="SEV2")
    updated = await client.chat_update(channel="C0INCIDENTS", ts=posted["ts"], text="SEV1")
    assert updated["ts"] == posted["ts"]
    assert updated["message"]["text"] == "SEV1"
    assert emulator.messages("incidents")[0].text == "SEV1"
    missing = await slack_error(client.chat_update(channel="C0INCIDENTS", ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"
    human = emulator.add_message("incidents", "db is down", user="U0ALICE")
    foreign = await slack_error(client.chat_update(channel="C0INCIDENTS", ts=human.ts, text="x"))
    assert foreign.response["error"] == "cant_update_message"


async def test_delete(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    posted = await client.chat_postMessage(channel="#incidents", text="oops")
    response = await client.chat_delete(channel="C0INCIDENTS", ts=posted["ts"])
    assert response["ts"] == posted["ts"]
    assert emulator.messages("incidents") == []


async def test_ephemeral_is_separate(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    response = await client.chat_postEphemeral(channel="C0INCIDENTS", user="U0CAROL", text="psst")
    assert TS.match(response["message_ts"])
    assert emulator.messages("incidents") == []
    [eph] = emulator.ephemerals(user="U0CAROL", channel="#incidents")
    assert eph.text == "psst"
    assert emulator.ephemerals(user="U0ALICE") == []
    emulator.add_user("U0ERIN", "erin", "erin@example.com")
    err = await slack_error(
        client.chat_postEphemeral(channel="C0INCIDENTS", user="U0ERIN", text="x")
    )
    assert err.response["error"] == "user_not_in_channel"


async def test_permalink(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="#incidents", text="x")
    response = await client.chat_getPermalink(channel="C0INCIDENTS", message_ts=posted["ts"])
    expected = (
        f"https://firewatch-demo.slack.com/archives/C0INCIDENTS/p{posted['ts'].replace('.', '')}"
    )
    assert response["permalink"] == expected
    err = await slack_error(client.chat_getPermalink(channel="C0INCIDENTS", message_ts="1.2"))
    assert err.response["error"] == "message_not_found"


# -- conversations ------------------------------------------------------------------------------


async def test_create_channel_shape(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    response = await client.conversations_create(name="inc-2024-001-db-outage")
    channel = response["channel"]
    assert channel["id"].startswith("C")
    assert channel["name"] == "inc-2024-001-db-outage"
    assert (channel["is_private"], channel["is_member"], channel["creator"]) == (
        False,
        True,
        "U0FIREBOT",
    )
    assert {"topic", "purpose", "created", "is_archived"} <= channel.keys()
    stored = emulator.channel_by_name("inc-2024-001-db-outage")
    assert stored is not None
    assert stored.members == ["U0FIREBOT"]
    taken = await slack_error(client.conversations_create(name="inc-2024-001-db-outage"))
    assert taken.response["error"] == "name_taken"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("Inc-Upper", "invalid_name_specials"),
        ("inc 1", "invalid_name_specials"),
        ("inc#1", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
        ("incidents", "name_taken"),
    ],
)
async def test_channel_name_rules(client: AsyncWebClient, name: str, error: str) -> None:
    err = await slack_error(client.conversations_create(name=name))
    assert err.response["error"] == error


async def test_longest_name_and_private_channel(client: AsyncWebClient) -> None:
    response = await client.conversations_create(name="x" * 80, is_private=True)
    assert response["channel"]["is_private"] is True


async def test_invite(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    created = await client.conversations_create(name="inc-42")
    channel_id = created["channel"]["id"]
    await client.conversations_invite(channel=channel_id, users=["U0ALICE", "U0BOB"])
    members = await client.conversations_members(channel=channel_id)
    assert set(members["members"]) == {"U0FIREBOT", "U0ALICE", "U0BOB"}
    for users, error in [
        ("U0ALICE", "already_in_channel"),
        ("U0NOBODY", "user_not_found"),
        ("U0FIREBOT", "cant_invite_self"),
    ]:
        err = await slack_error(client.conversations_invite(channel=channel_id, users=users))
        assert err.response["error"] == error
    unknown = await slack_error(client.conversations_invite(channel="C0NOPE", users="U0BOB"))
    assert unknown.response["error"] == "channel_not_found"
    # Without force nobody is added when one invitee fails; with force the valid ones are.
    await slack_error(client.conversations_invite(channel=channel_id, users="U0CAROL,U0NOBODY"))
    assert "U0CAROL" not in emulator.channel(channel_id).members  # type: ignore[union-attr]
    forced = await client.conversations_invite(
        channel=channel_id, users="U0CAROL,U0NOBODY", force=True
    )
    assert forced["errors"] == [{"user": "U0NOBODY", "ok": False, "error": "user_not_found"}]
    assert "U0CAROL" in emulator.channel(channel_id).members  # type: ignore[union-attr]


async def test_topic_purpose_rename_info(client: AsyncWebClient) -> None:
    created = await client.conversations_create(name="inc-7")
    channel_id = created["channel"]["id"]
    await client.conversations_setTopic(channel=channel_id, topic="SEV1 | IC: @alice")
    await client.conversations_setPurpose(channel=channel_id, purpose="Checkout is down")
    await client.conversations_rename(channel=channel_id, name="inc-7-resolved")
    info = (await client.conversations_info(channel=channel_id))["channel"]
    assert info["topic"]["value"] == "SEV1 | IC: @alice"
    assert info["purpose"]["value"] == "Checkout is down"
    assert (info["name"], info["previous_names"]) == ("inc-7-resolved", ["inc-7"])
    taken = await slack_error(client.conversations_rename(channel=channel_id, name="general"))
    assert taken.response["error"] == "name_taken"


async def test_open_join_history(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    opened = await client.conversations_open(users="U0DAVE")
    assert opened["channel"]["id"] == emulator.dm_channel_for("U0DAVE").id  # type: ignore[union-attr]
    again = await client.conversations_open(users="U0DAVE")
    assert again["channel"]["id"] == opened["channel"]["id"]
    not_member = await slack_error(client.conversations_history(channel="C0GENERAL"))
    assert not_member.response["error"] == "not_in_channel"
    joined = await client.conversations_join(channel="C0GENERAL")
    assert joined["channel"]["is_member"] is True
    emulator.add_message("general", "first")
    emulator.add_message("general", "second")
    history = await client.conversations_history(channel="C0GENERAL")
    assert [m["text"] for m in history["messages"]] == ["second", "first"]


# -- views --------------------------------------------------------------------------------------


async def test_views_open_and_update(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    opened = await client.views_open(trigger_id="1.2.abc", view=MODAL)
    view = opened["view"]
    assert view["id"].startswith("V")
    assert view["hash"]
    assert view["callback_id"] == "declare_incident"
    assert view["private_metadata"] == "C0INCIDENTS"
    [recorded] = emulator.opened_views("declare_incident")
    assert (recorded["id"], recorded["hash"]) == (view["id"], view["hash"])
    updated = await client.views_update(
        view_id=view["id"], hash=view["hash"], view={**MODAL, "callback_id": "declare_step2"}
    )
    assert updated["view"]["id"] == view["id"]
    assert updated["view"]["hash"] != view["hash"]
    assert [v["callback_id"] for v in emulator.opened_views()] == [
        "declare_incident",
        "declare_step2",
    ]
    stale = await slack_error(
        client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)
    )
    assert stale.response["error"] == "hash_conflict"
    missing = await slack_error(client.views_update(view_id="V0NOPE", view=MODAL))
    assert missing.response["error"] == "not_found"


async def test_views_update_by_external_id(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    await client.views_open(trigger_id="1.2.abc", view={**MODAL, "external_id": "inc-9"})
    await client.views_update(external_id="inc-9", view={**MODAL, "callback_id": "step2"})
    assert emulator.opened_views()[-1]["callback_id"] == "step2"
    assert emulator.opened_views()[-1]["external_id"] == "inc-9"


async def test_trigger_ids(client: AsyncWebClient) -> None:
    empty = await slack_error(client.views_open(trigger_id="", view=MODAL))
    assert empty.response["error"] == "invalid_trigger_id"
    await client.views_open(trigger_id="123.456.abc", view=MODAL)
    reused = await slack_error(client.views_open(trigger_id="123.456.abc", view=MODAL))
    assert reused.response["error"] == "exchanged_trigger_id"


async def test_view_as_json_string_in_form(emulator: SlackEmulator) -> None:
    import json

    form = {"trigger_id": "9.9.9", "view": json.dumps(MODAL)}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(emulator.api_url + "views.open", data=form, headers=headers) as resp,
    ):
        body = await resp.json()
    assert body["ok"] is True
    assert body["view"]["blocks"] == MODAL["blocks"]


async def test_views_publish_home(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}],
    }
    first = await client.views_publish(user_id="U0ALICE", view=home)
    second = await client.views_publish(user_id="U0ALICE", view=home)
    assert first["view"]["id"] == second["view"]["id"]
    assert emulator.home_view("U0ALICE") == second["view"]


# -- pins, reactions, bookmarks, users, team ----------------------------------------------------


async def test_pins(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    posted = await client.chat_postMessage(channel="#incidents", text="summary")
    await client.pins_add(channel="C0INCIDENTS", timestamp=posted["ts"])
    assert [m.text for m in emulator.pins("incidents")] == ["summary"]
    listed = await client.pins_list(channel="C0INCIDENTS")
    assert listed["items"][0]["message"]["ts"] == posted["ts"]
    dup = await slack_error(client.pins_add(channel="C0INCIDENTS", timestamp=posted["ts"]))
    assert dup.response["error"] == "already_pinned"
    gone = await slack_error(client.pins_add(channel="C0INCIDENTS", timestamp="1.000002"))
    assert gone.response["error"] == "message_not_found"


async def test_reactions_and_bookmarks(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    posted = await client.chat_postMessage(channel="#incidents", text="x")
    await client.reactions_add(channel="C0INCIDENTS", timestamp=posted["ts"], name="eyes")
    assert emulator.messages("incidents")[0].reactions[0]["name"] == "eyes"
    again = await slack_error(
        client.reactions_add(channel="C0INCIDENTS", timestamp=posted["ts"], name="eyes")
    )
    assert again.response["error"] == "already_reacted"
    added = await client.bookmarks_add(
        channel_id="C0INCIDENTS", title="Runbook", type="link", link="https://runbooks.example/db"
    )
    assert added["bookmark"]["title"] == "Runbook"
    assert [b.link for b in emulator.bookmarks("incidents")] == ["https://runbooks.example/db"]


async def test_users_and_team(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    alice = await client.users_info(user="U0ALICE")
    assert alice["user"]["profile"]["email"] == "alice@example.com"
    assert alice["user"]["tz"] == "America/New_York"
    found = await client.users_lookupByEmail(email="bob@example.com")
    assert found["user"]["id"] == "U0BOB"
    missing = await slack_error(client.users_lookupByEmail(email="mallory@example.com"))
    assert missing.response["error"] == "users_not_found"
    unknown = await slack_error(client.users_info(user="U0NOBODY"))
    assert unknown.response["error"] == "user_not_found"
    emulator.add_user("U0ERIN", "erin", "erin@example.com", tz="Asia/Kolkata")
    listed = await client.users_list()
    assert {"U0FIREBOT", "U0ALICE", "U0ERIN"} <= {m["id"] for m in listed["members"]}
    team = await client.team_info()
    assert team["team"]["domain"] == "firewatch-demo"


# -- recording and wait_for ---------------------------------------------------------------------


async def test_recording(client: AsyncWebClient, emulator: SlackEmulator) -> None:
    await client.conversations_create(name="inc-rec")
    await slack_error(client.conversations_create(name="inc-rec"))
    calls = emulator.calls_to("conversations.create")
    assert [c.args["name"] for c in calls] == ["inc-rec", "inc-rec"]
    assert [c.response.get("error") for c in calls] == [None, "name_taken"]
    assert [c.ok for c in calls] == [True, False]
    assert (calls[0].token, calls[0].http_status) == (TOKEN, 200)
    emulator.reset_calls()
    assert emulator.calls == []


async def test_wait_for_wakes_on_state_change(
    client: AsyncWebClient, emulator: SlackEmulator
) -> None:
    async def bot_later() -> None:
        await asyncio.sleep(0)
        await client.chat_postMessage(channel="#incidents", text="declared")

    task = asyncio.create_task(bot_later())
    messages = await emulator.wait_for(lambda: emulator.messages("incidents"), timeout=2)
    assert messages[0].text == "declared"
    await task


async def test_wait_for_times_out_with_context(emulator: SlackEmulator) -> None:
    with pytest.raises(TimeoutError, match="condition not met"):
        await emulator.wait_for(lambda: emulator.messages("incidents"), timeout=0.05)
