"""Issue 19, item 4: whatever people wrote, up to the longest Slack lets them write, every
builder in bot/slack/blocks/ makes something Slack accepts (the emulator's Block Kit
limits, plus a message's `text`), escaping is never cut in the middle of an entity or of
Firewatch's own `<…>` markup, and a person's text that had to be cut says so and where to
read all of it.

Builders are discovered: every public function of bot/slack/blocks/* whose result holds a
payload (blocks or a view). One that this file does not call fails the coverage test.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

import bot.slack.blocks
import bot.slack.blocks.home
from bot.domain import digest as facts
from bot.domain.alert_pages import AlertPage, AlertPageStatus
from bot.domain.alerts import FIRING, AlertGroup, AlertStorm, IncomingAlert, Silence, StoredAlert
from bot.domain.checklist import Failure, Verdict
from bot.domain.home import HomeIncident, HomeItem, HomePage, HomePostmortem, HomeSnapshot
from bot.domain.paging import Roster, RosterLine
from bot.domain.policy import Policy, RoleHolder
from bot.domain.status_page import Component, ComponentState, Maintenance, status_document
from bot.emulator.block_limits import check_message_blocks, check_view
from bot.services.alert_actions import Declaration, LinkedAlerts
from bot.services.alert_cards import CARD_ALERTS, AlertCard, declaration_report
from bot.services.alert_paging import DM_ALERTS, AlertPageView
from bot.services.home import HomeView, RoleNow
from bot.services.timeline import NOTE_MAX
from bot.slack.blocks import (
    alert_forms,
    alert_pages,
    alerts,
    declare,
    digest,
    incident,
    live_channel,
    paging,
    picker,
    postmortems,
    status_page,
    timeline,
)
from bot.slack.blocks.common import clip_markup, escape, fit, pieces
from tests.slack.test_escaping_property import (
    AT,
    FACTS,
    OWNER,
    POLICY,
    REPORTER,
    ZONE,
    a_change,
    a_digest,
    a_page,
    a_postmortem,
    an_entry,
    an_incident,
)

TITLE_MAX = 150  # the declare form's title (and every short field: summaries, labels)
MESSAGE_TEXT_MAX = 40_000  # chat.postMessage keeps a message's `text` to this
UPDATED_TEXT_MAX = 4_000  # chat.update answers msg_too_long past this
POSTED_ONLY = {"timeline.timeline_entries"}  # the echo is posted, never updated


def repeated(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# The largest inputs, in the ways text grows or surprises: every character escaped to
# five, a non-Latin script, a pasted log of short lines, and people's markup.
KINDS = {
    "entities": "&<>",
    "cjk": "障害対応の記録。データベースが応答しない",
    "log": "2026-12-06T04:00:01Z ERROR checkout-api upstream timed out (502)\n",
    "markup": "<!channel> & <@U0EVIL|x> <https://evil.example|a> ",
}


@dataclasses.dataclass(frozen=True)
class Words:
    long: str  # notes, updates, captured messages, page messages: NOTE_MAX
    short: str  # titles, summaries: TITLE_MAX


WORDS = {name: Words(repeated(u, NOTE_MAX), repeated(u, TITLE_MAX)) for name, u in KINDS.items()}

Built = tuple[str | None, Any]
LATE = "Sent late: Firewatch was down at 09:00"  # Firewatch's own note, not a person's


def many_digest(w: Words) -> facts.Digest:
    """A digest of a busy week: sixty of everything, every person's text at its longest."""
    base = a_digest(w.long)
    declared = [
        facts.IncidentFacts(n, "incident", "sev1", w.short, "resolved", REPORTER, AT)
        for n in range(60)
    ]
    item = facts.ActionItemFacts(5, 7, w.long, OWNER, date(2026, 11, 20))
    return dataclasses.replace(
        base,
        by_severity={"sev1": declared, "sev2": declared},
        to_review=base.to_review * 60,
        owed=[dataclasses.replace(base.owed[0], incident_title=w.short)] * 60,
        non_incidents=declared,
        breaches=[dataclasses.replace(base.breaches[0], incident_title=w.short)] * 60,
        overdue_items=[facts.OverdueItem(item, 5)] * 60,
    )


