"""Block Kit for the timeline, its echo in the channel, status updates and emergency changes."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.models.blocks import ButtonElement, CheckboxesElement, SectionBlock

from bot.domain.changes import DECISIONS, NEXT_STEPS, STEP_LABELS, ChangeStep
from bot.domain.incident import Incident, reference
from bot.domain.policy import Policy
from bot.domain.status import LABELS, allowed_targets
from bot.domain.status_page import ComponentState
from bot.domain.timeline import EntryKind, TimelineEntry
from bot.services.changes import Change
from bot.slack import messages
from bot.slack.blocks.common import (
    FIELD_TEXT_MAX,
    SECTION_TEXT_MAX,
    Payload,
    SlackBlock,
    Zone,
    actions,
    button,
    clip,
    context,
    escape,
    fields,
    fit,
    input_block,
    labelled_whole,
    mention,
    modal,
    option,
    plain,
    rendered,
    role_title,
    section,
    sections,
    select_input,
    slack_date,
    text_input,
    with_mentions,
)
from bot.slack.blocks.status_page import incident_component_inputs, public_update_input
from bot.slack.ids import VALUE, TimelineIds, change_block_id, change_step_action

PAGE_SIZE = 15
# An entry's text in a timeline page, and in the channel's echo of it (escaped characters;
# a longer one ends with the way to read all of it).
TIMELINE_LINE_CHARS = 600
ECHO_ENTRY_CHARS = 1800


def status_modal(
    incident: Incident,
    *,
    policy: Policy | None = None,
    effects: Mapping[str, ComponentState] | None = None,
) -> Payload:
    """The status form: the new status, the (internal) update for stakeholders, the
    public update, and, when the policy lists components, those the incident affects
    (pre-filled with `effects`, what it declares now)."""
    options = [option(s.value, LABELS[s]) for s in allowed_targets(incident.status)]
    now = messages.CURRENT_STATUS.format(status=LABELS[incident.status])
    blocks: list[SlackBlock] = [
        section(f"*{incident.ref}* {escape(incident.title)}\n{now}"),
        select_input(TimelineIds.STATUS, "New status", options),
        text_input(TimelineIds.UPDATE, "Update for stakeholders", limit=3000),
        public_update_input(),
        *(incident_component_inputs(policy, effects) if policy is not None else ()),
    ]
    return modal(
        TimelineIds.STATUS_MODAL,
        messages.STATUS_TITLE,
        blocks,
        "Post update",
        incident_id=incident.id,
    )


def change_modal(incident: Incident, policy: Policy) -> Payload:
    questions = [option(q.key, q.label) for q in policy.change.handling_checklist]
    heading = messages.CHANGE_FOR.format(ref=incident.ref, title=escape(incident.title))
    blocks: list[SlackBlock] = [
        section(heading),
        text_input(TimelineIds.SUMMARY, "Summary", limit=200, multiline=False),
        text_input(TimelineIds.PLAN, "Plan", limit=3000),
        text_input(TimelineIds.ROLLBACK, "Rollback plan", limit=3000),
        text_input(TimelineIds.RISK, "Risk", limit=3000),
    ]
    if questions:
        ticks = CheckboxesElement(action_id=VALUE, options=questions)
        blocks.append(
            input_block(TimelineIds.HANDLING, messages.HANDLING_QUESTION, ticks, optional=True)
        )
    return modal(
        TimelineIds.CHANGE_MODAL, messages.CHANGE_TITLE, blocks, "Propose", incident_id=incident.id
    )


def capture_modal(incidents: list[Incident], text: str, key: str) -> Payload:
    """Which incident's timeline: the message's start is shown; the private metadata
    carries only the capture request's key (the request keeps the message: Slack allows
    3,000 characters of metadata, which a long message in a non-Latin script exceeds)."""
    options = [option(str(i.id), f"{i.ref} {i.title}") for i in incidents[:100]]
    blocks = [
        section("> " + escape(clip(text, 500))),
        select_input(TimelineIds.INCIDENT, messages.WHICH_INCIDENT, options),
    ]
    return modal(TimelineIds.CAPTURE_MODAL, messages.CAPTURE_TITLE, blocks, "Add", capture=key)


# Entries whose text is a person's words (a note, a captured message, a status update):
# nothing in them is Firewatch's own markup.
PEOPLES_WORDS = frozenset({EntryKind.NOTE, EntryKind.CAPTURED, EntryKind.STATUS})


def entry_markup(entry: TimelineEntry, limit: int | None = None) -> str:
    """An entry's text for mrkdwn or `text`: escaped; in an entry Firewatch wrote, its own
    mentions of the people the entry is about (its actor and the ids in its data) stay live.
    Past `limit` characters (escaped, as Slack counts them) it is cut before escaping and
    ends with a marker saying how to read all of it (`/incident timeline INC-n #seq`)."""
    more = messages.TRUNCATED_ENTRY.format(ref=reference(entry.incident_id), seq=entry.seq)
    text = escape(entry.text) if limit is None else fit(entry.text, limit, more)
    if entry.kind in PEOPLES_WORDS:
        return text
    data = entry.data or {}
    return with_mentions(text, [entry.actor, *(v for v in data.values() if isinstance(v, str))])


def _entry_line(entry: TimelineEntry, zone: Zone) -> str:
    text = entry_markup(entry, TIMELINE_LINE_CHARS)
    link = entry.data.get("permalink") if entry.data else None
    if link:
        text += f" (<{link}|message>)"
    at = slack_date(entry.at, zone)
    return f"`#{entry.seq}` {at} · {mention(entry.actor, 'Firewatch')} · {text}"


def _page_buttons(
    incident: Incident, shown: int, *, offset: int, total: int
) -> list[ButtonElement]:
    """← Earlier and Later →; each value is `<incident id>:<offset of the page it opens>`."""
    buttons = []
    if offset > 0:
        earlier = f"{incident.id}:{max(0, offset - PAGE_SIZE)}"
        buttons.append(button("← Earlier", TimelineIds.PAGE_PREV, earlier))
    if offset + shown < total:
        later = f"{incident.id}:{offset + PAGE_SIZE}"
        buttons.append(button("Later →", TimelineIds.PAGE_NEXT, later))
    return buttons


def timeline_page(
    incident: Incident,
    entries: list[TimelineEntry],
    *,
    offset: int,
    total: int,
    zone: Zone = "UTC",
) -> list[Payload]:
    """`/incident timeline`: one page of entries, oldest first, with Earlier and Later."""
    withdrawn = {e.data.get("withdraws") for e in entries if e.kind == "withdrawn"}
    lines = [
        f"~{_entry_line(e, zone)}~" if e.seq in withdrawn else _entry_line(e, zone) for e in entries
    ]
    heading = messages.TIMELINE_HEADING.format(
        ref=incident.ref, first=offset + 1, last=offset + len(entries), total=total
    )
    blocks: list[SlackBlock] = [*sections([heading, *lines])]
    buttons = _page_buttons(incident, len(entries), offset=offset, total=total)
    if buttons:
        blocks.append(actions(*buttons, block_id=TimelineIds.TIMELINE_PAGES))
    return rendered(blocks)


def timeline_entry(
    incident: Incident, entry: TimelineEntry, *, withdrawn: bool = False, zone: Zone = "UTC"
) -> list[Payload]:
    """`/incident timeline #7`: one entry whole, however long (a note holds up to 40,000
    characters), in plain-text sections of at most 3,000 (plain text is shown as written:
    nothing to escape, so nothing grows)."""
    heading = messages.TIMELINE_ENTRY.format(
        ref=incident.ref,
        seq=entry.seq,
        at=slack_date(entry.at, zone),
        who=mention(entry.actor, "Firewatch"),
        size=f"{len(entry.text):,}",
    )
    blocks: list[SlackBlock] = [section(f"~{heading}~" if withdrawn else heading)]
    blocks += [
        SectionBlock(text=plain(part, SECTION_TEXT_MAX))
        for part in _plain_pieces(entry.text or "—", SECTION_TEXT_MAX)
        if part.strip()
    ]
    return rendered(blocks)


def _plain_pieces(text: str, size: int) -> list[str]:
    """Text in pieces of at most `size`, at a line break in the second half when one is."""
    out = []
    while len(text) > size:
        cut = text.rfind("\n", size // 2, size)
        cut = cut + 1 if cut > 0 else size
        out.append(text[:cut])
        text = text[cut:]
    return [*out, text] if text else out


def _step_style(step: ChangeStep) -> str | None:
    if step is ChangeStep.APPROVE:
        return "primary"
    return "danger" if step in (ChangeStep.REJECT, ChangeStep.ROLL_BACK) else None


def _change_actions(change: Change, policy: Policy) -> list[SlackBlock]:
    """The buttons for the change's next steps, and who may decide when one is a decision."""
    next_steps = NEXT_STEPS[change.status]
    if not next_steps:
        return []
    buttons = [
        button(
            STEP_LABELS[step],
            change_step_action(step.value),
            f"{change.id}:{step.value}",
            style=_step_style(step),
        )
        for step in next_steps
    ]
    out: list[SlackBlock] = [actions(*buttons, block_id=change_block_id(change.id))]
    if any(step in DECISIONS for step in next_steps):
        title = escape(role_title(policy, policy.accountable("approve_change")))
        out.append(context(messages.CHANGE_DECIDERS.format(role=title)))
    return out


