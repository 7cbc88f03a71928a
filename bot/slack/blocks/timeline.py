"""Block Kit for the timeline, status updates and emergency changes."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.changes import DECISIONS, NEXT_STEPS, STEP_LABELS, ChangeStep
from bot.domain.incident import Incident
from bot.domain.policy import Policy
from bot.domain.status import LABELS, allowed_targets
from bot.domain.timeline import TimelineEntry
from bot.services.changes import Change
from bot.slack.blocks.incident import clip, escape, slack_date
from bot.slack.ids import VALUE

PAGE_SIZE = 15


class TimelineIds:
    STATUS_MODAL = "firewatch_status"
    CHANGE_MODAL = "firewatch_change"
    CAPTURE_MODAL = "firewatch_capture"
    ADD_TO_TIMELINE = "firewatch_add_to_timeline"  # message shortcut
    CHANGE_STEP = "firewatch_change_step"
    TIMELINE_PAGE = "firewatch_timeline_page"
    # blocks
    STATUS = "status"
    UPDATE = "update"
    INCIDENT = "incident"
    SUMMARY = "summary"
    PLAN = "plan"
    ROLLBACK = "rollback_plan"
    RISK = "risk"
    HANDLING = "handling"


def _view(
    callback: str, title: str, blocks: list[Any], submit: str, metadata: dict[str, Any]
) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=callback,
        title=PlainTextObject(text=clip(title, 24)),
        submit=PlainTextObject(text=submit),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps(metadata),
        blocks=blocks,
    ).to_dict()


def status_modal(incident: Incident) -> dict[str, Any]:
    options = [Option(value=s.value, text=LABELS[s]) for s in allowed_targets(incident.status)]
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{incident.ref}* {escape(incident.title)}\nNow: *{LABELS[incident.status]}*"
            )
        ),
        InputBlock(
            block_id=TimelineIds.STATUS,
            label="New status",
            element=StaticSelectElement(action_id=VALUE, options=options),
        ),
        InputBlock(
            block_id=TimelineIds.UPDATE,
            label="Update for stakeholders",
            element=PlainTextInputElement(action_id=VALUE, multiline=True, max_length=3000),
        ),
    ]
    return _view(
        TimelineIds.STATUS_MODAL,
        "Status update",
        blocks,
        "Post update",
        {"incident_id": incident.id},
    )


def change_modal(incident: Incident, policy: Policy) -> dict[str, Any]:
    questions = [
        Option(value=q.key, text=clip(q.label, 75)) for q in policy.change.handling_checklist
    ]

    def text(
        block: str, label: str, limit: int, *, multiline: bool = True, hint: str | None = None
    ) -> InputBlock:
        return InputBlock(
            block_id=block,
            label=label,
            hint=hint,
            element=PlainTextInputElement(action_id=VALUE, multiline=multiline, max_length=limit),
        )

    blocks: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"Emergency change for *{incident.ref}* {escape(incident.title)}"
            )
        ),
        text(TimelineIds.SUMMARY, "Summary", 200, multiline=False),
        text(TimelineIds.PLAN, "Plan", 3000),
        text(TimelineIds.ROLLBACK, "Rollback plan", 3000),
        text(TimelineIds.RISK, "Risk", 3000),
    ]
    if questions:
        blocks.append(
            InputBlock(
                block_id=TimelineIds.HANDLING,
                optional=True,
                label="Handling checklist: tick each that holds",
                element=CheckboxesElement(action_id=VALUE, options=questions),
            )
        )
    return _view(
        TimelineIds.CHANGE_MODAL,
        "Emergency change",
        blocks,
        "Propose",
        {"incident_id": incident.id},
    )


def capture_modal(incidents: list[Incident], message: dict[str, Any]) -> dict[str, Any]:
    options = [
        Option(value=str(i.id), text=clip(f"{i.ref} {i.title}", 75)) for i in incidents[:100]
    ]
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(text="> " + escape(clip(message.get("text", ""), 500)))
        ),
        InputBlock(
            block_id=TimelineIds.INCIDENT,
            label="Which incident?",
            element=StaticSelectElement(action_id=VALUE, options=options),
        ),
    ]
    return _view(TimelineIds.CAPTURE_MODAL, "Add to timeline", blocks, "Add", {"message": message})


def _entry_line(entry: TimelineEntry) -> str:
    who = f"<@{entry.actor}>" if entry.actor else "Firewatch"
    text = escape(clip(entry.text, 600))
    link = entry.data.get("permalink") if entry.data else None
    if link:
        text += f" (<{link}|message>)"
    return f"`#{entry.seq}` {slack_date(entry.at)} · {who} · {text}"


def timeline_page(
    incident: Incident, entries: list[TimelineEntry], *, offset: int, total: int
) -> list[dict[str, Any]]:
    withdrawn = {e.data.get("withdraws") for e in entries if e.kind == "withdrawn"}
    lines = [
        ("~" + _entry_line(e) + "~") if e.seq in withdrawn else _entry_line(e) for e in entries
    ]
    header = (
        f"*Timeline of {incident.ref}* — entries {offset + 1}–{offset + len(entries)} of {total}"
    )
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=clip(header + "\n" + "\n".join(lines), 3000)))
    ]
    buttons = []
    if offset > 0:
        buttons.append(
            ButtonElement(
                text="← Earlier",
                action_id=f"{TimelineIds.TIMELINE_PAGE}_prev",
                value=f"{incident.id}:{max(0, offset - PAGE_SIZE)}",
            )
        )
    if offset + len(entries) < total:
        buttons.append(
            ButtonElement(
                text="Later →",
                action_id=f"{TimelineIds.TIMELINE_PAGE}_next",
                value=f"{incident.id}:{offset + PAGE_SIZE}",
            )
        )
    if buttons:
        blocks.append(ActionsBlock(block_id="timeline_pages", elements=buttons))
    return [b.to_dict() for b in blocks]


def change_message(
    change: Change, incident: Incident, policy: Policy
) -> tuple[str, list[dict[str, Any]]]:
    labels = {q.key: q.label for q in policy.change.handling_checklist}
    ticks = "\n".join(
        f"{'☑' if change.checklist.get(key) else '☐'} {escape(label)}"
        for key, label in labels.items()
    )
    status = change.status.value.replace("_", " ")
    text = f"{change.ref} for {incident.ref}: {change.summary} ({status})"
    steps = "\n".join(
        f"• {name.replace('_', ' ')} by <@{info['by']}>" for name, info in change.steps.items()
    )
    blocks: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(
                    f":wrench: *{change.ref}* {escape(change.summary)} — *{status}*\n"
                    f"Proposed by <@{change.proposed_by}> for {incident.ref}",
                    3000,
                )
            )
        ),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=clip(f"*Plan*\n{escape(change.plan)}", 2000)),
                MarkdownTextObject(
                    text=clip(f"*Rollback plan*\n{escape(change.rollback_plan)}", 2000)
                ),
                MarkdownTextObject(text=clip(f"*Risk*\n{escape(change.risk)}", 2000)),
            ]
        ),
    ]
    if ticks:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=clip("*Handling checklist*\n" + ticks, 3000)))
        )
    if steps:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(steps, 3000))]))
    next_steps = NEXT_STEPS[change.status]
    if next_steps:
        blocks.append(
            ActionsBlock(
                block_id=f"change_{change.id}",
                elements=[
                    ButtonElement(
                        text=STEP_LABELS[step],
                        action_id=f"{TimelineIds.CHANGE_STEP}_{step.value}",
                        value=f"{change.id}:{step.value}",
                        style="primary"
                        if step is ChangeStep.APPROVE
                        else (
                            "danger" if step in (ChangeStep.REJECT, ChangeStep.ROLL_BACK) else None
                        ),
                    )
                    for step in next_steps
                ],
            )
        )
        if any(step in DECISIONS for step in next_steps):
            role = policy.accountable("approve_change")
            title = policy.roles[role].title if role in policy.roles else role
            blocks.append(
                ContextBlock(
                    elements=[
                        MarkdownTextObject(
                            text=f"Only the {escape(title)} (or whoever acts as "
                            f"{escape(title)}) can approve or reject."
                        )
                    ]
                )
            )
    return text, [b.to_dict() for b in blocks]


def status_update(incident: Incident, entry: TimelineEntry) -> tuple[str, list[dict[str, Any]]]:
    text = f"{incident.ref} {entry.text}"
    who = f"<@{entry.actor}>" if entry.actor else "Firewatch"
    body = SectionBlock(
        text=MarkdownTextObject(
            text=clip(f":mega: *{incident.ref}* {escape(entry.text)} · {who}", 3000)
        )
    )
    return text, [body.to_dict()]