def a_roster(w: Words) -> Roster:
    people = tuple(f"U0P{n:04d}" for n in range(40))
    lines = tuple(
        RosterLine(
            f"role{n}",
            w.short,
            people,
            RoleHolder(role=f"role{n}", person=people[0], via="primary"),
        )
        for n in range(12)
    )
    return Roster(lines, dict.fromkeys(people, AT))


def in_a_menu(options: list[dict[str, Any]]) -> dict[str, Any]:
    """Options as a select menu holds them (Slack's limits for an options load are those
    of a menu's options: 100, each text 75 characters, value 150)."""
    menu = {"type": "static_select", "action_id": "a", "options": options}
    label = {"type": "plain_text", "text": "Incident"}
    block = {"type": "input", "block_id": "b", "label": label, "element": menu}
    return {"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": [block]}


def a_home(w: Words) -> HomeView:
    """A Home at its fullest: 500 open incidents, sixty of each thing that is the viewer's."""
    incident = HomeIncident(7, w.short, "sev1", "investigating", "C0INC", AT, AT)
    page = HomePage(3, 7, w.short, "ic", AT, AT + timedelta(minutes=5))
    owed = HomePostmortem(7, w.short, "draft", AT + timedelta(days=5))
    item = HomeItem(5, 7, w.long, date(2026, 11, 20))
    assigned = {n: ["ic", "comms"] for n in range(20)}
    snapshot = HomeSnapshot(
        [incident] * 500, 500, [page] * 60, [owed] * 60, [item] * 60, 60, assigned=assigned
    )
    roles = [RoleNow(f"role{n}", w.short, OWNER) for n in range(12)]
    return HomeView(OWNER, AT + timedelta(hours=2), snapshot, roles, AT + timedelta(days=1))


