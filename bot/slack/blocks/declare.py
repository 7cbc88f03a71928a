"""Modal views: declaring, the checklist on its own, the not-an-incident choice, severity."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.checklist import ChecklistGroup, LeafEntry, Verdict, leaves
from bot.domain.incident import TEXT_MAX, TITLE_MAX, Incident
from bot.domain.policy import Policy
from bot.services.incidents import required_report_fields
from bot.slack.blocks.incident import clip, escape
from bot.slack.ids import CHECKLIST_BLOCK_PREFIX, VALUE, Block, Callback, Decision

SLACK_OPTION_TEXT_MAX = 75
REASON_MAX = 1000


def _modal(
    callback: Callback,
    title: str,
    blocks: list[Any],
    *,
    submit: str | None,
    close: str,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=callback,
        title=PlainTextObject(text=clip(title, 24)),
        submit=PlainTextObject(text=submit) if submit else None,
        close=PlainTextObject(text=close),
        private_metadata=json.dumps(metadata or {}),
        blocks=blocks,
    ).to_dict()


def severity_options(policy: Policy) -> list[Option]:
    return [
        Option(value=key, text=clip(f"{sev.label} — {sev.description}", SLACK_OPTION_TEXT_MAX))
        for key, sev in policy.severities.items()
    ]


def checklist_groups(tree: ChecklistGroup) -> list[tuple[str, str, list[LeafEntry]]]:
    """Checkbox blocks for the checklist: the root's own leaves first, then one block per
    top-level group (deeper groups fold into their top-level one, numbered)."""
    blocks: dict[str, tuple[str, list[LeafEntry]]] = {}
    for entry in leaves(tree):
        top = entry.groups[0] if entry.groups else None
        key = top.key if top else tree.key
        if key not in blocks:
            if top is None:
                label = tree.label
            else:
                need = "any of" if top.mode == "any" else "all of"
                number = entry.number.split(".")[0]
                label = f"{number}. {top.label} ({need})"
            blocks[key] = (label, [])
        blocks[key][1].append(entry)
    return [(key, label, entries) for key, (label, entries) in blocks.items()]


def split_label(label: str, limit: int = SLACK_OPTION_TEXT_MAX) -> tuple[str, str]:
    """Slack cuts option text at 75 characters: break a long label at a word and carry
    the rest into the option's description."""
    if len(label) <= limit:
        return label, ""
    cut = label.rfind(" ", 0, limit - 1)
    cut = cut if cut > limit // 2 else limit - 1
    return label[:cut] + "…", "…" + label[cut:].strip()


def checklist_blocks(policy: Policy, ticked: set[str] | None = None) -> list[Any]:
    out: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{escape(policy.checklist.label)}* Tick what is true. "
                "It is an incident only when every numbered item holds."
            )
        )
    ]
    for key, label, entries in checklist_groups(policy.checklist):
        options = []
        for e in entries:
            text, rest = split_label(f"{e.number}. {e.leaf.label}")
            description = rest or e.leaf.help
            options.append(
                Option(
                    value=e.leaf.key,
                    text=text,
                    description=clip(description, SLACK_OPTION_TEXT_MAX) if description else None,
                )
            )
        initial = [o for o in options if ticked and o.value in ticked] or None
        out.append(
            InputBlock(
                block_id=f"{CHECKLIST_BLOCK_PREFIX}{key}",
                label=clip(label, 2000),
                optional=True,
                element=CheckboxesElement(
                    action_id=VALUE, options=options, initial_options=initial
                ),
            )
        )
    return out


