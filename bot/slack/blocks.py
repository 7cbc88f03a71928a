"""Block Kit builders: small functions from domain objects to Slack's JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.incident import TEXT_MAX, TITLE_MAX, Incident
from bot.domain.policy import Policy
from bot.services.incidents import required_report_fields
from bot.slack import messages
from bot.slack.ids import VALUE, Block, Callback

SLACK_OPTION_TEXT_MAX = 75
SLACK_SECTION_TEXT_MAX = 3000


escape = messages.escape


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_date(when: datetime | None) -> str:
    """Shown in each reader's own time zone by Slack."""
    if when is None:
        return "—"
    epoch = int(when.timestamp())
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def declare_modal(
    policy: Policy, *, title: str = "", origin_channel: str | None = None
) -> dict[str, Any]:
    required = required_report_fields(policy)
    severities = [
        Option(
            value=key,
            text=_clip(f"{sev.label} — {sev.description}", SLACK_OPTION_TEXT_MAX),
        )
        for key, sev in policy.severities.items()
    ]
    discovery = [
        Option(value=m.key, text=_clip(m.label, SLACK_OPTION_TEXT_MAX))
        for m in policy.report.discovery_methods
    ]

    def text_input(
        block: Block, label: str, *, multiline: bool, limit: int, hint: str | None = None
    ) -> InputBlock:
        return InputBlock(
            block_id=block,
            label=label,
            hint=hint,
            optional=block not in required and block != Block.TITLE,
            element=PlainTextInputElement(
                action_id=VALUE,
                multiline=multiline,
                max_length=limit,
                initial_value=title[:limit] if block == Block.TITLE and title else None,
            ),
        )

    blocks = [
        text_input(Block.TITLE, "Title", multiline=False, limit=TITLE_MAX),
        InputBlock(
            block_id=Block.SEVERITY,
            label="Severity",
            element=StaticSelectElement(action_id=VALUE, options=severities),
        ),
        text_input(Block.NATURE, "What is happening?", multiline=True, limit=TEXT_MAX),
        InputBlock(
            block_id=Block.DISCOVERY,
            label="How was it discovered?",
            optional=Block.DISCOVERY not in required,
            element=StaticSelectElement(action_id=VALUE, options=discovery),
        ),
        text_input(Block.IMPACT, "Potential impact", multiline=True, limit=TEXT_MAX),
        text_input(
            Block.EVIDENCE,
            "Evidence",
            multiline=True,
            limit=TEXT_MAX,
            hint="Links to dashboards, logs, screenshots, or pasted output.",
        ),
        text_input(Block.SERVICE, "Affected service", multiline=False, limit=200),
    ]
    view = View(
        type="modal",
        callback_id=Callback.DECLARE_MODAL,
        title=PlainTextObject(text="Declare an incident"),
        submit=PlainTextObject(text="Declare"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"origin_channel": origin_channel}),
        blocks=blocks,
    )
    return view.to_dict()


def _facts(incident: Incident, policy: Policy) -> list[MarkdownTextObject]:
    severity = policy.severities.get(incident.severity)
    label = severity.label if severity else incident.severity
    channel = f"<#{incident.channel_id}>" if incident.channel_id else "—"
    return [
        MarkdownTextObject(text=f"*Severity*\n{escape(label)}"),
        MarkdownTextObject(text=f"*Status*\n{incident.status.value.capitalize()}"),
        MarkdownTextObject(text=f"*Reporter*\n<@{incident.reporter_id}>"),
        MarkdownTextObject(text=f"*Channel*\n{channel}"),
        MarkdownTextObject(text=f"*Declared*\n{_slack_date(incident.declared_at)}"),
        MarkdownTextObject(text=f"*Response due*\n{_slack_date(incident.response_deadline)}"),
    ]


def _section(label: str, body: str) -> SectionBlock:
    text = f"*{label}*\n{escape(body or '—')}"
    return SectionBlock(text=MarkdownTextObject(text=_clip(text, SLACK_SECTION_TEXT_MAX)))


def announcement(incident: Incident, policy: Policy) -> tuple[str, list[dict[str, Any]]]:
    text = messages.announcement_text(incident, policy)
    rich = messages.announcement_text(incident, policy, mrkdwn=True)
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f":rotating_light: {rich}")),
        SectionBlock(fields=_facts(incident, policy)),
    ]
    return text, [b.to_dict() for b in blocks]


def incident_report(
    incident: Incident, policy: Policy, *, note: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    discovery = {m.key: m.label for m in policy.report.discovery_methods}
    text = f"Incident report · {incident.ref}: {incident.title}"
    blocks: list[Any] = []
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f":warning: {escape(note)}")]))
    blocks += [
        HeaderBlock(text=PlainTextObject(text=_clip(text, 150))),
        SectionBlock(fields=_facts(incident, policy)),
        DividerBlock(),
        _section("What is happening?", incident.nature),
        _section("How was it discovered?", discovery.get(incident.discovery, incident.discovery)),
        _section("Potential impact", incident.impact),
        _section("Evidence", incident.evidence),
    ]
    if incident.service:
        blocks.append(_section("Affected service", incident.service))
    return text, [b.to_dict() for b in blocks]