def _change_texts(change: Change) -> list[SlackBlock]:
    """Plan, rollback plan and risk side by side while each fits a field (2,000
    characters once escaped); otherwise each in full, one under the other."""
    texts = {"Plan": change.plan, "Rollback plan": change.rollback_plan, "Risk": change.risk}
    shown = {label: f"*{label}*\n{escape(text)}" for label, text in texts.items()}
    if all(len(text) <= FIELD_TEXT_MAX for text in shown.values()):
        return [fields(*shown.values())]
    more = messages.TRUNCATED
    return [
        block for label, text in texts.items() for block in labelled_whole(label, text, more=more)
    ]


def change_message(change: Change, incident: Incident, policy: Policy) -> tuple[str, list[Payload]]:
    labels = {q.key: q.label for q in policy.change.handling_checklist}
    ticks = "\n".join(
        f"{'☑' if change.checklist.get(key) else '☐'} {escape(label)}"
        for key, label in labels.items()
    )
    status = change.status.value.replace("_", " ")
    steps = "\n".join(
        messages.CHANGE_STEP_DONE.format(step=name.replace("_", " "), user=info["by"])
        for name, info in change.steps.items()
    )
    heading = messages.CHANGE_HEADING.format(
        ref=change.ref,
        summary=escape(change.summary),
        status=status,
        user=change.proposed_by,
        incident=incident.ref,
    )
    blocks: list[SlackBlock] = [section(heading), *_change_texts(change)]
    if ticks:
        blocks.append(section("*Handling checklist*\n" + ticks))
    if steps:
        blocks.append(context(steps))
    blocks += _change_actions(change, policy)
    text = messages.CHANGE_TEXT.format(
        ref=change.ref, incident=incident.ref, summary=escape(change.summary), status=status
    )
    return text, rendered(blocks)


