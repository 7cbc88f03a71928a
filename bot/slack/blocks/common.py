"""Block Kit primitives every builder shares, written once with slack_sdk's models.

Slack's limits are applied here (`clip`), so a builder never trips slack_sdk's validation
with a reporter's long text; the payload of anything within the limits is unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    BlockElement,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    InputInteractiveElement,
    InteractiveElement,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.policy import Policy
from bot.slack.ids import VALUE

Payload = dict[str, Any]  # JSON as Slack receives it
SlackBlock = Block

SECTION_TEXT_MAX = 3000  # a section's or a context's text
FIELD_TEXT_MAX = 2000  # one of a section's fields
LABEL_MAX = 2000  # an input's label and hint
OPTION_TEXT_MAX = 75  # an option's text and description
HEADER_TEXT_MAX = 150
MODAL_TITLE_MAX = 24


def clip(text: str, limit: int) -> str:
    """Slack refuses text over a field's limit: cut it, and say so with an ellipsis.
    For plain text and raw (not yet escaped) text; markup goes through `clip_markup`."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_markup(markup: str, limit: int) -> str:
    """The last guard for escaped mrkdwn or `text` over a limit: cut it, never inside an
    entity (`&amp;` cut to `&am`) nor inside Firewatch's own `<…>` (a mention, date or
    link), at a line break when one is near, and end with a visible ellipsis. Builders fit
    people's text with `fit` or `pieces` first, so this only trims what they add around it."""
    if len(markup) <= limit:
        return markup
    cut = markup[: limit - 1]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    if cut.rfind("&") > cut.rfind(";"):
        cut = cut[: cut.rfind("&")]
    line = cut.rfind("\n")
    if line >= len(cut) * 3 // 4:
        cut = cut[:line]
    return cut + "…"


_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """The one escaping rule: user text made safe for `mrkdwn` and a message's top-level
    `text` (both parsed for mentions and links). `&`, `<`, `>` become `&amp;`, `&lt;`,
    `&gt;`, and nothing else changes. Every piece of user text goes through it exactly
    once; Firewatch's own mentions, channel links, dates and links are added after it, so
    they stay live. `plain_text` objects are not parsed: they take the text as it is."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped_prefix(text: str, budget: int) -> int:
    """How many characters of `text` fit in `budget` characters once escaped."""
    size = 0
    for index, char in enumerate(text):
        size += len(_ENTITIES.get(char, char))
        if size > budget:
            return index
    return len(text)


def fit(text: str, limit: int, more: str = "…") -> str:
    """A person's `text` escaped, in at most `limit` characters as Slack counts them (the
    escaped text): when it does not fit it is cut on the raw text, so never inside an
    entity, and `more` (a visible marker saying where to read it all) ends it."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    return escape(text[: _escaped_prefix(text, limit - len(more))]).rstrip() + more


def _raw_pieces(text: str, limit: int) -> list[str]:
    out: list[str] = []
    rest = text
    while rest:
        size = _escaped_prefix(rest, limit)
        if size < len(rest):
            for separator in ("\n", " "):
                near = rest.rfind(separator, 0, size)
                if near > size // 2:
                    size = near + 1
                    break
        out.append(rest[:size])
        rest = rest[size:]
    return out


def pieces(text: str, limit: int) -> list[str]:
    """A person's `text` escaped and split, whole, into pieces of at most `limit`
    characters each (to show across several sections or messages): cut on the raw text,
    at a line break or else a space in the second half of a piece when there is one."""
    return [escape(piece) for piece in _raw_pieces(text, limit)]


_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")


def with_mentions(escaped: str, users: Iterable[str | None]) -> str:
    """Escaped text Firewatch wrote itself (a timeline entry) with its own mentions of
    `users` live again; any other mention in it stays text."""
    known = {user for user in users if user}
    return _ESCAPED_MENTION.sub(lambda m: f"<@{m[1]}>" if m[1] in known else m[0], escaped)


# Slack's date formatting (mrkdwn only): `<!date^UNIX^TOKENS|fallback>`. Every time and
# date a message or view shows goes through `slack_date` / `slack_day` (or, in plain_text,
# which Slack does not parse, `plain_time`), so each reader sees their own time zone.
DATE_TOKENS = ("{date_short_pretty} {time}", "{date_short}", "{date_long}", "{date_pretty}")
Zone = str | tzinfo  # an IANA name ("Europe/Paris") or a ZoneInfo


