"""Block Kit for the weekly meeting: the digest, and the reminder DMs.

A message holds at most 50 blocks: the digest summarises each part in one section (with
"… and N more"), and shows as many post-mortems to review, each with its buttons and the
meeting's agenda, as fit; the rest are named in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.domain.digest import Digest, OverdueItem, OwedPostmortem, PostmortemFacts, trend
from bot.domain.incident import reference
from bot.domain.policy import Policy, Prompt
from bot.domain.postmortem import format_duration
from bot.slack.blocks.incident import slack_date
from bot.slack.ids import Action

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
OPTION_LIMIT = 75
LIST_LIMIT = 10  # lines per part before "… and N more"
MEETING_BLOCK = "fw_meeting"  # block_id: fw_meeting|<meeting>|<post-mortem id>
REVIEW_BLOCK = "fw_review"  # block_id in a preview: fw_review|<post-mortem id>

T = TypeVar("T")
Block = dict[str, Any]


def meeting_block_id(meeting: str, postmortem_id: int) -> str:
    return f"{MEETING_BLOCK}|{meeting}|{postmortem_id}"


def parse_meeting_block_id(block_id: str) -> tuple[str, int] | None:
    prefix, _, rest = block_id.partition("|")
    meeting, _, raw_id = rest.rpartition("|")
    if prefix != MEETING_BLOCK or not meeting or not raw_id.isdigit():
        return None
    return meeting, int(raw_id)


def _section(text: str) -> Block:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _plain(text: str, limit: int = OPTION_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _lines(items: Sequence[T], line: Callable[[T], str], limit: int = LIST_LIMIT) -> str:
    shown = [f"• {line(item)}" for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"… and {len(items) - limit} more")
    return "\n".join(shown)


def _day(value: date | datetime, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(zone).date()
    return f"{value:%a} {value.day} {value:%b}"


def _label(policy: Policy, severity: str) -> str:
    found = policy.severities.get(severity)
    return found.label if found else severity


def _incident(number: int, title: str) -> str:
    return f"*{reference(number)}* {title}"


def _who(user: str | None) -> str:
    return f"<@{user}>" if user else "nobody"


def period_title(digest: Digest, zone: ZoneInfo) -> str:
    start = digest.period_start.astimezone(zone)
    end = digest.period_end.astimezone(zone)
    return f"{start:%a} {start.day} {start:%b %H:%M} – {end:%a} {end.day} {end:%b %H:%M %Y}"


def agenda_options(agenda: Iterable[Prompt]) -> list[dict[str, Any]]:
    """Checkbox options: Slack shows at most 75 characters of text (and of description),
    so a long question continues in the description."""
    options = []
    for prompt in agenda:
        text, description = prompt.label, ""
        if len(text) > OPTION_LIMIT:
            cut = text.rfind(" ", 0, OPTION_LIMIT - 1)
            cut = cut if cut > 0 else OPTION_LIMIT - 1
            text, description = text[:cut] + " …", text[cut:].strip()
        option: dict[str, Any] = {"text": _plain(text), "value": prompt.key}
        if description:
            option["description"] = _plain(description)
        options.append(option)
    return options


# --- the digest -----------------------------------------------------------------------------


def _summary_blocks(digest: Digest, policy: Policy, zone: ZoneInfo) -> list[Block]:
    out: list[Block] = []
    sev_lines = []
    for severity, incidents in digest.by_severity.items():
        refs = ", ".join(_incident(i.id, i.title) for i in incidents[:5])
        more = f", … {len(incidents) - 5} more" if len(incidents) > 5 else ""
        count = len(incidents)
        sev_lines.append(
            f"• *{_label(policy, severity)}*: {count}" + (f" — {refs}{more}" if refs else "")
        )
    out.append(
        _section(
            f"*Incidents declared* ({digest.incident_count})\n" + "\n".join(sev_lines)
            if sev_lines
            else "*Incidents declared*: none"
        )
    )
    if digest.response_times:
        rows = []
        for r in digest.response_times:
            ack_trend = trend(r.mtta, r.previous_mtta)
            fix_trend = trend(r.mttr, r.previous_mttr)
            rows.append(
                f"• *{_label(policy, r.severity)}*: "
                f"MTTA {_versus(r.mtta, r.previous_mtta, ack_trend)} · "
                f"MTTR {_versus(r.mttr, r.previous_mttr, fix_trend)}"
            )
        out.append(_section("*Response times* against the previous period\n" + "\n".join(rows)))
    if digest.breaches:
        out.append(
            _section(
                f"*Response-time breaches* ({len(digest.breaches)})\n"
                + _lines(
                    digest.breaches,
                    lambda b: (
                        f"{_incident(b.incident_id, b.incident_title)} "
                        f"({_label(policy, b.severity)}) — no acknowledgement by "
                        f"{slack_date(b.deadline)}"
                    ),
                )
            )
        )
    if digest.owed:
        out.append(
            _section(
                f"*Post-mortems not submitted* ({len(digest.owed)})\n"
                + _lines(digest.owed, lambda o: _owed_line(o, zone))
            )
        )
    if digest.overdue_items:
        out.append(
            _section(
                f"*Overdue action items* ({len(digest.overdue_items)})\n"
                + _lines(digest.overdue_items, lambda o: _overdue_line(o, zone))
            )
        )
    if digest.non_incidents:
        out.append(
            _section(
                f"*Non-incident reports* ({len(digest.non_incidents)})\n"
                + _lines(
                    digest.non_incidents,
                    lambda i: f"{_incident(i.id, i.title)} — by <@{i.reporter_id}>",
                )
            )
        )
    return out


def _versus(now: timedelta | None, before: timedelta | None, change: str) -> str:
    return f"{format_duration(now)} (before {format_duration(before)}" + (
        f", {change})" if change else ")"
    )


def _owed_line(owed: OwedPostmortem, zone: ZoneInfo) -> str:
    base = f"{_incident(owed.incident_id, owed.incident_title)} — {_who(owed.owner_id)}"
    if owed.postmortem_id is None:
        return f"{base}, not requested yet"
    status = (owed.status or "").replace("_", " ")
    due = f", due {_day(owed.due_at, zone)}" if owed.due_at else ""
    return f"{base}, {status}{due}" + (" — *overdue*" if owed.overdue else "")


def _overdue_line(overdue: OverdueItem, zone: ZoneInfo) -> str:
    item = overdue.item
    days = f"{overdue.days_overdue} day{'s' if overdue.days_overdue != 1 else ''}"
    return (
        f"*{reference(item.incident_id)}* {item.text} — <@{item.owner_id}>, "
        f"due {_day(item.due_on, zone)} ({days} late)"
    )


def _review_blocks(
    pm: PostmortemFacts,
    policy: Policy,
    *,
    meeting: str | None,
    answers: dict[str, bool],
) -> list[Block]:
    submitted = (
        f" — submitted by <@{pm.submitted_by}> {slack_date(pm.submitted_at)}"
        if pm.submitted_by and pm.submitted_at
        else ""
    )
    elements: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": Action.POSTMORTEM_APPROVE,
            "text": _plain("Approve"),
            "style": "primary",
            "value": str(pm.id),
        },
        {
            "type": "button",
            "action_id": Action.POSTMORTEM_CHANGES,
            "text": _plain("Request changes"),
            "value": str(pm.id),
        },
    ]
    agenda = policy.postmortem.meeting_agenda
    if meeting is not None and agenda:
        options = agenda_options(agenda)
        checkboxes: dict[str, Any] = {
            "type": "checkboxes",
            "action_id": Action.MEETING_AGENDA,
            "options": options,
        }
        ticked = [o for o in options if answers.get(o["value"])]
        if ticked:
            checkboxes["initial_options"] = ticked
        elements.append(checkboxes)
    block_id = meeting_block_id(meeting, pm.id) if meeting else f"{REVIEW_BLOCK}|{pm.id}"
    return [
        _section(
            f"{_incident(pm.incident_id, pm.incident_title)} ({_label(policy, pm.severity)})"
            f"{submitted}"
        ),
        {"type": "actions", "block_id": block_id, "elements": elements},
    ]


def digest_message(
    digest: Digest,
    policy: Policy,
    *,
    zone: ZoneInfo,
    meeting: str | None = None,
    note: str | None = None,
    answers: dict[int, dict[str, bool]] | None = None,
    preview: bool = False,
) -> tuple[str, list[Block]]:
    """The digest (fallback text, blocks). With a `meeting`, each post-mortem to review
    carries the agenda's checkboxes, ticked as already answered."""
    answers = answers or {}
    title = "Weekly incident review" + (" (preview)" if preview else "")
    text = (
        f"{title}: {digest.incident_count} incidents, "
        f"{len(digest.to_review)} post-mortems to review"
    )
    blocks: list[Block] = [
        {"type": "header", "text": _plain(title, 150)},
        _context(
            period_title(digest, zone)
            + (f" · :warning: {note}" if note else "")
            + (" · only you can see this preview" if preview else "")
        ),
    ]
    if digest.is_quiet:
        blocks.append(_section("Nothing to review: no incident, report or open follow-up."))
        return text, blocks
    blocks += _summary_blocks(digest, policy, zone)
    blocks.append({"type": "divider"})
    if not digest.to_review:
        blocks.append(_section("*Post-mortems to review*: none"))
        return text, blocks
    approver = _approver(policy)
    blocks.append(
        _section(
            f"*Post-mortems to review* ({len(digest.to_review)})"
            + (f" — approval: {approver}" if approver else "")
            + (
                "\nFor each, the meeting asks the agenda's questions; tick those that apply."
                if meeting and policy.postmortem.meeting_agenda
                else ""
            )
        )
    )
    room = MAX_BLOCKS - len(blocks) - 1  # one left for "… and N more"
    shown = 0
    for pm in digest.to_review:
        if room < 2:
            break
        blocks += _review_blocks(pm, policy, meeting=meeting, answers=answers.get(pm.id, {}))
        room -= 2
        shown += 1
    rest = digest.to_review[shown:]
    if rest:
        blocks.append(
            _context(
                f"… and {len(rest)} more post-mortems to review: "
                + ", ".join(reference(pm.incident_id) for pm in rest[:40])
            )
        )
    return text, blocks


