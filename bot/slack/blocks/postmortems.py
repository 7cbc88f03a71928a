"""Block Kit for resolving, writing and reviewing post-mortems, and action items."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.incident import Incident
from bot.domain.policy import Policy
from bot.domain.postmortem import format_duration
from bot.services.postmortems import Facts, Postmortem
from bot.slack.blocks.incident import clip, escape, slack_date
from bot.slack.ids import VALUE, Action

ITEM_ROWS = 3


class PmIds:
    RESOLVE_MODAL = "firewatch_resolve"
    POSTMORTEM_MODAL = "firewatch_postmortem"
    SUMMARY = "summary"
    ROOT_CAUSE = "root_cause"
    IMPACT = "impact"
    SUBMIT = "submit"

    @staticmethod
    def answer(key: str) -> str:
        return f"assess__{key}"

    @staticmethod
    def note(key: str) -> str:
        return f"assess_note__{key}"

    @staticmethod
    def item(n: int, part: str) -> str:
        return f"item_{n}_{part}"


def _modal(
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


def resolve_modal(incident: Incident) -> dict[str, Any]:
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(text=f"Resolve *{incident.ref}* {escape(incident.title)}")
        ),
        InputBlock(
            block_id=PmIds.SUMMARY,
            label="Resolution summary",
            hint="What fixed it. A post-mortem is then asked of its owner.",
            element=PlainTextInputElement(action_id=VALUE, multiline=True, max_length=3000),
        ),
    ]
    return _modal(
        PmIds.RESOLVE_MODAL, "Resolve incident", blocks, "Resolve", {"incident_id": incident.id}
    )


def facts_text(facts: Facts) -> str:
    changes = (
        ", ".join(f"{c.ref} ({c.status.value.replace('_', ' ')})" for c in facts.changes) or "none"
    )
    return (
        f"*Declared* {slack_date(facts.declared_at)}"
        f" · *Acknowledged* {slack_date(facts.acknowledged_at)}"
        f" · *Mitigated* {slack_date(facts.mitigated_at)}"
        f" · *Resolved* {slack_date(facts.resolved_at)}\n"
        f"*MTTA* {format_duration(facts.mtta)} · *MTTR* {format_duration(facts.mttr)} · "
        f"*Pages* {facts.pages} ({facts.escalations} escalations) · *Changes* {escape(changes)}"
    )


def postmortem_modal(
    incident: Incident, pm: Postmortem, facts: Facts, policy: Policy, today: date
) -> dict[str, Any]:
    def text(
        block: str,
        label: str,
        initial: str,
        *,
        optional: bool = True,
        limit: int = 3000,
        multiline: bool = True,
    ) -> InputBlock:
        return InputBlock(
            block_id=block,
            label=label,
            optional=optional,
            element=PlainTextInputElement(
                action_id=VALUE,
                multiline=multiline,
                max_length=limit,
                initial_value=initial[:limit] or None,
            ),
        )

    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=f"*{incident.ref}* {escape(incident.title)}")),
        ContextBlock(elements=[MarkdownTextObject(text=clip(facts_text(facts), 3000))]),
        text(PmIds.ROOT_CAUSE, "Root cause analysis", pm.root_cause),
        text(PmIds.IMPACT, "Actual adverse impact", pm.impact),
    ]
    yes_no = [Option(value="yes", text="Yes"), Option(value="no", text="No")]
    for prompt in policy.postmortem.assessments:
        saved = pm.assessments.get(prompt.key) or {}
        initial = next((o for o in yes_no if o.value == saved.get("answer")), None)
        blocks.append(
            InputBlock(
                block_id=PmIds.answer(prompt.key),
                label=clip(prompt.label, 2000),
                optional=True,
                element=RadioButtonsElement(
                    action_id=VALUE, options=yes_no, initial_option=initial
                ),
            )
        )
        blocks.append(text(PmIds.note(prompt.key), "Note", str(saved.get("note", "")), limit=1000))
    blocks.append(DividerBlock())
    blocks.append(
        SectionBlock(text=MarkdownTextObject(text="*Follow-up recommendations* (action items)"))
    )
    open_items = [i for i in pm.items if i["status"] == "open"]
    for n in range(1, ITEM_ROWS + 1):
        item = open_items[n - 1] if n <= len(open_items) else {}
        blocks.append(
            text(
                PmIds.item(n, "text"),
                f"Action {n}",
                str(item.get("text", "")),
                limit=500,
                multiline=False,
            )
        )
        blocks.append(
            InputBlock(
                block_id=PmIds.item(n, "owner"),
                label="Owner",
                optional=True,
                element=UserSelectElement(action_id=VALUE, initial_user=item.get("owner")),
            )
        )
        due = item.get("due_on") or (today + timedelta(days=14)).isoformat()
        blocks.append(
            InputBlock(
                block_id=PmIds.item(n, "due"),
                label="Due",
                optional=True,
                element=DatePickerElement(action_id=VALUE, initial_date=due),
            )
        )
    blocks.append(
        InputBlock(
            block_id=PmIds.SUBMIT,
            label="Ready?",
            optional=True,
            element=CheckboxesElement(
                action_id=VALUE,
                options=[
                    Option(value="submit", text="Submit for approval (otherwise saved as a draft)")
                ],
            ),
        )
    )
    return _modal(PmIds.POSTMORTEM_MODAL, "Post-mortem", blocks, "Save", {"postmortem_id": pm.id})


def request_message(incident: Incident, pm: Postmortem) -> tuple[str, list[dict[str, Any]]]:
    text = f"Please write the post-mortem of {incident.ref}: {incident.title}"
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(
                text=(
                    f":memo: {incident.ref} *{escape(incident.title)}* is resolved. "
                    "Please write its post-mortem: root cause, actual impact and follow-up "
                    f"recommendations. Due {slack_date(pm.due_at)}, "
                    "before the weekly post-mortem meeting."
                )
            )
        ),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Write post-mortem",
                    action_id=Action.WRITE_POSTMORTEM,
                    value=str(incident.id),
                    style="primary",
                )
            ]
        ),
    ]
    return text, [b.to_dict() for b in blocks]


def _content(pm: Postmortem, policy: Policy) -> list[Any]:
    labels = {p.key: p.label for p in policy.postmortem.assessments}
    answers = "\n".join(
        f"• {escape(labels.get(k, k))} *{v.get('answer', '—')}*"
        + (f" — {escape(v['note'])}" if v.get("note") else "")
        for k, v in pm.assessments.items()
    )
    items = "\n".join(
        f"• {escape(i['text'])} — <@{i['owner']}>, due {i['due_on']} ({i['status']})"
        for i in pm.items
    )
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(f"*Root cause*\n{escape(pm.root_cause or '—')}", 3000)
            )
        ),
        SectionBlock(
            text=MarkdownTextObject(text=clip(f"*Actual impact*\n{escape(pm.impact or '—')}", 3000))
        ),
        SectionBlock(text=MarkdownTextObject(text=clip(f"*Assessments*\n{answers or '—'}", 3000))),
        SectionBlock(text=MarkdownTextObject(text=clip(f"*Action items*\n{items or '—'}", 3000))),
    ]


def review_message(
    incident: Incident, pm: Postmortem, policy: Policy
) -> tuple[str, list[dict[str, Any]]]:
    role = policy.accountable("approve_postmortem")
    title = policy.roles[role].title if role in policy.roles else role
    text = f"Post-mortem of {incident.ref} submitted for approval"
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=f":clipboard: *{text}* by <@{pm.submitted_by}>")),
        *_content(pm, policy),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Approve",
                    action_id=Action.POSTMORTEM_APPROVE,
                    value=str(pm.id),
                    style="primary",
                ),
                ButtonElement(
                    text="Request changes", action_id=Action.POSTMORTEM_CHANGES, value=str(pm.id)
                ),
            ]
        ),
        ContextBlock(elements=[MarkdownTextObject(text=f"Only the {escape(title)} can approve.")]),
    ]
    return text, [b.to_dict() for b in blocks]


def final_report(
    incident: Incident, pm: Postmortem, facts: Facts, policy: Policy
) -> tuple[str, list[dict[str, Any]]]:
    text = f"Final report · {incident.ref}: {incident.title} (closed)"
    blocks: list[Any] = [
        HeaderBlock(text=PlainTextObject(text=clip(text, 150))),
        ContextBlock(elements=[MarkdownTextObject(text=clip(facts_text(facts), 3000))]),
        SectionBlock(
            text=MarkdownTextObject(
                text=clip(f"*Resolution*\n{escape(pm.resolution_summary or '—')}", 3000)
            )
        ),
        *_content(pm, policy),
        ContextBlock(elements=[MarkdownTextObject(text=f"Approved by <@{pm.decided_by}>.")]),
    ]
    return text, [b.to_dict() for b in blocks]


def followups_list(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not items:
        return [
            SectionBlock(text=MarkdownTextObject(text="No open action items. :tada:")).to_dict()
        ]
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=f"*Open action items ({len(items)})*"))
    ]
    for item in items[:40]:
        flag = " *overdue*" if item["overdue"] else ""
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=clip(
                        f"{item['incident']} · {escape(item['text'])} · <@{item['owner']}>"
                        f" · due {item['due_on']}{flag}",
                        3000,
                    )
                ),
                accessory=ButtonElement(
                    text="Done", action_id=Action.FOLLOWUP_DONE, value=str(item["id"])
                ),
            )
        )
    return [b.to_dict() for b in blocks]