def builders(w: Words) -> dict[str, Callable[[], Built]]:
    """Every builder, called with the longest text a person can get into each field."""
    inc = dataclasses.replace(an_incident(w.long), title=w.short)
    page, pm = a_page(w.long), a_postmortem(w.long)
    change = dataclasses.replace(a_change(w.long), summary=repeated(w.short, 200))
    note = an_entry(w.long, "note", 9)
    entries = [an_entry(w.long, kind, n) for n, kind in enumerate(["note", "captured"] * 8, 1)]
    d = many_digest(w)
    followup = {"id": 5, "incident": "INC-7", "text": w.long, "owner": OWNER}
    failure = Failure(key="k", number="1", label=w.short, reason=w.short, missing=())
    verdict = Verdict(qualifies=False, results={}, failures=tuple([failure] * 30))
    return {
        "incident.announcement": lambda: incident.announcement(inc, POLICY),
        "incident.incident_report": lambda: incident.incident_report(
            inc, POLICY, note=w.short, alerts=LinkedAlerts([an_alert_group(w)] * 3, 9000)
        ),
        "incident.incident_list": lambda: (None, incident.incident_list([inc] * 200, POLICY, AT)),
        "incident.raci_chart": lambda: (None, incident.raci_chart(POLICY)),
        "paging.page_dm": lambda: paging.page_dm(page, inc, POLICY),
        "paging.page_post": lambda: paging.page_post(page, inc, POLICY),
        "paging.unanswered": lambda: paging.unanswered(inc, POLICY, "ic"),
        "paging.breach": lambda: paging.breach(inc, POLICY),
        "paging.roster": lambda: (None, paging.roster(a_roster(w), assignments={"role1": OWNER})),
        "timeline.status_update": lambda: timeline.status_update(inc, an_entry(w.long, "status")),
        "timeline.change_message": lambda: timeline.change_message(change, inc, POLICY),
        "timeline.timeline_entries": lambda: timeline.timeline_entries(entries)[:2],
        "timeline.timeline_page": lambda: (
            None,
            timeline.timeline_page(inc, entries[:15], offset=15, total=100),
        ),
        "timeline.timeline_entry": lambda: (None, timeline.timeline_entry(inc, note)),
        "timeline.status_modal": lambda: (None, timeline.status_modal(inc)),
        "timeline.change_modal": lambda: (None, timeline.change_modal(inc, POLICY)),
        "timeline.capture_modal": lambda: (
            None,
            timeline.capture_modal([inc] * 150, w.short, "shortcut:1"),
        ),
        "declare.severity_modal": lambda: (None, declare.severity_modal(inc, POLICY)),
        "picker.picker_modal": lambda: (None, picker.picker_modal("note", w.long, "picker:k")),
        "picker.incident_options": lambda: (None, in_a_menu(picker.incident_options([inc] * 150))),
        "picker.result_modal": lambda: (
            None,
            picker.result_modal(
                fit(w.long, 3000), timeline.timeline_page(inc, entries, offset=0, total=16)
            ),
        ),
        "declare.declare_modal": lambda: (None, declare.declare_modal(POLICY, title=w.short)),
        "declare.not_an_incident_modal": lambda: (
            None,
            declare.not_an_incident_modal(verdict, allow_anyway=True, draft=w.short),
        ),
        "declare.checklist_modal": lambda: (None, declare.checklist_modal(POLICY)),
        "declare.checklist_verdict_modal": lambda: (
            None,
            declare.checklist_verdict_modal(verdict),
        ),
        "postmortems.resolve_modal": lambda: (None, postmortems.resolve_modal(inc)),
        "postmortems.postmortem_modal": lambda: (
            None,
            postmortems.postmortem_modal(inc, pm, FACTS, POLICY, date(2026, 11, 25)),
        ),
        "postmortems.request_message": lambda: postmortems.request_message(inc, pm),
        "postmortems.changes_requested": lambda: postmortems.changes_requested(inc, pm),
        "postmortems.review_message": lambda: postmortems.review_message(inc, pm, POLICY),
        "postmortems.final_report": lambda: postmortems.final_report(inc, pm, FACTS, POLICY),
        "postmortems.followups_list": lambda: (
            None,
            postmortems.followups_list(
                [{**followup, "due_on": "2026-12-01", "overdue": True}] * 60
            ),
        ),
        "digest.digest_message": lambda: digest.digest_message(d, POLICY, zone=ZONE, meeting="m"),
        "digest.postmortem_reminder": lambda: digest.postmortem_reminder(
            d.owed, meeting_at=AT, zone=ZONE, note=LATE
        ),
        "digest.followup_reminder": lambda: digest.followup_reminder(
            d.overdue_items, zone=ZONE, note=LATE
        ),
        "home.home_view": lambda: (None, bot.slack.blocks.home.home_view(a_home(w), POLICY)),
        "live_channel.archive_notice": lambda: live_channel.archive_notice(3650),
        "alerts.alert_card": lambda: alerts.alert_card(an_alert_card(w, inc), POLICY),
        "alerts.storm_card": lambda: alerts.storm_card(a_storm(w), POLICY),
        "alert_pages.alert_page_dm": lambda: alert_pages.alert_page_dm(
            an_alert_page_view(w, inc), POLICY
        ),
        "alert_forms.declare_from_alert": lambda: (
            None,
            alert_forms.declare_from_alert(POLICY, a_declaration(w)),
        ),
        "alert_forms.not_an_incident_from_alert": lambda: (
            None,
            alert_forms.not_an_incident_from_alert(
                verdict, allow_anyway=True, draft=w.short, group_id=1
            ),
        ),
        "alert_forms.link_modal": lambda: (None, alert_forms.link_modal(an_alert_group(w), inc)),
        "alert_forms.silence_modal": lambda: (
            None,
            alert_forms.silence_modal(an_alert_group(w), (1, 4, 24, 168)),
        ),
        **status_page_builders(w, inc),
    }


def a_components_policy(w: Words) -> Policy:
    """The policy at its largest for the status page: more components than a menu holds,
    each name and group as long as the policy allows."""
    components = tuple(
        Component(key=f"c{n}", name=w.short[:100], group=f"{n % 3} {w.short}"[:100])
        for n in range(150)
    )
    return POLICY.model_copy(update={"components": components})


