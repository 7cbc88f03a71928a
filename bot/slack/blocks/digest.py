"""Block Kit for the weekly meeting: the digest, and the reminder DMs.

A message holds at most 50 blocks: the digest summarises each part in one section (with
"… and N more"), and shows as many post-mortems to review, each with its buttons and the
meeting's agenda, as fit; the rest are named in one line.

These messages were first written as raw JSON, without the `emoji` flag on plain text;
their buttons and options still leave it out (`emoji=False`) so the payload is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    CheckboxesElement,
    DividerBlock,
    InteractiveElement,
    Option,
    SectionBlock,
)

from bot.domain.digest import (
    BreachFacts,
    Digest,
    IncidentFacts,
    OverdueItem,
    OwedPostmortem,
    PostmortemFacts,
    trend,
)
from bot.domain.incident import reference
from bot.domain.policy import Policy, Prompt
from bot.domain.postmortem import format_duration
from bot.slack import messages
from bot.slack.blocks.common import (
    OPTION_TEXT_MAX,
    Payload,
    SlackBlock,
    actions,
    button,
    context,
    fit,
    header,
    mention,
    option,
    rendered,
    section,
    severity_label,
    slack_date,
    slack_day,
)
from bot.slack.ids import Action, meeting_block_id, review_block_id

MAX_BLOCKS = 50
LIST_LIMIT = 10  # lines per part before "… and N more"
LINES_CHARS = 2600  # the lines of a part, within a section's 3,000 with its heading
TITLE_CHARS = 300  # a title in a digest line (escaped; titles hold 150 characters)
ITEM_CHARS = 300  # an action item's text in a digest line (escaped)

T = TypeVar("T")


def _lines(items: Sequence[T], line: Callable[[T], str], limit: int = LIST_LIMIT) -> str:
    """The first `limit` lines, as many as fit a section under its heading, and how many
    more there are."""
    shown: list[str] = []
    size = 0
    for item in items[:limit]:
        text = f"• {line(item)}"
        size += len(text) + 1
        if size > LINES_CHARS:
            break
        shown.append(text)
    if len(items) > len(shown):
        shown.append(messages.AND_MORE.format(count=len(items) - len(shown)))
    return "\n".join(shown)


def _day(value: date | datetime, zone: ZoneInfo) -> str:
    """A due date, shown by Slack in the reader's format (the day in `zone` for a time)."""
    return slack_day(value, zone)


def _incident(number: int, title: str) -> str:
    return f"*{reference(number)}* {fit(title, TITLE_CHARS)}"


def period_title(digest: Digest, zone: ZoneInfo) -> str:
    """The period reviewed (mrkdwn), each end in the reader's time zone."""
    return f"{slack_date(digest.period_start, zone)} – {slack_date(digest.period_end, zone)}"


def late_note(note: str | None, late_since: datetime | None, zone: ZoneInfo) -> str | None:
    """What a message sent late says under it: when Firewatch was down (a Slack date), or
    the note an older outbox row carries as text."""
    if late_since is None:
        return note
    return messages.POSTED_LATE.format(when=slack_date(late_since, zone))


def agenda_options(agenda: Iterable[Prompt]) -> list[Option]:
    """Checkbox options: Slack shows at most 75 characters of text (and of description),
    so a long question continues in the description."""
    options = []
    for prompt in agenda:
        text, description = prompt.label, ""
        if len(text) > OPTION_TEXT_MAX:
            cut = text.rfind(" ", 0, OPTION_TEXT_MAX - 1)
            cut = cut if cut > 0 else OPTION_TEXT_MAX - 1
            text, description = text[:cut] + " …", text[cut:].strip()
        options.append(option(prompt.key, text, description or None, emoji=False))
    return options


# --- the digest -----------------------------------------------------------------------------


def _declared_section(digest: Digest, policy: Policy) -> SectionBlock:
    lines = []
    for severity, incidents in digest.by_severity.items():
        refs = ", ".join(_incident(i.id, i.title) for i in incidents[:5])
        more = messages.AND_N_MORE.format(count=len(incidents) - 5) if len(incidents) > 5 else ""
        line = f"• *{severity_label(policy, severity)}*: {len(incidents)}"
        lines.append(line + (f" — {refs}{more}" if refs else ""))
    if not lines:
        return section(messages.DIGEST_NO_INCIDENTS)
    heading = messages.DIGEST_INCIDENTS.format(count=digest.incident_count)
    return section(heading + "\n" + "\n".join(lines))


