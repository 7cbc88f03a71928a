"""The steps of an incident the fault matrix breaks: what a person does, and what must then
be true exactly once.

Each step acts through the cluster's round-robin person (`Cluster.request`) and knows the
facts it must leave behind: one incident per declaration, one page per page, one timeline
entry per note, ... Steps build on each other (`needs`): a case first plays the steps
before it without faults, on a new incident, then the step under test with one fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.emulator import input_values
from bot.slack.ids import Action, Callback, PmIds
from tests.benchmarks.common import firewatch_env
from tests.faults import alert_flows
from tests.faults.cluster import Cluster
from tests.ports import free_port
from tests.support import QUALIFYING, REPORT, run_cli

PM = "U0BOB"
PAGED = "U0DAVE"


@dataclass
class Incident:
    """What the steps so far made: the case's own incident."""

    tag: str  # makes this case's texts unique in a database shared by many cases
    title: str = ""
    number: int = 0
    channel: str = ""
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


async def wait_view(c: Cluster, callback: str, before: int) -> dict[str, Any]:
    views = await c.slack.wait_for(lambda: c.slack.opened_views(callback)[before:], timeout=30)
    return dict(views[-1])


async def open_and_submit(
    c: Cluster,
    callback: str,
    opener: tuple[str, tuple[Any, ...], dict[str, Any]],
    answers: dict[str, Any],
    user: str,
) -> None:
    """Open a form (a command or a click) and submit it; opened again if the replica that
    was opening it died (the person sees no form and tries again)."""
    send, args, kwargs = opener
    for _ in range(3):
        before = len(c.slack.opened_views(callback))
        await c.request(send, *args, **kwargs)
        try:
            view = await wait_view(c, callback, before)
        except TimeoutError:
            continue
        response = await c.request(
            "view_submission", view, input_values(view, answers), user_id=user
        )
        assert response.status == 200, response.text
        assert '"errors"' not in response.text, f"the {callback} form refused: {response.text}"
        return
    raise AssertionError(f"the {callback} form never opened")


# --- the steps --------------------------------------------------------------------------


async def declare(c: Cluster, inc: Incident) -> None:
    inc.title = f"Checkout errors {inc.tag}"
    answers = {**REPORT, "title": inc.title, **QUALIFYING}
    await open_and_submit(
        c, Callback.DECLARE_MODAL, ("slash_command", ("",), {}), answers, "U0ALICE"
    )


async def declared(c: Cluster, inc: Incident) -> None:
    await c.settled()
    mine = [i for i in await c.incidents() if i.title == inc.title]
    assert len(mine) == 1, f"{len(mine)} incidents titled {inc.title!r}"
    assert mine[0].channel_id, "the incident has no channel"
    inc.number, inc.channel = mine[0].id, mine[0].channel_id
    named = [
        ch for ch in c.slack.state.channels.values() if ch.name.startswith(f"inc-{inc.number}-")
    ]
    assert len(named) == 1, f"{len(named)} channels for INC-{inc.number}"


def dms(c: Cluster, user: str, starts: str) -> list[Any]:
    return [m for m in c.slack.messages(user) if m.text.startswith(starts)]


async def page(c: Cluster, inc: Incident) -> None:
    """Page by hand; a person who is answered anything but "Paging …" types it again
    (the answers are kept: the check names them if no page was made)."""
    answers = inc.facts.setdefault("page_answers", [])
    for _ in range(3):
        response = await c.request(
            "slash_command", f"page <@{PAGED}|dave> {inc.tag}", channel_id=inc.channel
        )
        answers.append(f"{response.status} {response.text[:200]}")
        if response.status == 200 and f"Paging <@{PAGED}>" in response.text:
            return


async def paged(c: Cluster, inc: Incident) -> None:
    await c.settled()
    rows = await c.scalar(
        "SELECT count(*) FROM pages WHERE incident_id = :i AND person = :u", i=inc.number, u=PAGED
    )
    assert rows == 1, f"{rows} pages of {PAGED}; answered: {inc.facts.get('page_answers')}"
    shown = [m for m in dms(c, PAGED, "You are paged") if inc.tag in m.text + json.dumps(m.blocks)]
    assert len(shown) == 1, f"{len(shown)} page DMs"