def declare_modal(
    policy: Policy, *, title: str = "", origin_channel: str | None = None
) -> dict[str, Any]:
    required = required_report_fields(policy)
    fields = policy.report.fields
    discovery = [
        Option(value=m.key, text=clip(m.label, SLACK_OPTION_TEXT_MAX))
        for m in policy.report.discovery_methods
    ]

    def text_input(
        block: Block, label: str, *, multiline: bool, limit: int, hint: str | None = None
    ) -> InputBlock:
        return InputBlock(
            block_id=block,
            label=clip(label, 2000),
            hint=clip(hint, 2000) if hint else None,
            optional=block not in required and block != Block.TITLE,
            element=PlainTextInputElement(
                action_id=VALUE,
                multiline=multiline,
                max_length=limit,
                initial_value=title[:limit] if block == Block.TITLE and title else None,
            ),
        )

    def limit(name: str) -> int:
        value = getattr(fields, name).max_length
        return int(value) if value else TEXT_MAX

    blocks: list[Any] = [
        text_input(Block.TITLE, "Title", multiline=False, limit=TITLE_MAX),
        InputBlock(
            block_id=Block.SEVERITY,
            label="Severity",
            element=StaticSelectElement(action_id=VALUE, options=severity_options(policy)),
        ),
        text_input(
            Block.NATURE,
            fields.nature.label,
            multiline=True,
            limit=limit("nature"),
            hint=fields.nature.hint,
        ),
        InputBlock(
            block_id=Block.DISCOVERY,
            label=clip(fields.discovery.label, 2000),
            optional=Block.DISCOVERY not in required,
            element=StaticSelectElement(action_id=VALUE, options=discovery),
        ),
        text_input(
            Block.IMPACT,
            fields.impact.label,
            multiline=True,
            limit=limit("impact"),
            hint=fields.impact.hint,
        ),
        text_input(
            Block.EVIDENCE,
            fields.evidence.label,
            multiline=True,
            limit=limit("evidence"),
            hint=fields.evidence.hint,
        ),
        text_input(
            Block.SERVICE,
            fields.service.label,
            multiline=False,
            limit=min(200, limit("service")),
            hint=fields.service.hint,
        ),
        *checklist_blocks(policy),
    ]
    return _modal(
        Callback.DECLARE_MODAL,
        "Declare an incident",
        blocks,
        submit="Declare",
        close="Cancel",
        metadata={"origin_channel": origin_channel},
    )


def _failures_text(verdict: Verdict) -> str:
    return "\n".join(f"• {escape(str(f))}" for f in verdict.failures)


def not_an_incident_modal(verdict: Verdict, *, allow_anyway: bool, draft: str) -> dict[str, Any]:
    """Pushed over the declare form when the checklist does not qualify. *Back* returns to
    the form with its answers, to change them."""
    choices = [
        Option(
            value=Decision.RECORD,
            text="Record it as a non-incident report",
            description="Stored and listed in the weekly review; nobody is paged",
        ),
    ]
    if allow_anyway:
        choices.append(
            Option(
                value=Decision.DECLARE_ANYWAY,
                text="Declare it anyway",
                description="Needs a reason; it is recorded on the timeline",
            )
        )
    blocks: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(
                text="*By your answers this is not an incident under the policy.*\n"
                + _failures_text(verdict)
            )
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(text="Press *Back* to change your answers, or choose below.")
            ]
        ),
        InputBlock(
            block_id=Block.DECISION,
            label="What should Firewatch do?",
            element=RadioButtonsElement(action_id=VALUE, options=choices),
        ),
    ]
    if allow_anyway:
        blocks.append(
            InputBlock(
                block_id=Block.REASON,
                label="Reason to declare anyway",
                optional=True,
                hint="Required when declaring anyway.",
                element=PlainTextInputElement(
                    action_id=VALUE, multiline=True, max_length=REASON_MAX
                ),
            )
        )
    return _modal(
        Callback.NOT_AN_INCIDENT_MODAL,
        "Not an incident?",
        blocks,
        submit="Confirm",
        close="Back",
        metadata={"draft": draft},
    )


def checklist_modal(policy: Policy) -> dict[str, Any]:
    return _modal(
        Callback.CHECKLIST_MODAL,
        "Incident checklist",
        checklist_blocks(policy),
        submit="Check",
        close="Cancel",
    )


def checklist_verdict_modal(verdict: Verdict) -> dict[str, Any]:
    if verdict.qualifies:
        text = (
            ":white_check_mark: *This is an incident under the policy.* "
            "Declare it with `/incident declare`."
        )
    else:
        text = (
            ":information_source: *This is not an incident under the policy.*\n"
            + _failures_text(verdict)
        )
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=text)),
        ContextBlock(
            elements=[MarkdownTextObject(text="Nothing was recorded. Only you see this.")]
        ),
    ]
    return _modal(Callback.CHECKLIST_MODAL, "Incident checklist", blocks, submit=None, close="Done")


def severity_modal(incident: Incident, policy: Policy) -> dict[str, Any]:
    options = severity_options(policy)
    current = next((o for o in options if o.value == incident.severity), None)
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f"*{incident.ref}* {escape(incident.title)}")),
        InputBlock(
            block_id=Block.NEW_SEVERITY,
            label="New severity",
            element=StaticSelectElement(action_id=VALUE, options=options, initial_option=current),
        ),
        InputBlock(
            block_id=Block.REASON,
            label="Why?",
            optional=True,
            element=PlainTextInputElement(action_id=VALUE, multiline=True, max_length=REASON_MAX),
        ),
    ]
    return _modal(
        Callback.SEVERITY_MODAL,
        "Change severity",
        blocks,
        submit="Change",
        close="Cancel",
        metadata={"incident_id": incident.id},
    )