def _versus(now: timedelta | None, before: timedelta | None) -> str:
    change = trend(now, before)
    was = messages.BEFORE.format(duration=format_duration(before))
    return f"{format_duration(now)} ({was}" + (f", {change})" if change else ")")


def _response_section(digest: Digest, policy: Policy) -> SectionBlock:
    rows = [
        f"• *{severity_label(policy, r.severity)}*: "
        f"MTTA {_versus(r.mtta, r.previous_mtta)} · MTTR {_versus(r.mttr, r.previous_mttr)}"
        for r in digest.response_times
    ]
    return section(messages.DIGEST_RESPONSE_TIMES + "\n" + "\n".join(rows))


def _part(heading: str, items: Sequence[T], line: Callable[[T], str]) -> SectionBlock:
    """One part of the digest: its heading with a count, and its first lines."""
    return section(f"*{heading}* ({len(items)})\n" + _lines(items, line))


def _summary_blocks(digest: Digest, policy: Policy, zone: ZoneInfo) -> list[SlackBlock]:
    def breach(b: BreachFacts) -> str:
        return messages.DIGEST_BREACH_LINE.format(
            incident=_incident(b.incident_id, b.incident_title),
            severity=severity_label(policy, b.severity),
            deadline=slack_date(b.deadline, zone),
        )

    def reported(i: IncidentFacts) -> str:
        return messages.DIGEST_REPORTED_BY.format(
            incident=_incident(i.id, i.title), user=i.reporter_id
        )

    out: list[SlackBlock] = [_declared_section(digest, policy)]
    if digest.response_times:
        out.append(_response_section(digest, policy))
    if digest.breaches:
        out.append(_part(messages.DIGEST_BREACHES, digest.breaches, breach))
    if digest.owed:
        out.append(_part(messages.DIGEST_OWED, digest.owed, lambda o: _owed_line(o, zone)))
    if digest.overdue_items:
        overdue = digest.overdue_items
        out.append(_part(messages.DIGEST_OVERDUE, overdue, lambda o: _overdue_line(o, zone)))
    if digest.non_incidents:
        out.append(_part(messages.DIGEST_NON_INCIDENTS, digest.non_incidents, reported))
    return out


def _owed_line(owed: OwedPostmortem, zone: ZoneInfo) -> str:
    who = mention(owed.owner_id, messages.NOBODY)
    base = f"{_incident(owed.incident_id, owed.incident_title)} — {who}"
    if owed.postmortem_id is None:
        return f"{base}, {messages.NOT_REQUESTED_YET}"
    status = (owed.status or "").replace("_", " ")
    due = messages.DUE_ON.format(day=_day(owed.due_at, zone)) if owed.due_at else ""
    return f"{base}, {status}{due}" + (messages.OVERDUE_MARK if owed.overdue else "")


def _overdue_line(overdue: OverdueItem, zone: ZoneInfo) -> str:
    item = overdue.item
    days = overdue.days_overdue
    return messages.OVERDUE_ITEM_LINE.format(
        ref=reference(item.incident_id),
        text=fit(item.text, ITEM_CHARS),
        owner=item.owner_id,
        day=_day(item.due_on, zone),
        days=(messages.ONE_DAY if days == 1 else messages.DAYS).format(count=days),
    )


def _review_blocks(
    pm: PostmortemFacts,
    policy: Policy,
    *,
    meeting: str | None,
    answers: dict[str, bool],
    zone: ZoneInfo,
) -> list[SlackBlock]:
    when = slack_date(pm.submitted_at, zone)
    submitted = (
        messages.SUBMITTED_BY.format(user=pm.submitted_by, when=when)
        if pm.submitted_by and pm.submitted_at
        else ""
    )
    value = str(pm.id)
    elements: list[InteractiveElement] = [
        button("Approve", Action.POSTMORTEM_APPROVE, value, style="primary", emoji=False),
        button("Request changes", Action.POSTMORTEM_CHANGES, value, emoji=False),
    ]
    agenda = policy.postmortem.meeting_agenda
    if meeting is not None and agenda:
        options = agenda_options(agenda)
        ticked = [o for o in options if answers.get(str(o.value))] or None
        elements.append(
            CheckboxesElement(
                action_id=Action.MEETING_AGENDA, options=options, initial_options=ticked
            )
        )
    block_id = meeting_block_id(meeting, pm.id) if meeting else review_block_id(pm.id)
    label = severity_label(policy, pm.severity)
    return [
        section(f"{_incident(pm.incident_id, pm.incident_title)} ({label}){submitted}"),
        actions(*elements, block_id=block_id),
    ]


