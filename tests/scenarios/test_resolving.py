"""Every way to "resolved" requests the post-mortem, once per incident (issue 20, item 4)."""

from __future__ import annotations

from sqlalchemy import select

from bot.emulator import input_values
from bot.slack.ids import TimelineIds
from storage.models import OutboxRow
from storage.postmortem_models import PostmortemRow
from tests.scenarios import test_postmortems
from tests.scenarios.test_timeline import declared
from tests.support import Harness

# The post-mortem scenarios' harness: U0BOB, the PM, is the one asked to write it.
h = test_postmortems.h
OWNER = test_postmortems.OWNER


async def command(h: Harness, text: str, channel: str) -> str:
    answer = (await h.sender.slash_command(text, channel_id=channel)).json()["text"]
    await h.settled()
    return str(answer)


async def by_modal(h: Harness, channel: str, status: str, update: str) -> None:
    before = len(h.slack.opened_views(TimelineIds.STATUS_MODAL))
    await h.sender.slash_command("status", channel_id=channel)
    views = await h.slack.wait_for(lambda: h.slack.opened_views(TimelineIds.STATUS_MODAL)[before:])
    values = input_values(views[0], {TimelineIds.STATUS: status, TimelineIds.UPDATE: update})
    assert (await h.sender.view_submission(views[0], values)).text in ("", "{}")
    await h.settled()


async def postmortems(h: Harness) -> list[PostmortemRow]:
    async with h.app.db.session(write=False) as session:
        return list((await session.execute(select(PostmortemRow))).scalars())


async def requests_queued(h: Harness) -> int:
    async with h.app.db.session(write=False) as session:
        rows = await session.execute(
            select(OutboxRow).where(OutboxRow.kind == "postmortem.request")
        )
        return len(list(rows.scalars()))


def asked(h: Harness) -> list[str]:
    return [m.text for m in h.slack.messages(OWNER) if "Please write the post-mortem" in m.text]


async def requested_entries(h: Harness) -> list[str]:
    return [
        e.text
        for e in await h.timeline()
        if e.kind == "postmortem" and e.text.startswith("Post-mortem requested")
    ]


async def test_status_resolved_requests_the_postmortem_and_reopening_does_not_ask_again(
    h: Harness,
) -> None:
    channel = await declared(h)
    refused = await command(h, "status resolved", channel)
    assert refused == "Say how it was resolved: `/incident status resolved <how>`."
    assert (await h.incidents())[0].status == "investigating"

    assert await command(h, "status resolved Rolled back to v41", channel) == (
        "INC-1 is now resolved."
    )
    [row] = await postmortems(h)
    assert (row.status, row.owner_id, row.resolution_summary) == (
        "requested",
        OWNER,
        "Rolled back to v41",
    )
    assert len(asked(h)) == 1
    assert len(await requested_entries(h)) == 1
    # what `/incident resolve` would say now, and the post-mortem is there to write
    assert "already resolved" in await command(h, "status resolved again", channel)

    assert await command(h, "status investigating It came back", channel) == (
        "INC-1 is now investigating."
    )
    await by_modal(h, channel, "resolved", "Feature flag off for good")
    [incident] = await h.incidents()
    assert incident.status == "resolved"
    [row] = await postmortems(h)
    assert (row.status, row.resolution_summary) == ("requested", "Feature flag off for good")
    assert len(asked(h)) == 1
    assert len(await requested_entries(h)) == 1
    assert await requests_queued(h) == 1


async def test_the_status_modal_requests_the_postmortem(h: Harness) -> None:
    channel = await declared(h)
    await by_modal(h, channel, "resolved", "Error rate normal for 30 min")
    [incident] = await h.incidents()
    assert incident.status == "resolved"
    [row] = await postmortems(h)
    assert (row.status, row.owner_id) == ("requested", OWNER)
    assert row.resolution_summary == "Error rate normal for 30 min"
    assert len(asked(h)) == 1
    assert await requests_queued(h) == 1
