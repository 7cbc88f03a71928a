"""The incident picker's modals and options: which open incident a command typed outside
an incident channel is for, and what running it there answered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import ExternalDataSelectElement

from bot.domain.incident import Incident
from bot.domain.policy import Policy
from bot.slack import messages
from bot.slack.blocks.common import (
    MODAL_TITLE_MAX,
    SECTION_TEXT_MAX,
    Payload,
    clip,
    fit,
    input_block,
    modal,
    option,
    plain,
    section,
    severity_label,
)
from bot.slack.ids import PickerIds

MAX_VIEW_BLOCKS = 100
MAX_OPTIONS = 100  # Slack's most options in one select
TYPED_SHOWN = 500  # of the typed command, in the picker (all of it is kept as a draft)


def picker_modal(command: str, text: str, draft: str) -> Payload:
    """Asks which incident `/incident <text>` is for; `draft` names the typed command,
    kept on the server. The options load as the person types (`block_suggestion`)."""
    select = ExternalDataSelectElement(
        action_id=PickerIds.SELECT,
        placeholder=plain(messages.PICKER_PLACEHOLDER, 150),
        min_query_length=0,  # the newest open incidents as soon as it opens
    )
    intro = messages.PICKER_INTRO.format(command=fit(command, 40))
    typed = messages.PICKER_TYPED.format(text=fit(text, TYPED_SHOWN))
    blocks = [
        section(f"{intro}\n{typed}"),
        input_block(PickerIds.INCIDENT, messages.PICKER_LABEL, select),
    ]
    return modal(
        PickerIds.MODAL, messages.PICKER_TITLE, blocks, messages.PICKER_SUBMIT, draft=draft
    )


def incident_options(incidents: Sequence[Incident], policy: Policy | None = None) -> list[Payload]:
    """One option per incident: `INC-12 · SEV2 · Checkout errors`, the severity as the
    policy labels it (its key without a policy; 75 characters at most: plain text, so the
    title is not escaped); the value is the incident's number."""
    return [
        option(str(i.id), f"{i.ref} · {_severity(policy, i.severity)} · {i.title}").to_dict()
        for i in incidents[:MAX_OPTIONS]
    ]


def _severity(policy: Policy | None, severity: str) -> str:
    return severity_label(policy, severity) if policy is not None else severity


def result_modal(text: str, blocks: Sequence[Payload] | None) -> Payload:
    """What the command answered, where the picker was: its text, then its blocks (a
    timeline page) without their buttons, which work only in a message."""
    first = section(clip(text or messages.PICKER_DONE_TITLE, SECTION_TEXT_MAX))
    shown: list[Any] = [first.to_dict()] if text else []
    shown += [b for b in blocks or () if b.get("type") != "actions"]
    view = modal(
        PickerIds.RESULT_MODAL,
        clip(messages.PICKER_DONE_TITLE, MODAL_TITLE_MAX),
        [first],
        None,
        close=messages.PICKER_CLOSE,
    )
    view["blocks"] = shown[:MAX_VIEW_BLOCKS] or view["blocks"]  # rendered by the answer
    return view
