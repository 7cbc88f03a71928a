"""One escaping rule (issue 20, item 5): whatever people type, no mention or link of theirs
becomes live in a message's `text` or any mrkdwn object, in every message, modal and
digest builder; Firewatch's own mentions, channel links and dates stay live.

`plain_text` objects (headers, buttons, options, inputs) are not parsed by Slack, so user
text is shown there as written; the walk checks every object Slack parses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import digest as facts
from bot.domain.changes import ChangeStatus
from bot.domain.checklist import Verdict
from bot.domain.incident import ChannelStatus, Incident, Kind, Status
from bot.domain.paging import Page, PageKind, PageStatus
from bot.domain.postmortem import PostmortemStatus
from bot.domain.timeline import TimelineEntry
from bot.policy.loader import load_default_policy
from bot.services.changes import Change
from bot.services.postmortems import Facts, Postmortem
from bot.slack.blocks import declare, digest, incident, paging, postmortems, timeline
from bot.slack.blocks.common import escape

AT = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ZONE = ZoneInfo("UTC")
POLICY = load_default_policy()
# Firewatch's own people and places: these mentions must stay live.
REPORTER, OWNER, PAGED, SUBMITTER, PROPOSER = "U0REP", "U0OWN", "U0PAGED", "U0SUB", "U0PROP"
CHANNEL = "C0INC"
PERMALINK = "https://firewatch.slack.com/archives/C0INC/p1"

MARKUP = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0EVIL>",
    "<@U0EVIL|mallory>",
    "<#C0EVIL>",
    "<!subteam^S0EVIL>",
    "<https://evil.example|runbook>",
    "<https://evil.example>",
    "<mailto:evil@evil.example|mail>",
    "&amp;",
    "&lt;@U0EVIL&gt;",
    "*bold*",
    "`code`",
    "```block```",
    "<",
    ">",
    "&",
    "|",
]
user_text = st.lists(
    st.one_of(st.sampled_from(MARKUP), st.text(alphabet="ab <>&|@!#:*`_~\n", max_size=8)),
    min_size=1,
    max_size=6,
).map("".join)

LIVE = re.compile(r"<([^<>]*)>")
OWN = re.compile(
    rf"^(@({REPORTER}|{OWNER}|{PAGED}|{SUBMITTER}|{PROPOSER})"
    rf"|#{CHANNEL}|!date\^\d+\^[^|]*\|[^<>]*|{re.escape(PERMALINK)}\|message)$"
)


def parsed_texts(payload: Any) -> Iterator[str]:
    """Every text Slack parses for markup in Block Kit JSON: the mrkdwn objects."""
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" and isinstance(payload.get("text"), str):
            yield payload["text"]
        for value in payload.values():
            yield from parsed_texts(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from parsed_texts(value)


def assert_safe(text: str | None, blocks: Any) -> set[str]:
    """No live token that is not Firewatch's own; returns the live tokens found."""
    live: set[str] = set()
    for piece in [text or "", *parsed_texts(blocks)]:
        for token in LIVE.findall(piece):
            assert OWN.match(token), f"user markup is live: <{token}> in {piece!r}"
            live.add(token)
    return live


def an_incident(words: str, kind: Kind = Kind.INCIDENT) -> Incident:
    """Every field a reporter writes holds `words` (the title, the four answers, the
    service, the reason for declaring anyway)."""
    w = words
    return Incident(7, w, w, w, w, w, w, "sev1", Status.INVESTIGATING, kind, REPORTER, AT,
                    ChannelStatus.CREATED, channel_id=CHANNEL, channel_name="inc-7",
                    response_deadline=AT + timedelta(hours=1),
                    checklist={"answers": [], "failures": [], "override_reason": w})  # fmt: skip


def an_entry(words: str, kind: str, seq: int = 1, **data: Any) -> TimelineEntry:
    """A timeline entry by the reporter: `data` names whom Firewatch's own text is about."""
    return TimelineEntry(7, seq, AT, kind, REPORTER, words, data, "", "", id=seq)


def a_page(words: str) -> Page:
    """A page by hand from the reporter, with their message."""
    deadline = AT + timedelta(minutes=5)
    return Page(3, 7, "ic", "ic", PAGED, 0, PageKind.MANUAL, "primary", PageStatus.WAITING, AT,
                deadline, paged_by=REPORTER, message=words)  # fmt: skip