async def acknowledge(c: Cluster, inc: Incident) -> None:
    row = await c.row(
        "SELECT id, dm_channel, dm_ts FROM pages WHERE incident_id = :i AND person = :u",
        i=inc.number,
        u=PAGED,
    )
    [dm] = [m for m in c.slack.messages(row.dm_channel) if m.ts == row.dm_ts]
    await c.request(
        "block_action",
        Action.PAGE_ACKNOWLEDGE,
        value=str(row.id),
        user_id=PAGED,
        channel_id=row.dm_channel,
        message={"type": "message", "ts": dm.ts, "blocks": dm.blocks},
    )


async def acknowledged(c: Cluster, inc: Incident) -> None:
    await c.settled()
    when = await c.scalar(
        "SELECT count(*) FROM pages WHERE incident_id = :i AND person = :u "
        "AND acknowledged_at IS NOT NULL",
        i=inc.number,
        u=PAGED,
    )
    assert when == 1
    entries = await c.scalar(
        "SELECT count(*) FROM timeline_entries WHERE incident_id = :i AND kind = 'acknowledged'",
        i=inc.number,
    )
    assert entries == 1, f"{entries} acknowledgements on the timeline"
    # Shown by updating the page's DM (and its post in the channel), not by a new message.
    [dm] = [m for m in dms(c, PAGED, "You are paged") if inc.tag in m.text + json.dumps(m.blocks)]
    assert f"Acknowledged by <@{PAGED}>" in json.dumps(dm.blocks)


async def entries_once(c: Cluster, inc: Incident, needle: str) -> None:
    """One timeline entry with `needle`, and it is shown once in the incident's channel."""
    count = await c.scalar(
        "SELECT count(*) FROM timeline_entries WHERE incident_id = :i AND text LIKE :t",
        i=inc.number,
        t=f"%{needle}%",
    )
    assert count == 1, f"{count} timeline entries with {needle!r}"
    shown = [m for m in c.slack.messages(inc.channel) if needle in m.text + json.dumps(m.blocks)]
    assert len(shown) == 1, f"{needle!r} shown {len(shown)} times in the channel"


async def note(c: Cluster, inc: Incident) -> None:
    inc.notes.append(f"checked the database {inc.tag}")
    await c.request("slash_command", f"note {inc.notes[-1]}", channel_id=inc.channel)


async def noted(c: Cluster, inc: Incident) -> None:
    await c.settled()
    await entries_once(c, inc, inc.notes[-1])


async def capture(c: Cluster, inc: Incident) -> None:
    text = f"rolled back to v41 {inc.tag}"
    inc.facts["captured"] = text
    posted = c.slack.add_message(inc.channel, text, user="U0CAROL")
    event = {
        "type": "reaction_added",
        "user": PM,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": inc.channel, "ts": posted.ts},
        "item_user": "U0CAROL",
        "event_ts": posted.ts,
    }
    event_id = f"Ev{inc.tag}"
    response = await c.request("event", event, event_id=event_id)
    for retry in (1, 2, 3):  # Slack retries an event not answered with a 2xx
        if response.status < 300:
            break
        response = await c.request("event", event, event_id=event_id, retry_num=retry)


async def captured(c: Cluster, inc: Incident) -> None:
    await c.settled()
    count = await c.scalar(
        "SELECT count(*) FROM timeline_entries WHERE incident_id = :i AND text LIKE :t",
        i=inc.number,
        t=f"%{inc.facts['captured']}%",
    )
    assert count == 1, f"{count} captures"


async def status(c: Cluster, inc: Incident) -> None:
    await c.request(
        "slash_command", f"status monitoring rolled back {inc.tag}", channel_id=inc.channel
    )