def _heading(digest: Digest, zone: ZoneInfo, note: str | None, preview: bool) -> list[SlackBlock]:
    """The title, and a line under it: the period, a note, and whether it is a preview."""
    title = messages.DIGEST_TITLE + (messages.DIGEST_PREVIEW if preview else "")
    under = (
        period_title(digest, zone)
        + (f" · :warning: {note}" if note else "")
        + (messages.DIGEST_PREVIEW_NOTE if preview else "")
    )
    return [header(title), context(under)]


def _to_review(
    digest: Digest,
    policy: Policy,
    room: int,
    meeting: str | None,
    answers: dict[int, dict[str, bool]],
    zone: ZoneInfo,
) -> list[SlackBlock]:
    """The post-mortems to review: a heading, then two blocks each while `room` lasts."""
    approver = _approver(policy)
    heading = (
        messages.TO_REVIEW.format(count=len(digest.to_review))
        + (messages.APPROVAL_BY.format(role=approver) if approver else "")
        + (messages.AGENDA_HOWTO if meeting and policy.postmortem.meeting_agenda else "")
    )
    out: list[SlackBlock] = [section(heading)]
    room -= 2  # the heading, and one left for "… and N more"
    shown = 0
    for pm in digest.to_review:
        if room < 2:
            break
        out += _review_blocks(
            pm, policy, meeting=meeting, answers=answers.get(pm.id, {}), zone=zone
        )
        room -= 2
        shown += 1
    rest = digest.to_review[shown:]
    if rest:
        refs = ", ".join(reference(pm.incident_id) for pm in rest[:40])
        out.append(context(messages.MORE_TO_REVIEW.format(count=len(rest), refs=refs)))
    return out


def digest_message(
    digest: Digest,
    policy: Policy,
    *,
    zone: ZoneInfo,
    meeting: str | None = None,
    note: str | None = None,
    answers: dict[int, dict[str, bool]] | None = None,
    preview: bool = False,
) -> tuple[str, list[Payload]]:
    """The digest (fallback text, blocks). With a `meeting`, each post-mortem to review
    carries the agenda's checkboxes, ticked as already answered."""
    text = messages.DIGEST_TEXT.format(
        title=messages.DIGEST_TITLE + (messages.DIGEST_PREVIEW if preview else ""),
        incidents=digest.incident_count,
        postmortems=len(digest.to_review),
    )
    blocks = _heading(digest, zone, note, preview)
    if digest.is_quiet:
        return text, rendered([*blocks, section(messages.DIGEST_QUIET)])
    blocks += _summary_blocks(digest, policy, zone)
    blocks.append(DividerBlock())
    if not digest.to_review:
        return text, rendered([*blocks, section(messages.NOTHING_TO_REVIEW)])
    room = MAX_BLOCKS - len(blocks)
    blocks += _to_review(digest, policy, room, meeting, answers or {}, zone)
    return text, rendered(blocks)


def _approver(policy: Policy) -> str | None:
    task = policy.raci.get("approve_postmortem")
    if task is None:
        return None
    role = policy.roles.get(task.accountable)
    return role.title if role else task.accountable


# --- reminders --------------------------------------------------------------------------------


def postmortem_reminder(
    owed: Sequence[OwedPostmortem], *, meeting_at: datetime | None, zone: ZoneInfo, note: str | None
) -> tuple[str, list[Payload]]:
    when = messages.ON_DATE.format(date=slack_date(meeting_at, zone)) if meeting_at else ""
    text = messages.POSTMORTEM_REMINDER_TEXT.format(count=len(owed))
    blocks: list[SlackBlock] = [
        section(messages.POSTMORTEM_REMINDER.format(when=when)),
        section(_lines(owed, lambda o: _owed_line(o, zone), 40)),
    ]
    if note:
        blocks.append(context(f":warning: {note}"))
    return text, rendered(blocks)


def followup_reminder(
    items: Sequence[OverdueItem], *, zone: ZoneInfo, note: str | None
) -> tuple[str, list[Payload]]:
    text = messages.FOLLOWUP_REMINDER_TEXT.format(count=len(items))
    blocks: list[SlackBlock] = [section(messages.FOLLOWUP_REMINDER)]
    room = MAX_BLOCKS - 3
    for overdue in items[:room]:
        done = button("Done", Action.FOLLOWUP_DONE, str(overdue.item.id), emoji=False)
        blocks.append(section(_overdue_line(overdue, zone), accessory=done))
    if len(items) > room:
        blocks.append(context(messages.MORE_OVERDUE.format(count=len(items) - room)))
    if note:
        blocks.append(context(f":warning: {note}"))
    return text, rendered(blocks)
