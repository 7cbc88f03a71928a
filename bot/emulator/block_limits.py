"""Block Kit limits Slack enforces, as the emulator checks them (fidelity.md, "Limits").

Messages (``chat.postMessage``/``update``/``postEphemeral``) that break a limit are answered
``invalid_blocks``; views (``views.open``/``push``/``update``/``publish``) ``invalid_arguments``,
as Slack does for a view that fails its schema. Either way ``response_metadata.messages`` says
what is wrong and where, in Slack's own form::

    [ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]
"""

from __future__ import annotations

from typing import Any

from bot.emulator.api_base import SlackError

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255  # action_id, block_id, callback_id, external_id
MAX_OPTIONS = 100
MAX_OPTION_GROUPS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTION_DESCRIPTION = 75
MAX_CHOICE_OPTIONS = 10  # checkboxes, radio_buttons
MAX_LABEL = 2000
MAX_HINT = 2000
MAX_PLACEHOLDER = 150
MAX_INPUT_LENGTH = 3000
MAX_MODAL_TITLE = 24  # also submit and close
MAX_PRIVATE_METADATA = 3000

CHOICE_ELEMENTS = frozenset({"checkboxes", "radio_buttons"})
EXTERNAL_SELECTS = frozenset({"external_select", "multi_external_select"})
STATIC_SELECTS = frozenset({"static_select", "multi_static_select"})
MAX_DATE_TIME = 9_999_999_999  # a datetimepicker's Unix seconds: up to 10 digits


class _Invalid(Exception):
    def __init__(self, reason: str, pointer: str) -> None:
        super().__init__(reason)
        self.message = f"[ERROR] {reason} [json-pointer:{pointer}]"


def check_message_blocks(blocks: Any) -> None:
    """Raise ``SlackError("invalid_blocks")`` if a message's ``blocks`` break a Slack limit."""
    if blocks is None or blocks == []:
        return
    try:
        _check_blocks(blocks, "/blocks", MAX_MESSAGE_BLOCKS)
    except _Invalid as exc:
        raise SlackError("invalid_blocks", response_metadata={"messages": [exc.message]}) from None


def check_view(view: Any) -> None:
    """Raise ``SlackError("invalid_arguments")`` if a modal or Home tab view breaks a limit."""
    try:
        _check_view(view)
    except _Invalid as exc:
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": [exc.message]}
        ) from None


def _check_view(view: Any) -> None:
    if not isinstance(view, dict):
        raise _Invalid("must be an object", "/view")
    if view.get("type") == "modal":
        for key in ("title", "submit", "close"):
            _text(view.get(key), MAX_MODAL_TITLE, f"/view/{key}")
        if not isinstance(view.get("title"), dict):
            raise _Invalid("missing required field: title", "/view")
    _length(view.get("private_metadata"), MAX_PRIVATE_METADATA, "/view/private_metadata")
    _length(view.get("callback_id"), MAX_ID, "/view/callback_id")
    _length(view.get("external_id"), MAX_ID, "/view/external_id")
    _check_blocks(view.get("blocks") or [], "/view/blocks", MAX_VIEW_BLOCKS)


def _check_blocks(blocks: Any, where: str, most: int) -> None:
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise _Invalid("must be an array of objects", where)
    if len(blocks) > most:
        raise _Invalid(f"must contain at most {most} items", where)
    for index, block in enumerate(blocks):
        _check_block(block, f"{where}/{index}")


def _check_block(block: dict[str, Any], at: str) -> None:
    _length(block.get("block_id"), MAX_ID, f"{at}/block_id")
    kind = block.get("type")
    if kind == "section":
        _text(block.get("text"), MAX_SECTION_TEXT, f"{at}/text")
        fields = block.get("fields")
        if fields is not None:
            _items(fields, MAX_FIELDS, f"{at}/fields")
            for i, item in enumerate(fields):
                _text(item, MAX_FIELD_TEXT, f"{at}/fields/{i}")
        if isinstance(block.get("accessory"), dict):
            _check_element(block["accessory"], f"{at}/accessory")
    elif kind == "header":
        _text(block.get("text"), MAX_HEADER_TEXT, f"{at}/text")
    elif kind == "context":
        _items(block.get("elements"), MAX_CONTEXT_ELEMENTS, f"{at}/elements")
    elif kind == "actions":
        elements = _items(block.get("elements"), MAX_ACTIONS_ELEMENTS, f"{at}/elements")
        for i, element in enumerate(elements):
            _check_element(element, f"{at}/elements/{i}")
    elif kind == "input":
        _text(block.get("label"), MAX_LABEL, f"{at}/label")
        _text(block.get("hint"), MAX_HINT, f"{at}/hint")
        if isinstance(block.get("element"), dict):
            _check_element(block["element"], f"{at}/element")