async def status_changed(c: Cluster, inc: Incident) -> None:
    await c.settled()
    assert (
        await c.scalar("SELECT status FROM incidents WHERE id = :i", i=inc.number) == "monitoring"
    )
    await entries_once(c, inc, f"rolled back {inc.tag}")


async def resolve(c: Cluster, inc: Incident) -> None:
    summary = f"Rolled back to v41 {inc.tag}"
    inc.facts["summary"] = summary
    opener = ("slash_command", ("resolve",), {"channel_id": inc.channel})
    await open_and_submit(c, PmIds.RESOLVE_MODAL, opener, {PmIds.SUMMARY: summary}, "U0ALICE")


async def resolved(c: Cluster, inc: Incident) -> None:
    await c.settled()
    assert await c.scalar("SELECT status FROM incidents WHERE id = :i", i=inc.number) == "resolved"
    asked = await c.scalar("SELECT count(*) FROM postmortems WHERE incident_id = :i", i=inc.number)
    assert asked == 1, f"{asked} post-mortems requested"
    assert len(postmortem_requests(c, inc)) == 1


def postmortem_requests(c: Cluster, inc: Incident) -> list[Any]:
    """The DMs asking the PM for this incident's post-mortem."""
    ref = re.compile(rf"\bINC-{inc.number}\b")
    return [
        m
        for m in c.slack.messages(PM)
        if ref.search(m.text) and Action.WRITE_POSTMORTEM in json.dumps(m.blocks)
    ]


async def approve(c: Cluster, inc: Incident) -> None:
    pm_id = await c.scalar("SELECT id FROM postmortems WHERE incident_id = :i", i=inc.number)
    [dm] = postmortem_requests(c, inc)
    # The request's button names the incident; the review's, the post-mortem.
    click = {"value": str(inc.number), "user_id": PM, "channel_id": dm.channel}
    click["message"] = dm.as_dict()
    answers = {
        PmIds.ROOT_CAUSE: f"A config push disabled retries {inc.tag}",
        PmIds.IMPACT: "12% of checkouts failed for 40 minutes",
        PmIds.answer("followup_change"): "no",
        PmIds.SUBMIT: ["submit"],
    }
    await open_and_submit(
        c, PmIds.POSTMORTEM_MODAL, ("block_action", (Action.WRITE_POSTMORTEM,), click), answers, PM
    )
    await c.settled()
    try:
        [review] = await c.slack.wait_for(
            lambda: [
                m for m in c.slack.messages(inc.channel) if "submitted for approval" in m.text
            ],
            timeout=30,
        )
    except TimeoutError:
        shown = [m.text[:80] for m in c.slack.messages(inc.channel)]
        raise AssertionError(f"no post-mortem submitted in {inc.channel}: {shown}") from None
    await c.request(
        "block_action",
        Action.POSTMORTEM_APPROVE,
        value=str(pm_id),
        user_id=PM,
        channel_id=inc.channel,
        message=review.as_dict(),
    )


async def approved(c: Cluster, inc: Incident) -> None:
    await c.settled()
    row = await c.scalar("SELECT status FROM postmortems WHERE incident_id = :i", i=inc.number)
    assert row == "approved"
    assert await c.scalar("SELECT status FROM incidents WHERE id = :i", i=inc.number) == "closed"
    finals = [m for m in c.slack.messages(inc.channel) if m.text.startswith("Final report")]
    assert len(finals) == 1, f"{len(finals)} final reports"