def status_page_builders(w: Words, inc: Any) -> dict[str, Callable[[], Built]]:
    policy = a_components_policy(w)
    effects = {c.key: ComponentState.MAJOR_OUTAGE for c in policy.components}
    maintenance = Maintenance("7", w.short[:200], list(effects), AT, AT + timedelta(hours=1))
    document = status_document(policy.components, [], [maintenance] * 60, effects, AT)
    keys = list(effects)
    return {
        "timeline.status_modal (components)": lambda: (
            None,
            timeline.status_modal(inc, policy=policy, effects=effects),
        ),
        "declare.declare_modal (components)": lambda: (None, declare.declare_modal(policy)),
        "status_page.maintenance_modal": lambda: (
            None,
            status_page.maintenance_modal(policy, AT),
        ),
        "status_page.components_answer": lambda: status_page.components_answer(document),
        "status_page.maintenance_answer": lambda: status_page.maintenance_answer(
            [maintenance] * 60, policy, AT, ZONE
        ),
        "status_page.maintenance_scheduled_modal": lambda: (
            None,
            status_page.maintenance_scheduled_modal(
                7, w.short[:200], keys, AT, AT + timedelta(hours=1), policy=policy
            ),
        ),
    }


def a_declaration(w: Words) -> Declaration:
    """The declare form's prefill from the longest alert a monitor can send."""
    group = an_alert_group(w)
    alert = IncomingAlert(
        source="alertmanager",
        fingerprint="f" * 64,
        status=FIRING,
        starts_at=AT,
        ends_at=None,
        labels={"alertname": w.long[:8192], "service": w.long[:8192]},
        annotations={"summary": w.long[:8192], "description": w.long[:8192]},
        links={"generator": "https://prometheus.example/graph?g0.expr=" + "x" * 2900},
    )
    return Declaration(group, declaration_report(POLICY, group, alert, "sev1"), "alert:1")


def an_alert_group(w: Words, n: int = 1) -> AlertGroup:
    """A group whose every text is as long as a monitor can make it (the payload parser
    bounds values at 8 KiB; titles are stored whole)."""
    labels = {f"label{i}": w.long[:8192] for i in range(20)}
    labels.update(dict.fromkeys(POLICY.alerts.card_labels, w.long[:8192]))
    return AlertGroup(
        id=n,
        source="alertmanager",
        group_key=w.long,
        channel="#alerts",
        status=FIRING,
        title=w.long,
        severity="sev1",
        labels=labels,
        firing=5000,
        total=9000,
        first_seen_at=AT,
        last_seen_at=AT,
        resent_at=AT,
        storm_id=None,
        card_channel_id="C0ALERTS",
        card_ts="1.2",
        incident_id=None,
        acknowledged_by=OWNER,
        acknowledged_at=AT,
        resolved_at=None,
    )


def an_alert_card(w: Words, inc: Any) -> AlertCard:
    alert = StoredAlert(
        id=1,
        group_id=1,
        source="alertmanager",
        fingerprint="f" * 64,
        status=FIRING,
        starts_at=AT,
        ends_at=None,
        labels={"alertname": w.long[:8192], "instance": w.long[:8192]},
        annotations={"summary": w.long[:8192], "description": w.long[:8192]},
        links={
            "generator": "https://prometheus.example/graph?g0.expr=" + "x" * 2900,
            "dashboard": "https://grafana.example/d/" + "y" * 5000,  # too long: left out
            "runbook": "javascript:alert(1)",  # not http(s): left out
            "panel": "https://grafana.example/d/p",
            "silence": "https://grafana.example/s",
            "url": "https://example.com/more",
        },
        values={},
        last_seen_at=AT,
        received=3,
    )
    silence = Silence("alertmanager", "f" * 64, AT, OWNER, w.long[:2000], AT)
    return AlertCard(an_alert_group(w), [alert] * CARD_ALERTS, inc, [silence] * 5)


