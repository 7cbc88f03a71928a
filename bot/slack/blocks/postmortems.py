"""Block Kit for resolving, writing and reviewing post-mortems, and action items."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    DatePickerElement,
    DividerBlock,
    RadioButtonsElement,
    UserSelectElement,
)

from bot.domain.incident import Incident
from bot.domain.policy import Policy
from bot.domain.postmortem import format_duration
from bot.services.postmortems import Facts, Postmortem
from bot.slack import messages
from bot.slack.blocks.common import (
    Payload,
    SlackBlock,
    Zone,
    actions,
    button,
    context,
    escape,
    fit,
    header,
    input_block,
    labelled,
    labelled_whole,
    modal,
    option,
    policy_zone,
    rendered,
    role_title,
    section,
    slack_date,
    slack_day,
    text_input,
)
from bot.slack.blocks.status_page import public_update_input
from bot.slack.ids import VALUE, Action, PmIds

ITEM_ROWS = 3


def resolve_modal(incident: Incident) -> Payload:
    blocks = [
        section(messages.RESOLVE_HEADING.format(ref=incident.ref, title=escape(incident.title))),
        text_input(
            PmIds.SUMMARY, "Resolution summary", limit=3000, hint=messages.RESOLUTION_SUMMARY_HINT
        ),
        public_update_input(hint=messages.PUBLIC_UPDATE_RESOLVE_HINT),
    ]
    return modal(
        PmIds.RESOLVE_MODAL, messages.RESOLVE_TITLE, blocks, "Resolve", incident_id=incident.id
    )


def facts_text(facts: Facts, zone: Zone = "UTC") -> str:
    changes = (
        ", ".join(f"{c.ref} ({c.status.value.replace('_', ' ')})" for c in facts.changes)
        or messages.NONE
    )
    times = messages.FACTS_TIMES.format(
        declared=slack_date(facts.declared_at, zone),
        acknowledged=slack_date(facts.acknowledged_at, zone),
        mitigated=slack_date(facts.mitigated_at, zone),
        resolved=slack_date(facts.resolved_at, zone),
    )
    counts = messages.FACTS_COUNTS.format(
        mtta=format_duration(facts.mtta),
        mttr=format_duration(facts.mttr),
        pages=facts.pages,
        escalations=facts.escalations,
        changes=escape(changes),
    )
    return f"{times}\n{counts}"


def _assessment_inputs(pm: Postmortem, policy: Policy) -> list[SlackBlock]:
    """A yes/no and a note for each of the policy's assessment questions, as last saved."""
    yes_no = [option("yes", "Yes"), option("no", "No")]
    out: list[SlackBlock] = []
    for prompt in policy.postmortem.assessments:
        saved = pm.assessments.get(prompt.key) or {}
        initial = next((o for o in yes_no if o.value == saved.get("answer")), None)
        answer = RadioButtonsElement(action_id=VALUE, options=yes_no, initial_option=initial)
        out.append(input_block(PmIds.answer(prompt.key), prompt.label, answer, optional=True))
        note = str(saved.get("note", ""))
        out.append(
            text_input(PmIds.note(prompt.key), "Note", limit=1000, optional=True, initial=note)
        )
    return out


def _item_inputs(pm: Postmortem, today: date) -> list[SlackBlock]:
    """ITEM_ROWS action items (text, owner, due), filled with the open ones saved so far."""
    open_items = [i for i in pm.items if i["status"] == "open"]
    out: list[SlackBlock] = []
    for n in range(1, ITEM_ROWS + 1):
        item = open_items[n - 1] if n <= len(open_items) else {}
        text = str(item.get("text", ""))
        owner = UserSelectElement(action_id=VALUE, initial_user=item.get("owner"))
        due = item.get("due_on") or (today + timedelta(days=14)).isoformat()
        out += [
            text_input(
                PmIds.item(n, "text"),
                f"Action {n}",
                limit=500,
                multiline=False,
                optional=True,
                initial=text,
            ),
            input_block(PmIds.item(n, "owner"), "Owner", owner, optional=True),
            input_block(
                PmIds.item(n, "due"),
                "Due",
                DatePickerElement(action_id=VALUE, initial_date=due),
                optional=True,
            ),
        ]
    return out


def postmortem_modal(
    incident: Incident, pm: Postmortem, facts: Facts, policy: Policy, today: date
) -> Payload:
    ready = CheckboxesElement(action_id=VALUE, options=[option("submit", messages.SUBMIT_CHOICE)])
    blocks: list[SlackBlock] = [
        section(f"*{incident.ref}* {escape(incident.title)}"),
        context(facts_text(facts, policy_zone(policy))),
        text_input(
            PmIds.ROOT_CAUSE,
            "Root cause analysis",
            limit=3000,
            optional=True,
            initial=pm.root_cause,
        ),
        text_input(
            PmIds.IMPACT, "Actual adverse impact", limit=3000, optional=True, initial=pm.impact
        ),
        *_assessment_inputs(pm, policy),
        DividerBlock(),
        section(messages.FOLLOW_UP_HEADING),
        *_item_inputs(pm, today),
        input_block(PmIds.SUBMIT, "Ready?", ready, optional=True),
    ]
    return modal(
        PmIds.POSTMORTEM_MODAL, messages.POSTMORTEM_TITLE, blocks, "Save", postmortem_id=pm.id
    )