async def digest(c: Cluster, inc: Incident) -> None:
    """`firewatch digest --post` (what the weekly job does): queue it; a replica posts it."""
    env = firewatch_env(
        api_url=c.slack.api_url,
        database_url=c.database_url,
        port=free_port(),
        extra={"FIREWATCH_POLICY_FILE": str(c.workdir / "policy.yaml")},
    )
    done = await run_cli("digest", "--post", database_url=c.database_url, extra_env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    inc.facts["digests"] = await c.scalar("SELECT count(*) FROM outbox WHERE kind = 'digest.post'")


async def digested(c: Cluster, inc: Incident) -> None:
    await c.settled()
    queued = await c.scalar("SELECT count(*) FROM outbox WHERE kind = 'digest.post'")
    assert queued == inc.facts["digests"], "the digest was queued again"
    # That each is posted once, by its outbox id, is the generic check (checks.agree).


async def home(c: Cluster, inc: Incident) -> None:
    """Someone opens their App Home, then is paged for the incident: one refresh (the
    opening's, debounced) is to show the page, whatever goes down meanwhile."""
    user = home_viewer(inc)
    c.slack.add_user(user, user.lower(), f"{user.lower()}@example.com")
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home"}
    event["event_ts"] = "1.000001"
    event_id = f"EvHome{inc.tag}"
    response = await c.request("event", event, event_id=event_id)
    for retry in (1, 2, 3):  # Slack retries an event not answered with a 2xx
        if response.status < 300:
            break
        response = await c.request("event", event, event_id=event_id, retry_num=retry)
    await c.request(
        "slash_command", f"page <@{user}|{user.lower()}> {inc.tag}", channel_id=inc.channel
    )


def home_viewer(inc: Incident) -> str:
    """The case's own person (a Slack user id), so that only this case refreshes their Home."""
    return "U0H" + re.sub(r"[^A-Z0-9]", "", inc.tag.upper())


async def home_shown(c: Cluster, inc: Incident) -> None:
    await c.settled()
    user = home_viewer(inc)
    page_id = await c.scalar(
        "SELECT id FROM pages WHERE incident_id = :i AND person = :u", i=inc.number, u=user
    )
    assert page_id is not None, f"{user} was not paged"
    # The latest state: the Home last published shows the page, with its Acknowledge.
    view = c.slack.home_view(user)
    assert view is not None, f"{user}'s Home was never published"
    acks = [
        e
        for b in view["blocks"]
        for e in b.get("elements", []) + ([b["accessory"]] if "accessory" in b else [])
        if e.get("action_id") == Action.PAGE_ACKNOWLEDGE
    ]
    assert [a["value"] for a in acks] == [str(page_id)], f"{user}'s Home shows {acks}"
    assert inc.title in json.dumps(view)
    # Once per change: a publish per refresh row, and again only for an attempt whose
    # answer was lost (Slack did it; the retry publishes the same view).
    rows, attempts, settled = await c.scalar(
        "SELECT ARRAY[count(*), coalesce(sum(attempts), 0), "
        "count(*) FILTER (WHERE status = 'done')] FROM outbox "
        "WHERE kind = 'home.refresh' AND payload->>'user' = :u",
        u=user,
    )
    published = [
        call
        for call in c.slack.calls_to("views.publish")
        if call.args.get("user_id") == user and call.http_status == 200
    ]
    assert settled == rows >= 1, f"{rows} refreshes of {user}'s Home, {settled} done"
    assert rows <= len(published) <= attempts, (
        f"{user}'s Home published {len(published)} times for {rows} refreshes ({attempts} attempts)"
    )


@dataclass(frozen=True)
class Step:
    name: str
    act: Callable[[Cluster, Incident], Awaitable[None]]
    check: Callable[[Cluster, Incident], Awaitable[None]]
    needs: tuple[str, ...] = ()
    # The Slack method that fails in the step's slack:* cases (default: its first write
    # that is not a form).
    slack_target: str | None = None


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step("declare", declare, declared),
        Step("page", page, paged, ("declare",)),
        Step("acknowledge", acknowledge, acknowledged, ("declare", "page")),
        Step("note", note, noted, ("declare",)),
        Step("capture", capture, captured, ("declare",)),
        Step("status", status, status_changed, ("declare",)),
        Step("resolve", resolve, resolved, ("declare",)),
        Step("approve", approve, approved, ("declare", "resolve")),
        Step("digest", digest, digested, ()),
        Step("home", home, home_shown, ("declare",), slack_target="views.publish"),
        Step("alert", alert_flows.alert, alert_flows.alerted, ()),
    )
}
