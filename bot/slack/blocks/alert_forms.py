"""The forms an alert card's buttons open (issue 22), their sentences, and the "Alerts"
line of an incident's report.

Declare opens the declare form `/incident` opens (its checklist too), prefilled from the
alert group; Link asks for an open incident with the incident picker's select (its
options load through the picker's `block_suggestion` listener); Silence asks how long
and why. Each modal's metadata is the group id alone.
"""

from __future__ import annotations

import json

from slack_sdk.models.blocks import ExternalDataSelectElement

from bot.domain.alerts import FIRING, AlertGroup
from bot.domain.checklist import Verdict
from bot.domain.incident import Incident
from bot.domain.policy import Policy
from bot.domain.status_page import ComponentState
from bot.services.alert_actions import REASON_MAX, Declaration, LinkedAlerts
from bot.slack import messages
from bot.slack.blocks.common import (
    Payload,
    SlackBlock,
    context,
    escape,
    fit,
    input_block,
    labelled,
    modal,
    option,
    plain,
    section,
    select_input,
    severity_label,
    text_input,
)
from bot.slack.blocks.declare import declare_modal, not_an_incident_modal
from bot.slack.ids import AlertFormIds, Block, PickerIds

# What the person is told (ephemerally, or under a field).
GROUP_GONE = "This alert group no longer exists."
ALREADY_LINKED = "This alert is linked to {ref} already: {title}{where}."
INCIDENT_CLOSED = "{ref} is resolved or closed: pick an open incident."
NOTHING_FIRING = "None of this group's alerts is firing: there is nothing to silence."
SILENCE_TOO_LONG = "The policy allows silencing for at most {most}."
REASON_REQUIRED = "Say why these alerts are silenced."
REASON_TOO_LONG = "Keep the reason under {most} characters."
PICK_INCIDENT = "Pick an open incident."
SILENCE_NOTE = (
    "Firewatch mutes these alerts in Firewatch only (no card update, page or declaration "
    "while silenced); it writes no silence into Alertmanager."
)
MOVE_NOTE = "Linked to {ref} now: linking it elsewhere moves it (both timelines say so)."


def group_id_of(raw: object) -> int | None:
    """The alert group a button's value or a form's metadata names; None when garbled."""
    value = str(raw if raw is not None else "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def hours_label(hours: int) -> str:
    if hours % 168 == 0:
        weeks = hours // 168
        return f"{weeks} week{'s' if weeks > 1 else ''}"
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days > 1 else ''}"
    return f"{hours} h"


# --- Declare --------------------------------------------------------------------------


def declare_from_alert(policy: Policy, declaration: Declaration) -> Payload:
    """The declare form with its checklist, each report field prefilled from the alert
    (plain text inputs: nothing escaped), and the group named in the metadata."""
    report = declaration.report
    state = ComponentState(report.component_state or ComponentState.MAJOR_OUTAGE)
    view = declare_modal(
        policy, title=report.title, effects=dict.fromkeys(report.components, state)
    )
    view["callback_id"] = AlertFormIds.DECLARE_MODAL
    view["private_metadata"] = json.dumps({"alert_group": declaration.group.id})
    texts = {
        Block.NATURE: report.nature,
        Block.IMPACT: report.impact,
        Block.EVIDENCE: report.evidence,
        Block.SERVICE: report.service or "",
    }
    choices = {Block.SEVERITY: report.severity, Block.DISCOVERY: report.discovery}
    for block in view["blocks"]:
        element = block.get("element") or {}
        block_id = block.get("block_id")
        if block_id in texts and texts[block_id]:
            limit = int(element.get("max_length") or 3000)
            element["initial_value"] = texts[block_id][:limit]
        elif block_id in choices:
            chosen = [o for o in element.get("options") or [] if o["value"] == choices[block_id]]
            if chosen:
                element["initial_option"] = chosen[0]
    shown = fit(declaration.group.title, 300)
    view["blocks"].insert(0, context(f":rotating_light: From the alert *{shown}*").to_dict())
    return view


def not_an_incident_from_alert(
    verdict: Verdict, *, allow_anyway: bool, draft: str, group_id: int
) -> Payload:
    """The "not an incident" form pushed over it: declaring anyway links the group too."""
    view = not_an_incident_modal(verdict, allow_anyway=allow_anyway, draft=draft)
    view["callback_id"] = AlertFormIds.NOT_AN_INCIDENT_MODAL
    view["private_metadata"] = json.dumps({"draft": draft, "alert_group": group_id})
    return view


# --- Link -----------------------------------------------------------------------------


def link_modal(group: AlertGroup, linked: Incident | None) -> Payload:
    """Which open incident the alert group belongs to (the picker's select)."""
    select = ExternalDataSelectElement(
        action_id=PickerIds.SELECT,
        placeholder=plain(messages.PICKER_PLACEHOLDER, 150),
        min_query_length=0,  # the newest open incidents as soon as it opens
    )
    blocks: list[SlackBlock] = [section(f"Link the alert *{fit(group.title, 300)}* to:")]
    blocks.append(input_block(PickerIds.INCIDENT, messages.PICKER_LABEL, select))
    if linked is not None:
        blocks.append(context(MOVE_NOTE.format(ref=linked.ref)))
    return modal(AlertFormIds.LINK_MODAL, "Link alert", blocks, "Link", alert_group=group.id)


# --- Silence --------------------------------------------------------------------------


def silence_modal(group: AlertGroup, choices: tuple[int, ...]) -> Payload:
    """How long and why; the durations are those the policy allows."""
    options = [option(str(h), hours_label(h)) for h in choices]
    firing = f"{group.firing} firing alert{'s' if group.firing != 1 else ''}"
    blocks: list[SlackBlock] = [
        section(f"Silence *{fit(group.title, 300)}* ({firing})"),
        select_input(AlertFormIds.DURATION, "For", options, initial=options[0]),
        text_input(AlertFormIds.REASON, "Why", limit=REASON_MAX, multiline=False),
        context(SILENCE_NOTE),
    ]
    return modal(
        AlertFormIds.SILENCE_MODAL, "Silence alert", blocks, "Silence", alert_group=group.id
    )


# --- the incident's report ------------------------------------------------------------


def alerts_section(linked: LinkedAlerts, policy: Policy) -> list[SlackBlock]:
    """The report's "Alerts" line: each linked group (title, firing/total, status), at
    most a few, then how many more; nothing when none is linked."""
    if not linked.total:
        return []
    lines = []
    for group in linked.groups:
        icon = ":red_circle:" if group.status == FIRING else ":large_green_circle:"
        lines.append(
            f"{icon} {fit(group.title, 200)} · {escape(severity_label(policy, group.severity))}"
            f" · {group.firing}/{group.total} firing · {escape(group.status)}"
        )
    if linked.total > len(linked.groups):
        lines.append(f"and {linked.total - len(linked.groups)} more")
    return [labelled("Alerts", "\n".join(lines), escaped=True)]