def request_message(
    incident: Incident, pm: Postmortem, zone: Zone = "UTC"
) -> tuple[str, list[Payload]]:
    write = button("Write post-mortem", Action.WRITE_POSTMORTEM, str(incident.id), style="primary")
    blocks = [
        section(
            messages.POSTMORTEM_REQUEST.format(
                ref=incident.ref, title=escape(incident.title), due=slack_date(pm.due_at, zone)
            )
        ),
        actions(write),
    ]
    text = messages.POSTMORTEM_REQUEST_TEXT.format(ref=incident.ref, title=escape(incident.title))
    return text, rendered(blocks)


def changes_requested(
    incident: Incident, pm: Postmortem, zone: Zone = "UTC"
) -> tuple[str, list[Payload]]:
    """The DM to the owner of a post-mortem sent back: who asked, their note, and the
    Write button of the request again."""
    if pm.decision_note:
        text = messages.CHANGES_REQUESTED_WITH_NOTE.format(
            user=pm.decided_by, ref=incident.ref, note=fit(pm.decision_note, NOTE_CHARS)
        )
    else:
        text = messages.CHANGES_REQUESTED.format(user=pm.decided_by, ref=incident.ref)
    _, blocks = request_message(incident, pm, zone)
    return text, blocks[-1:]


# An assessment's note or an action item in the post-mortem's messages (escaped characters).
ITEM_CHARS = 500
NOTE_CHARS = 2500  # the approver's note asking for changes


def _content(pm: Postmortem, policy: Policy) -> list[SlackBlock]:
    zone = policy_zone(policy)
    labels = {p.key: p.label for p in policy.postmortem.assessments}
    answers = "\n".join(
        f"• {escape(labels.get(k, k))} *{v.get('answer', '—')}*"
        + (f" — {fit(v['note'], ITEM_CHARS, messages.TRUNCATED)}" if v.get("note") else "")
        for k, v in pm.assessments.items()
    )
    items = "\n".join(
        messages.ITEM_LINE.format(
            text=fit(i["text"], ITEM_CHARS, messages.TRUNCATED),
            owner=i["owner"],
            due=slack_day(i["due_on"], zone),
            status=i["status"],
        )
        for i in pm.items
    )
    return [
        *labelled_whole("Root cause", pm.root_cause, more=messages.TRUNCATED),
        *labelled_whole("Actual impact", pm.impact, more=messages.TRUNCATED),
        labelled("Assessments", answers, escaped=True),
        labelled("Action items", items, escaped=True),
    ]


def review_message(incident: Incident, pm: Postmortem, policy: Policy) -> tuple[str, list[Payload]]:
    title = escape(role_title(policy, policy.accountable("approve_postmortem")))
    text = messages.POSTMORTEM_SUBMITTED.format(ref=incident.ref)
    decide = actions(
        button("Approve", Action.POSTMORTEM_APPROVE, str(pm.id), style="primary"),
        button("Request changes", Action.POSTMORTEM_CHANGES, str(pm.id)),
    )
    blocks = [
        section(f":clipboard: *{text}* by <@{pm.submitted_by}>"),
        *_content(pm, policy),
        decide,
        context(messages.POSTMORTEM_APPROVER.format(role=title)),
    ]
    return text, rendered(blocks)


def final_report(
    incident: Incident, pm: Postmortem, facts: Facts, policy: Policy
) -> tuple[str, list[Payload]]:
    title = messages.FINAL_REPORT_TITLE.format(ref=incident.ref, title=incident.title)
    text = messages.FINAL_REPORT_TITLE.format(ref=incident.ref, title=escape(incident.title))
    blocks = [
        header(title),  # plain text: shown as written
        context(facts_text(facts, policy_zone(policy))),
        *labelled_whole("Resolution", pm.resolution_summary, more=messages.TRUNCATED),
        *_content(pm, policy),
        context(messages.POSTMORTEM_APPROVED_BY.format(user=pm.decided_by)),
    ]
    return text, rendered(blocks)


def followups_list(items: list[dict[str, Any]], zone: Zone = "UTC") -> list[Payload]:
    """`/incident followups`: open action items, each with its due date and Done."""
    if not items:
        return rendered([section(messages.NO_OPEN_ACTION_ITEMS)])
    blocks = [section(messages.OPEN_ACTION_ITEMS_HEADING.format(count=len(items)))]
    for item in items[:40]:
        line = messages.FOLLOWUP_LINE.format(
            incident=item["incident"],
            text=fit(item["text"], ITEM_CHARS, messages.TRUNCATED),
            owner=item["owner"],
            due=slack_day(item["due_on"], zone),
            overdue=messages.OVERDUE_FLAG if item["overdue"] else "",
        )
        done = button("Done", Action.FOLLOWUP_DONE, str(item["id"]))
        blocks.append(section(line, accessory=done))
    return rendered(blocks)
