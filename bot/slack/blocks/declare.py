"""Modal views: declaring, the checklist on its own, the not-an-incident choice, severity."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.models.blocks import CheckboxesElement, InputBlock, Option, RadioButtonsElement

from bot.domain.checklist import ChecklistGroup, LeafEntry, Verdict, leaves
from bot.domain.incident import TEXT_MAX, TITLE_MAX, Incident
from bot.domain.policy import Policy
from bot.domain.status_page import ComponentState
from bot.services.incidents import required_report_fields
from bot.slack import messages
from bot.slack.blocks.common import (
    OPTION_TEXT_MAX,
    Payload,
    SlackBlock,
    context,
    escape,
    input_block,
    modal,
    option,
    section,
    select_input,
    text_input,
)
from bot.slack.blocks.status_page import incident_component_inputs
from bot.slack.ids import CHECKLIST_BLOCK_PREFIX, VALUE, Block, Callback, Decision

REASON_MAX = 1000


def severity_options(policy: Policy) -> list[Option]:
    return [
        option(key, f"{sev.label} — {sev.description}") for key, sev in policy.severities.items()
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
                need = messages.CHECKLIST_ANY if top.mode == "any" else messages.CHECKLIST_ALL
                number = entry.number.split(".")[0]
                label = f"{number}. {top.label} ({need})"
            blocks[key] = (label, [])
        blocks[key][1].append(entry)
    return [(key, label, entries) for key, (label, entries) in blocks.items()]


def split_label(label: str, limit: int = OPTION_TEXT_MAX) -> tuple[str, str]:
    """Slack cuts option text at 75 characters: break a long label at a word and carry
    the rest into the option's description."""
    if len(label) <= limit:
        return label, ""
    cut = label.rfind(" ", 0, limit - 1)
    cut = cut if cut > limit // 2 else limit - 1
    return label[:cut] + "…", "…" + label[cut:].strip()


def _checklist_options(entries: list[LeafEntry]) -> list[Option]:
    options = []
    for e in entries:
        text, rest = split_label(f"{e.number}. {e.leaf.label}")
        options.append(option(e.leaf.key, text, rest or e.leaf.help))
    return options


def checklist_blocks(policy: Policy, ticked: set[str] | None = None) -> list[SlackBlock]:
    out: list[SlackBlock] = [
        section(messages.CHECKLIST_INTRO.format(label=escape(policy.checklist.label)))
    ]
    for key, label, entries in checklist_groups(policy.checklist):
        options = _checklist_options(entries)
        initial = [o for o in options if ticked and o.value in ticked] or None
        element = CheckboxesElement(action_id=VALUE, options=options, initial_options=initial)
        out.append(input_block(f"{CHECKLIST_BLOCK_PREFIX}{key}", label, element, optional=True))
    return out


def _report_input(
    policy: Policy, block: Block, *, multiline: bool, cap: int | None = None
) -> InputBlock:
    """One of the report's text questions, as the policy words and limits it."""
    spec = getattr(policy.report.fields, block.value)
    limit = int(spec.max_length) if spec.max_length else TEXT_MAX
    return text_input(
        block,
        spec.label,
        limit=min(cap, limit) if cap else limit,
        multiline=multiline,
        optional=block not in required_report_fields(policy),
        hint=spec.hint,
    )


def declare_modal(
    policy: Policy,
    *,
    title: str = "",
    origin_channel: str | None = None,
    effects: Mapping[str, ComponentState] | None = None,
) -> Payload:
    """The declare form; `effects` pre-selects the status page's components (an alert's)."""
    discovery = [option(m.key, m.label) for m in policy.report.discovery_methods]
    blocks: list[SlackBlock] = [
        text_input(
            Block.TITLE, "Title", limit=TITLE_MAX, multiline=False, optional=False, initial=title
        ),
        select_input(Block.SEVERITY, "Severity", severity_options(policy)),
        _report_input(policy, Block.NATURE, multiline=True),
        select_input(
            Block.DISCOVERY,
            policy.report.fields.discovery.label,
            discovery,
            optional=Block.DISCOVERY not in required_report_fields(policy),
        ),
        _report_input(policy, Block.IMPACT, multiline=True),
        _report_input(policy, Block.EVIDENCE, multiline=True),
        _report_input(policy, Block.SERVICE, multiline=False, cap=200),
        *incident_component_inputs(policy, effects),  # none when the policy lists no components
        *checklist_blocks(policy),
    ]
    return modal(
        Callback.DECLARE_MODAL,
        messages.DECLARE_TITLE,
        blocks,
        "Declare",
        origin_channel=origin_channel,
    )


def _failures_text(verdict: Verdict) -> str:
    return "\n".join(f"• {escape(str(f))}" for f in verdict.failures)


def _reason_input(label: str, hint: str | None = None) -> InputBlock:
    return text_input(Block.REASON, label, limit=REASON_MAX, optional=True, hint=hint)


def not_an_incident_modal(verdict: Verdict, *, allow_anyway: bool, draft: str) -> Payload:
    """Pushed over the declare form when the checklist does not qualify. *Back* returns to
    the form with its answers, to change them."""
    choices = [option(Decision.RECORD, messages.RECORD_CHOICE, messages.RECORD_CHOICE_HINT)]
    if allow_anyway:
        choices.append(
            option(Decision.DECLARE_ANYWAY, messages.ANYWAY_CHOICE, messages.ANYWAY_CHOICE_HINT)
        )
    decision = RadioButtonsElement(action_id=VALUE, options=choices)
    blocks: list[SlackBlock] = [
        section(messages.NOT_AN_INCIDENT_VERDICT + "\n" + _failures_text(verdict)),
        context(messages.NOT_AN_INCIDENT_BACK),
        input_block(Block.DECISION, messages.NOT_AN_INCIDENT_QUESTION, decision),
    ]
    if allow_anyway:
        blocks.append(_reason_input(messages.ANYWAY_REASON, messages.ANYWAY_REASON_HINT))
    return modal(
        Callback.NOT_AN_INCIDENT_MODAL,
        messages.NOT_AN_INCIDENT_TITLE,
        blocks,
        "Confirm",
        close="Back",
        draft=draft,
    )


def checklist_modal(policy: Policy) -> Payload:
    return modal(
        Callback.CHECKLIST_MODAL, messages.CHECKLIST_TITLE, checklist_blocks(policy), "Check"
    )


def checklist_verdict_modal(verdict: Verdict) -> Payload:
    if verdict.qualifies:
        text = messages.CHECKLIST_QUALIFIES
    else:
        text = messages.CHECKLIST_DOES_NOT_QUALIFY + "\n" + _failures_text(verdict)
    blocks = [section(text), context(messages.CHECKLIST_NOTHING_RECORDED)]
    return modal(Callback.CHECKLIST_MODAL, messages.CHECKLIST_TITLE, blocks, None, close="Done")


def severity_modal(incident: Incident, policy: Policy) -> Payload:
    options = severity_options(policy)
    current = next((o for o in options if o.value == incident.severity), None)
    blocks = [
        section(f"*{incident.ref}* {escape(incident.title)}"),
        select_input(Block.NEW_SEVERITY, "New severity", options, initial=current),
        _reason_input("Why?"),
    ]
    return modal(
        Callback.SEVERITY_MODAL, messages.CHANGE_SEVERITY, blocks, "Change", incident_id=incident.id
    )