def _approver(policy: Policy) -> str | None:
    task = policy.raci.get("approve_postmortem")
    if task is None:
        return None
    role = policy.roles.get(task.accountable)
    return role.title if role else task.accountable


# --- reminders --------------------------------------------------------------------------------


def postmortem_reminder(
    owed: Sequence[OwedPostmortem], *, meeting_at: datetime | None, zone: ZoneInfo, note: str | None
) -> tuple[str, list[Block]]:
    when = f" on {slack_date(meeting_at)}" if meeting_at else ""
    text = f"Reminder: {len(owed)} post-mortem(s) of yours are not submitted yet"
    intro = (
        f"*The weekly post-mortem review is{when}.* These post-mortems are yours and not "
        "submitted yet; submit them before the meeting so they can be reviewed."
    )
    blocks: list[Block] = [
        _section(intro),
        _section(_lines(owed, lambda o: _owed_line(o, zone), 40)),
    ]
    if note:
        blocks.append(_context(f":warning: {note}"))
    return text, blocks


def followup_reminder(
    items: Sequence[OverdueItem], *, zone: ZoneInfo, note: str | None
) -> tuple[str, list[Block]]:
    text = f"Reminder: {len(items)} action item(s) of yours are overdue"
    blocks: list[Block] = [_section("*These post-mortem action items are overdue:*")]
    room = MAX_BLOCKS - 3
    for overdue in items[:room]:
        block = _section(_overdue_line(overdue, zone))
        block["accessory"] = {
            "type": "button",
            "action_id": Action.FOLLOWUP_DONE,
            "text": _plain("Done"),
            "value": str(overdue.item.id),
        }
        blocks.append(block)
    if len(items) > room:
        blocks.append(_context(f"… and {len(items) - room} more: `/incident followups`"))
    if note:
        blocks.append(_context(f":warning: {note}"))
    return text, blocks