def a_change(words: str) -> Change:
    """A proposed CHG: summary, plan, rollback plan and risk are the proposer's words."""
    steps = {"propose": {"by": PROPOSER}}
    return Change(2, 7, words, words, words, words, {}, ChangeStatus.PROPOSED, PROPOSER, AT,
                  steps, None, None)  # fmt: skip


def a_postmortem(words: str) -> Postmortem:
    """A submitted post-mortem: every text, note, item and question key is `words`."""
    item = {"text": words, "owner": OWNER, "due_on": "2026-12-01", "status": "open"}
    answers = {"followup_change": {"answer": "yes", "note": words}, words: {"note": words}}
    return Postmortem(4, 7, PostmortemStatus.SUBMITTED, OWNER, AT, words, words, words, answers,
                      [item], SUBMITTER, SUBMITTER, words)  # fmt: skip


def a_digest(words: str) -> facts.Digest:
    declared = facts.IncidentFacts(7, "incident", "sev1", words, "resolved", REPORTER, AT)
    report = facts.IncidentFacts(8, "non_incident", "sev3", words, "closed", REPORTER, AT)
    item = facts.ActionItemFacts(5, 7, words, OWNER, date(2026, 11, 20))
    return facts.Digest(
        period_start=AT - timedelta(days=7),
        period_end=AT,
        by_severity={"sev1": [declared]},
        to_review=[
            facts.PostmortemFacts(4, 7, words, "sev1", "submitted", OWNER, AT, SUBMITTER, AT)
        ],
        owed=[facts.OwedPostmortem(7, words, "sev1", OWNER, AT, 4, "draft", True)],
        non_incidents=[report],
        breaches=[facts.BreachFacts(7, words, "sev1", AT, AT)],
        response_times=[],
        overdue_items=[facts.OverdueItem(item, 5)],
        generated_at=AT,
        severity_counts={"sev1": 1},
    )


FACTS = Facts(AT, AT, AT, AT, timedelta(0), timedelta(0), 1, 0, [])
Built = tuple[str | None, Any]


def builders(words: str) -> dict[str, Callable[[], Built]]:
    """Every builder, with `words` in every field a person writes."""
    inc, page, change, pm = an_incident(words), a_page(words), a_change(words), a_postmortem(words)
    page_entry = an_entry(f"Paged <@{PAGED}> as Incident Commander", "page", 2, person=PAGED)
    entries = [
        an_entry(words, "note"),
        an_entry(words, "captured", 3, permalink=PERMALINK),
        page_entry,
        an_entry(f"Post-mortem requested from <@{OWNER}>", "postmortem", 4, owner=OWNER),
    ]
    d, owed, overdue = a_digest(words), a_digest(words).owed, a_digest(words).overdue_items
    followup = {"id": 5, "incident": "INC-7", "text": words, "owner": OWNER}
    verdict = Verdict(qualifies=False, results={}, failures=())
    return {
        "announcement": lambda: incident.announcement(inc, POLICY),
        "report": lambda: incident.incident_report(inc, POLICY, note=words),
        "list": lambda: (None, incident.incident_list([inc], POLICY, AT)),
        "page_dm": lambda: paging.page_dm(page, inc, POLICY),
        "page_post": lambda: paging.page_post(page, inc, POLICY),
        "unanswered": lambda: paging.unanswered(inc, POLICY, "ic"),
        "breach": lambda: paging.breach(inc, POLICY),
        "status_update": lambda: timeline.status_update(inc, an_entry(words, "status")),
        "change": lambda: timeline.change_message(change, inc, POLICY),
        "echo": lambda: timeline.timeline_entries(entries)[:2],
        "timeline_page": lambda: (None, timeline.timeline_page(inc, entries, offset=0, total=4)),
        "status_modal": lambda: (None, timeline.status_modal(inc)),
        "change_modal": lambda: (None, timeline.change_modal(inc, POLICY)),
        "capture_modal": lambda: (None, timeline.capture_modal([inc], words, "shortcut:1")),
        "severity_modal": lambda: (None, declare.severity_modal(inc, POLICY)),
        "declare_modal": lambda: (None, declare.declare_modal(POLICY, title=words)),
        "not_an_incident": lambda: (
            None,
            declare.not_an_incident_modal(verdict, allow_anyway=True, draft=words),
        ),
        "resolve_modal": lambda: (None, postmortems.resolve_modal(inc)),
        "postmortem_modal": lambda: (
            None,
            postmortems.postmortem_modal(inc, pm, FACTS, POLICY, date(2026, 11, 25)),
        ),
        "pm_request": lambda: postmortems.request_message(inc, pm),
        "pm_changes": lambda: postmortems.changes_requested(inc, pm),
        "pm_review": lambda: postmortems.review_message(inc, pm, POLICY),
        "final_report": lambda: postmortems.final_report(inc, pm, FACTS, POLICY),
        "followups": lambda: (
            None,
            postmortems.followups_list([{**followup, "due_on": "2026-12-01", "overdue": True}]),
        ),
        "digest": lambda: digest.digest_message(d, POLICY, zone=ZONE, meeting="m1"),
        "pm_reminder": lambda: digest.postmortem_reminder(
            owed, meeting_at=AT, zone=ZONE, note=None
        ),
        "followup_reminder": lambda: digest.followup_reminder(overdue, zone=ZONE, note=None),
    }