def policy_zone(policy: Policy) -> str:
    """The time zone fallbacks are written in: the policy's (its working time's)."""
    return policy.working_time.timezone


def _tz(zone: Zone) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def plain_time(when: datetime | None, zone: Zone = "UTC") -> str:
    """A time where Slack's date formatting does not work (plain_text: headers, options,
    buttons) and a `<!date…>`'s fallback: in `zone`, saying which ("2026-12-06 14:30 UTC")."""
    if when is None:
        return "—"
    local = _aware(when).astimezone(_tz(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or zone}"


def slack_date(when: datetime | None, zone: Zone = "UTC", *, tokens: str = DATE_TOKENS[0]) -> str:
    """A time shown by Slack in each reader's own time zone; clients that cannot show the
    fallback, in the policy's `zone` and naming it."""
    if when is None:
        return "—"
    epoch = int(_aware(when).timestamp())
    return f"<!date^{epoch}^{tokens}|{plain_time(when, zone)}>"


def slack_day(day: date | str | None, zone: Zone = "UTC", *, tokens: str = DATE_TOKENS[1]) -> str:
    """A date without a time (a due date), by Slack in the reader's format. It stands for
    noon of that day in `zone`, so readers within twelve hours of it see the same day;
    the fallback is the ISO date. A stored ISO string is taken as it is."""
    if day is None or day == "":
        return "—"
    if isinstance(day, datetime):
        day = _aware(day).astimezone(_tz(zone)).date()
    elif isinstance(day, str):
        stored = day
        try:
            day = date.fromisoformat(stored)
        except ValueError:
            return escape(stored)
    noon = datetime.combine(day, time(12), _tz(zone))
    return f"<!date^{int(noon.timestamp())}^{tokens}|{day.isoformat()}>"


def mention(user: str | None, otherwise: str) -> str:
    """A user mention, or the word that stands for nobody in particular."""
    return f"<@{user}>" if user else otherwise


def channel_link(channel_id: str | None, otherwise: str) -> str:
    """A channel link, or what to say while the channel does not exist (yet)."""
    return f"<#{channel_id}>" if channel_id else otherwise


def severity_label(policy: Policy, severity: str) -> str:
    """The policy's label for a severity; a key the policy no longer has shows as itself."""
    found = policy.severities.get(severity)
    return found.label if found else severity


def role_title(policy: Policy, role: str) -> str:
    """The policy's title for a role key; a party that is not a role shows as itself."""
    return policy.roles[role].title if role in policy.roles else role


# --- blocks ---------------------------------------------------------------------------------


def rendered(blocks: Sequence[SlackBlock]) -> list[Payload]:
    """The JSON Slack receives for a list of blocks."""
    return [block.to_dict() for block in blocks]


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip_markup(text, limit))


def plain(text: str, limit: int, *, emoji: bool = True) -> PlainTextObject:
    """Plain text. Messages first written as raw JSON carry no `emoji` flag; `emoji=False`
    keeps their payload as it was (Slack reads a missing flag as true)."""
    return PlainTextObject(text=clip(text, limit), emoji=True if emoji else None)


def section(text: str, *, accessory: BlockElement | None = None) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text), accessory=accessory)


MESSAGE_BLOCKS_MAX = 50


def sections(lines: Sequence[str], most: int = MESSAGE_BLOCKS_MAX - 2) -> list[SectionBlock]:
    """Lines of markup packed into as few sections as hold them (3,000 characters each);
    past `most` sections the rest is left out and the last one ends with an ellipsis."""
    texts: list[str] = []
    for line in lines:
        if texts and len(texts[-1]) + 1 + len(line) <= SECTION_TEXT_MAX:
            texts[-1] += "\n" + line
        elif len(texts) < most:
            texts.append(line)
        else:
            texts[-1] = clip_markup(texts[-1] + "\n…", SECTION_TEXT_MAX)
            break
    return [section(text) for text in texts]