def an_alert_page_view(w: Words, inc: Any) -> AlertPageView:
    """A page DM, waiting (so it has its button), for the longest group there can be."""
    card = an_alert_card(w, inc)
    group = dataclasses.replace(card.group, acknowledged_by=None, acknowledged_at=None)
    page = AlertPage(
        id=1,
        group_id=group.id,
        chain="om",
        step=0,
        role="om",
        person=OWNER,
        via="primary",
        status=AlertPageStatus.WAITING,
        paged_at=AT,
        ack_deadline=AT + timedelta(minutes=30),
    )
    return AlertPageView(page, group, card.alerts[:DM_ALERTS])


def a_storm(w: Words) -> AlertStorm:
    groups = [an_alert_group(w, n) for n in range(15)]
    return AlertStorm(1, "#alerts", AT, AT, "C0ALERTS", "1.3", groups, 99999, 99999, 99999, 9)


def discovered() -> set[str]:
    """Every public function in bot/slack/blocks/ (but the primitives in common.py) that
    returns blocks or a view."""
    found = set()
    for module_info in pkgutil.iter_modules(bot.slack.blocks.__path__):
        if module_info.name == "common":
            continue
        module = importlib.import_module(f"bot.slack.blocks.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            returns = str(inspect.signature(function).return_annotation)
            if function.__module__ == module.__name__ and not name.startswith("_"):
                if "Payload" in returns:
                    found.add(f"{module_info.name}.{name}")
    return found


def test_every_builder_is_called_here() -> None:
    missing = discovered() - set(builders(WORDS["log"]))
    assert not missing, f"builders not covered by the limits test: {sorted(missing)}"


# --- what Slack sees ------------------------------------------------------------------------

ENTITY = re.compile(r"&(amp|lt|gt);")
OWN_MARKUP = re.compile(r"<[^<>]*>")
QUOTE = re.compile(r"^> ", re.MULTILINE)  # Firewatch's own block quotes


def texts_of(payload: Any, kind: str) -> Iterator[str]:
    """Every text object of `kind` (mrkdwn or plain_text) in Block Kit JSON."""
    if isinstance(payload, dict):
        if payload.get("type") == kind and isinstance(payload.get("text"), str):
            yield payload["text"]
        for value in payload.values():
            yield from texts_of(value, kind)
    elif isinstance(payload, list):
        for value in payload:
            yield from texts_of(value, kind)


def assert_whole_markup(text: str, where: str) -> None:
    """No entity cut short (`&am`), no `<…>` of Firewatch's own cut open."""
    assert "&" not in ENTITY.sub("", text), f"{where}: an entity cut short: {text[-80:]!r}"
    rest = QUOTE.sub("", OWN_MARKUP.sub("", text))
    assert "<" not in rest, f"{where}: markup cut open: {text[-80:]!r}"
    assert ">" not in rest, f"{where}: markup cut open: {text[-80:]!r}"


def assert_slack_accepts(name: str, text: str | None, payload: Any) -> None:
    if isinstance(payload, dict) and payload.get("type") in ("modal", "home"):
        check_view(payload)
    else:
        check_message_blocks(payload)
    if text is not None:
        most = MESSAGE_TEXT_MAX if name in POSTED_ONLY | {"echo"} else UPDATED_TEXT_MAX
        assert len(text) <= most, f"{name}: text of {len(text)}"
        assert_whole_markup(text, f"{name} text")
    for markup in texts_of(payload, "mrkdwn"):
        assert 0 < len(markup) <= 3000, f"{name}: mrkdwn of {len(markup)}"  # context too
        assert_whole_markup(markup, name)
    for shown in texts_of(payload, "plain_text"):
        assert 0 < len(shown) <= 3000, f"{name}: plain_text of {len(shown)}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_builder_fits_slacks_limits_with_the_longest_text(kind: str) -> None:
    for name, build in builders(WORDS[kind]).items():
        text, payload = build()
        assert_slack_accepts(name, text, payload)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_echo_of_many_long_entries_goes_out_in_messages_slack_accepts(kind: str) -> None:
    entries = [an_entry(WORDS[kind].long, "note", n) for n in range(1, 121)]
    sent = 0
    while entries:
        text, blocks, shown = timeline.timeline_entries(entries)
        assert_slack_accepts("echo", text, blocks)
        assert shown >= 1
        entries, sent = entries[shown:], sent + shown
    assert sent == 120


def test_a_long_note_is_cut_with_the_way_to_read_it_and_shown_whole_on_request() -> None:
    note = an_entry(WORDS["log"].long, "note", 9)
    _, blocks, _ = timeline.timeline_entries([note])
    assert "/incident timeline INC-7 #9` shows all of it" in blocks[0]["text"]["text"]
    page = timeline.timeline_page(an_incident("x"), [note], offset=0, total=1)
    assert "/incident timeline INC-7 #9` shows all of it" in page[0]["text"]["text"]
    whole = timeline.timeline_entry(an_incident("x"), note)
    shown = "".join(b["text"]["text"] for b in whole[1:])
    assert shown == note.text  # plain text: as written, nothing escaped, nothing lost
    assert "40,000 characters" in whole[0]["text"]["text"]


def test_long_report_fields_are_shown_whole_across_sections() -> None:
    evidence = repeated(KINDS["log"], 3000)  # the declare form's most
    report = dataclasses.replace(an_incident("x"), evidence=evidence, nature="a & b")
    _, blocks = incident.incident_report(report, POLICY)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert "a &amp; b" in "\n".join(sections)
    start = next(i for i, s in enumerate(sections) if s.startswith("*Evidence*"))
    assert "".join(sections[start:])[len("*Evidence*\n") :].startswith(escape(evidence))


# --- the primitives -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("limit", [20, 600, 2999])
def test_fit_cuts_the_raw_text_never_an_entity(kind: str, limit: int) -> None:
    raw = WORDS[kind].long
    cut = fit(raw, limit, "… (more)")
    assert len(cut) <= limit
    assert cut.endswith("… (more)")
    body = cut.removesuffix("… (more)")
    assert_whole_markup(body, "fit")
    assert escape(raw).startswith(body)
    assert fit("a & b", 9) == "a &amp; b"  # what fits is left alone


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_pieces_hold_the_whole_text_escaped(kind: str) -> None:
    raw = WORDS[kind].long
    parts = pieces(raw, 2900)
    assert "".join(parts) == escape(raw)
    assert all(0 < len(p) <= 2900 for p in parts)
    for part in parts:
        assert_whole_markup(part, "pieces")
    if kind == "log":  # cut at line ends when there are some
        assert all(p.endswith("\n") for p in parts[:-1])


def test_the_last_guard_never_cuts_an_entity_or_a_mention_open() -> None:
    assert clip_markup("ab &amp; cd", 6) == "ab …"
    assert clip_markup("see <@U0REP> now", 8) == "see …"
    assert clip_markup("x" * 10, 10) == "x" * 10
    assert clip_markup(("line\n" * 10), 24) == "line\nline\nline\nline…"


def test_a_busy_weeks_digest_says_how_many_more_instead_of_overflowing() -> None:
    _, blocks = digest.digest_message(many_digest(WORDS["markup"]), POLICY, zone=ZONE)
    shown = "\n".join(texts_of(blocks, "mrkdwn"))
    assert len(re.findall(r"… and \d+ more", shown)) >= 4, shown


def test_the_home_counts_every_page_and_postmortem_owed_not_only_those_read() -> None:
    """The read takes the most urgent few; "…and N more" says how many there are in all."""
    view = a_home(Words(long="Checkout", short="Checkout"))
    snapshot = dataclasses.replace(
        view.snapshot, pages=view.snapshot.pages[:20], pages_total=45,
        postmortems=view.snapshot.postmortems[:20], postmortems_total=31,
    )  # fmt: skip
    shown = str(
        bot.slack.blocks.home.home_view(dataclasses.replace(view, snapshot=snapshot), POLICY)
    )
    assert "…and 35 more" in shown  # 45 pages, 10 shown
    assert "…and 21 more" in shown  # 31 post-mortems, 10 shown