STATUS_UPDATE_CHARS = 2800


def status_update(incident: Incident, entry: TimelineEntry) -> tuple[str, list[Payload]]:
    who = mention(entry.actor, "Firewatch")
    update = entry_markup(entry, STATUS_UPDATE_CHARS)
    body = section(f":mega: *{incident.ref}* {update} · {who}")
    return f"{incident.ref} {update}", rendered([body])


# A grouped echo: lines packed into mrkdwn sections (3,000 characters each at most), at
# most 50 blocks per message (Slack's limits).
ECHO_SECTION_CHARS = 2900
ECHO_MAX_BLOCKS = 50
# The message's fallback text repeats the entries; it stays whole (Slack truncates
# `text` beyond 40,000 characters).
ECHO_TEXT_CHARS = 39000


def timeline_entries(
    entries: list[TimelineEntry], zone: Zone = "UTC"
) -> tuple[str, list[Payload], int]:
    """Timeline entries echoed in the incident channel, one line each, packed into as few
    blocks as fit; returns the fallback text, the blocks and how many entries (from the
    first) the message shows — the rest go in the next message."""
    sections: list[list[str]] = []
    size = 0
    shown = 0
    text_size = 0
    texts: list[str] = []
    for entry in entries:
        markup = entry_markup(entry, ECHO_ENTRY_CHARS)
        text_size += len(markup) + 1
        if shown and text_size > ECHO_TEXT_CHARS:
            break
        who = mention(entry.actor, "Firewatch")
        line = f":memo: {markup} · {who} · {slack_date(entry.at, zone)}"
        if sections and size + len(line) + 1 <= ECHO_SECTION_CHARS:
            sections[-1].append(line)
            size += len(line) + 1
        elif len(sections) < ECHO_MAX_BLOCKS:
            sections.append([line])
            size = len(line)
        else:
            break
        shown += 1
        texts.append(markup)
    body = rendered([section("\n".join(lines)) for lines in sections])
    text = "\n".join(texts)  # the entries say what happened; the channel is the incident's
    return text, body, max(shown, 1) if entries else 0