def _check_element(element: dict[str, Any], at: str) -> None:
    _length(element.get("action_id"), MAX_ID, f"{at}/action_id")
    _text(element.get("placeholder"), MAX_PLACEHOLDER, f"{at}/placeholder")
    kind = element.get("type")
    if kind == "button":
        _text(element.get("text"), MAX_BUTTON_TEXT, f"{at}/text")
        _length(element.get("value"), MAX_BUTTON_VALUE, f"{at}/value")
        _length(element.get("url"), MAX_URL, f"{at}/url")
    if kind == "plain_text_input":
        max_length = element.get("max_length")
        if isinstance(max_length, int) and max_length > MAX_INPUT_LENGTH:
            raise _Invalid(f"must be at most {MAX_INPUT_LENGTH}", f"{at}/max_length")
    if kind in EXTERNAL_SELECTS:
        _check_external_select(element, at)
    if kind in STATIC_SELECTS:
        _check_initial_options(element, at)
    if kind == "datetimepicker":
        _check_date_time(element.get("initial_date_time"), f"{at}/initial_date_time")
    options_most = MAX_CHOICE_OPTIONS if kind in CHOICE_ELEMENTS else MAX_OPTIONS
    if "options" in element:
        _check_options(element["options"], options_most, f"{at}/options")
    if "option_groups" in element:
        groups = _items(element["option_groups"], MAX_OPTION_GROUPS, f"{at}/option_groups")
        for i, group in enumerate(groups):
            if isinstance(group, dict):
                _text(group.get("label"), MAX_OPTION_TEXT, f"{at}/option_groups/{i}/label")
                where = f"{at}/option_groups/{i}/options"
                _check_options(group.get("options"), MAX_OPTIONS, where)


def _check_external_select(element: dict[str, Any], at: str) -> None:
    """An external select's options come from the app's options load URL
    (``block_suggestion``), never with the element; ``min_query_length`` is how many
    characters Slack waits for before asking (0: as soon as the menu opens)."""
    for key in ("options", "option_groups"):
        if key in element:
            raise _Invalid(f"{key} is not allowed on {element.get('type')}", f"{at}/{key}")
    least = element.get("min_query_length")
    if least is not None and (not isinstance(least, int) or isinstance(least, bool) or least < 0):
        raise _Invalid("must be a non-negative integer", f"{at}/min_query_length")
    initial = element.get("initial_option")
    if initial is not None:
        _check_options([initial], 1, f"{at}/initial_option")


def _same_option(one: Any, other: Any) -> bool:
    """Slack matches an initial option against the options by its value and its text."""
    if not isinstance(one, dict) or not isinstance(other, dict):
        return False
    text = (one.get("text") or {}).get("text"), (other.get("text") or {}).get("text")
    return one.get("value") == other.get("value") and text[0] == text[1]


def _check_initial_options(element: dict[str, Any], at: str) -> None:
    """A static select's `initial_option` (`initial_options` of a multi-select) must be
    one of its options exactly; an empty `initial_options` is refused too. With option
    groups, initial options from more than one group are refused: Slack answers so for
    `multi_static_select` (slackapi/bolt-js#1496, python-slack-sdk#974)."""
    groups = [
        [o for o in group.get("options") or [] if isinstance(o, dict)]
        for group in element.get("option_groups") or []
        if isinstance(group, dict)
    ]
    options = [o for o in element.get("options") or [] if isinstance(o, dict)]
    everything = options + [o for group in groups for o in group]
    for key in ("initial_option", "initial_options"):
        if key not in element:
            continue
        chosen = element[key] if key == "initial_options" else [element[key]]
        where = f"{at}/{key}"
        if not isinstance(chosen, list) or not chosen:
            raise _Invalid("must be one of the provided options", where)
        if not all(any(_same_option(c, o) for o in everything) for c in chosen):
            raise _Invalid("must be one of the provided options", where)
        touched = {i for i, group in enumerate(groups) for c in chosen if c in group}
        if len(touched) > 1:
            raise _Invalid("must be one of the provided options", where)


def _check_date_time(value: Any, at: str) -> None:
    """A datetimepicker's `initial_date_time`: Unix seconds, an integer of up to 10 digits."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("must be an integer", at)
    if not 0 <= value <= MAX_DATE_TIME:
        raise _Invalid(f"must be between 0 and {MAX_DATE_TIME}", at)


def check_options_answer(answer: Any) -> list[dict[str, Any]]:
    """The options an app answers a ``block_suggestion`` with, as Slack reads them: at
    most 100, each option's text at most 75 characters and its value 150. Slack shows
    nothing for an answer that breaks a limit; here it raises ``SlackError``."""
    try:
        if not isinstance(answer, dict):
            raise _Invalid("must be an object", "")
        options = _items(answer.get("options"), MAX_OPTIONS, "/options")
        _check_options(options, MAX_OPTIONS, "/options")
    except _Invalid as exc:
        raise SlackError("invalid_options", response_metadata={"messages": [exc.message]}) from None
    return [o for o in options if isinstance(o, dict)]


def _check_options(options: Any, most: int, at: str) -> None:
    for i, option in enumerate(_items(options, most, at)):
        if isinstance(option, dict):
            _text(option.get("text"), MAX_OPTION_TEXT, f"{at}/{i}/text")
            _length(option.get("value"), MAX_OPTION_VALUE, f"{at}/{i}/value")
            _text(option.get("description"), MAX_OPTION_DESCRIPTION, f"{at}/{i}/description")
            _length(option.get("url"), MAX_URL, f"{at}/{i}/url")


def _items(value: Any, most: int, at: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Invalid("must be an array", at)
    if len(value) > most:
        raise _Invalid(f"must contain at most {most} items", at)
    return value


def _text(obj: Any, most: int, at: str) -> None:
    """A text object's ``text`` (or a bare string) is at most ``most`` characters."""
    if isinstance(obj, dict):
        _length(obj.get("text"), most, f"{at}/text")
    else:
        _length(obj, most, at)


def _length(value: Any, most: int, at: str) -> None:
    if isinstance(value, str) and len(value) > most:
        raise _Invalid(f"must be less than {most + 1} characters", at)