# Firewatch's own mentions each builder must keep live, whatever the user wrote.
OWN_MENTIONS = {
    "announcement": {f"@{REPORTER}", f"#{CHANNEL}"},
    "report": {f"@{REPORTER}", f"#{CHANNEL}"},
    "page_post": {f"@{PAGED}"},
    "page_dm": {f"@{REPORTER}", f"#{CHANNEL}"},
    "change": {f"@{PROPOSER}"},
    "echo": {f"@{PAGED}", f"@{OWNER}", f"@{REPORTER}"},
    "timeline_page": {f"@{PAGED}", f"@{OWNER}", f"{PERMALINK}|message"},
    "pm_review": {f"@{SUBMITTER}", f"@{OWNER}"},
    "pm_changes": {f"@{SUBMITTER}"},
    "final_report": {f"@{SUBMITTER}", f"@{OWNER}"},
    "followups": {f"@{OWNER}"},
    "digest": {f"@{OWNER}", f"@{REPORTER}", f"@{SUBMITTER}"},
    "pm_reminder": {f"@{OWNER}"},
    "followup_reminder": {f"@{OWNER}"},
}


@settings(max_examples=50, deadline=None)
@given(words=user_text)
def test_no_user_markup_is_live_and_firewatchs_own_is(words: str) -> None:
    for name, build in builders(words).items():
        text, blocks = build()
        live = assert_safe(text, blocks)
        missing = OWN_MENTIONS.get(name, set()) - live
        assert not missing, f"{name}: Firewatch's own {missing} not live"


def test_the_weekly_digest_does_not_ping_the_review_channel() -> None:
    """The issue's example: a report titled to ping everyone and forge a link."""
    title = "<!channel> see <https://evil.example|runbook>"
    text, blocks = digest.digest_message(a_digest(title), POLICY, zone=ZONE)
    shown = "\n".join(parsed_texts(blocks))
    assert "&lt;!channel&gt; see &lt;https://evil.example|runbook&gt;" in shown
    assert "<!channel>" not in shown + text
    assert f"<@{OWNER}>" in shown


def test_escaping_is_once_and_only_ampersand_and_angle_brackets() -> None:
    assert escape("a & b <@U1> *c* `d` &amp;") == "a &amp; b &lt;@U1&gt; *c* `d` &amp;amp;"


def test_firewatchs_own_mentions_in_its_timeline_entries_are_not_escaped_twice() -> None:
    text = f"<@{REPORTER}> acknowledged the page (paged: <@{PAGED}>)"
    entry = an_entry(text, "acknowledged", paged=PAGED)
    text, blocks, _ = timeline.timeline_entries([entry])
    assert f"<@{REPORTER}> acknowledged the page (paged: <@{PAGED}>)" in text
    assert "&lt;@" not in str(blocks)
    note = an_entry(f"<@{PAGED}> please look", "note", paged=PAGED)
    text, _, _ = timeline.timeline_entries([note])
    assert text == f"&lt;@{PAGED}&gt; please look"  # a person's words: never live