def labelled(label: str, body: str, *, escaped: bool = False, more: str = "…") -> SectionBlock:
    """A bold label over its text; an empty text shows as a dash. A person's text that
    does not fit one section is cut before escaping and ends with `more`."""
    room = SECTION_TEXT_MAX - len(label) - 3
    return section(f"*{label}*\n{(body if escaped else fit(body, room, more)) or '—'}")


def labelled_whole(label: str, body: str, *, most: int = 6, more: str = "…") -> list[SectionBlock]:
    """A bold label over a person's text, shown whole across as many sections as it needs
    (at most `most`; past that, the last one is cut and ends with `more`)."""
    room = SECTION_TEXT_MAX - len(label) - 3
    raw = _raw_pieces(body, room)
    shown = [escape(piece) for piece in raw[: most - 1]]
    if len(raw) >= most:
        shown.append(fit("".join(raw[most - 1 :]), room, more))
    first, *rest = shown or ["—"]
    return [section(f"*{label}*\n{first}"), *(section(part) for part in rest)]


def fields(*texts: str) -> SectionBlock:
    """Short facts side by side (two columns on desktop)."""
    return SectionBlock(fields=[mrkdwn(text, FIELD_TEXT_MAX) for text in texts])


def context(text: str) -> ContextBlock:
    """Small grey text under a message: notes, who did what, how to go on."""
    return ContextBlock(elements=[mrkdwn(text)])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=plain(text, HEADER_TEXT_MAX, emoji=False))


def button(
    text: str, action_id: str, value: str, *, style: str | None = None, emoji: bool = True
) -> ButtonElement:
    return ButtonElement(
        text=plain(text, OPTION_TEXT_MAX, emoji=emoji),
        action_id=action_id,
        value=value,
        style=style,
    )


def actions(*elements: InteractiveElement, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(block_id=block_id, elements=list(elements))


def option(value: str, text: str, description: str | None = None, *, emoji: bool = True) -> Option:
    """A choice in a select, radio or checkbox list; Slack shows 75 characters of each."""
    return Option(
        value=value,
        text=plain(text, OPTION_TEXT_MAX, emoji=emoji),
        description=plain(description, OPTION_TEXT_MAX, emoji=emoji) if description else None,
    )


# --- modals -----------------------------------------------------------------------------------


def modal(
    callback: str,
    title: str,
    blocks: Sequence[SlackBlock],
    submit: str | None,
    *,
    close: str = "Cancel",
    **metadata: Any,
) -> Payload:
    """A modal view; `metadata` comes back, as JSON, with the submission."""
    return View(
        type="modal",
        callback_id=callback,
        title=PlainTextObject(text=clip(title, MODAL_TITLE_MAX)),
        submit=PlainTextObject(text=submit) if submit else None,
        close=PlainTextObject(text=close),
        private_metadata=json.dumps(metadata),
        blocks=list(blocks),
    ).to_dict()


def input_block(
    block_id: str,
    label: str,
    element: InputInteractiveElement,
    *,
    optional: bool | None = None,
    hint: str | None = None,
) -> InputBlock:
    """One form input; its element's action_id is always VALUE (`read_value` relies on it)."""
    return InputBlock(
        block_id=block_id,
        label=clip(label, LABEL_MAX),
        hint=clip(hint, LABEL_MAX) if hint else None,
        optional=optional,
        element=element,
    )


def text_input(
    block_id: str,
    label: str,
    *,
    limit: int,
    multiline: bool = True,
    optional: bool | None = None,
    hint: str | None = None,
    initial: str | None = None,
) -> InputBlock:
    """A text box holding at most `limit` characters, pre-filled with `initial`."""
    element = PlainTextInputElement(
        action_id=VALUE,
        multiline=multiline,
        max_length=limit,
        initial_value=initial[:limit] if initial else None,
    )
    return input_block(block_id, label, element, optional=optional, hint=hint)


def select_input(
    block_id: str,
    label: str,
    options: Sequence[Option],
    *,
    initial: Option | None = None,
    optional: bool | None = None,
) -> InputBlock:
    element = StaticSelectElement(action_id=VALUE, options=list(options), initial_option=initial)
    return input_block(block_id, label, element, optional=optional)
