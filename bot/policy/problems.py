"""A pydantic validation error of the merged policy data, told as `file:line: key.path:
what is wrong` lines, each pointing into the file (the team's or the default) its key
came from."""

from __future__ import annotations

from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.domain.checklist import GROUP_TAG, LEAF_TAG, ConsistencyError
from bot.domain.policy import Policy
from bot.policy.errors import KeyPath, PolicyError, dotted
from bot.policy.merge import REPLACED_SECTIONS
from bot.policy.yaml_text import Document

_TAGS = frozenset({GROUP_TAG, LEAF_TAG})
_PATTERN_WORDS = {
    r"^[a-z][a-z0-9_]*$": "should be a lowercase name (a-z, 0-9 and _, starting with a letter)",
    r"^[a-z0-9_+'-]+$": "should be an emoji name without colons, such as pushpin",
}


def validate(data: Any, default: Document, user: Document | None) -> Policy:
    """`data` as a `Policy`; a `PolicyError` with every problem, the team's file first."""
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        locate = _Locator(default, user)
        found = [problem for detail in error.errors() for problem in _describe(detail, locate)]
        # Problems in the team's file first, each file in line order.
        found.sort(key=lambda p: (p[0] == default.name, p[0], p[1]))
        raise PolicyError([f"{name}:{line}: {text}" for name, line, text in found]) from None


class _Locator:
    """Which file and line a key path of the merged data came from."""

    def __init__(self, default: Document, user: Document | None) -> None:
        self.lines: dict[KeyPath, tuple[str, int]] = {
            path: (default.name, line) for path, line in default.lines.items()
        }
        if user is None:
            return
        user_data = user.data if isinstance(user.data, dict) else {}
        for path in user.lines:
            if not path:
                continue
            replaced = len(path) == 1 and path[0] in REPLACED_SECTIONS
            if replaced or not isinstance(_at(user_data, path), dict):
                # The user's value replaced the default's here: forget what was below it.
                for old in [p for p in self.lines if p[: len(path)] == path and p != path]:
                    del self.lines[old]
        for path, line in user.lines.items():
            if path:
                self.lines[path] = (user.name, line)

    def __call__(self, loc: KeyPath) -> tuple[str, int]:
        for end in range(len(loc), -1, -1):
            found = self.lines.get(loc[:end])
            if found is not None:
                return found
        return ("?", 0)


def _at(data: Any, path: KeyPath) -> Any:
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


_Problem = tuple[str, int, str]  # file, line, "key.path: what is wrong"


def _describe(detail: ErrorDetails, locate: _Locator) -> list[_Problem]:
    loc = tuple(part for part in detail["loc"] if part not in _TAGS)
    error = (detail.get("ctx") or {}).get("error")
    if isinstance(error, ConsistencyError):
        return [_problem(locate, (*loc, *p.loc), p.message) for p in error.problems]
    if loc and loc[-1] == "[key]":  # pydantic's marker for a bad mapping key
        return [_problem(locate, loc[:-1], f"bad key: {_message(detail)}")]
    return [_problem(locate, loc, _message(detail))]


def _problem(locate: _Locator, loc: KeyPath, message: str) -> _Problem:
    name, line = locate(loc)
    return name, line, f"{dotted(loc) or '(top level)'}: {message}"


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(detail["loc"][:-1])
        return f"unknown key; allowed here: {', '.join(allowed)}" if allowed else "unknown key"
    if kind == "missing":
        return "missing (required)"
    message = detail["msg"]
    if kind == "string_pattern_mismatch":
        pattern = (detail.get("ctx") or {}).get("pattern")
        message = _PATTERN_WORDS.get(str(pattern), message)
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    for word in ("Input", "Tuple", "Dictionary"):
        message = message.replace(f"{word} should", "should")
    if kind in (
        "string_type",
        "int_type",
        "bool_type",
        "dict_type",
        "tuple_type",
        "list_type",
        "model_type",
        "int_parsing",
        "bool_parsing",
        "time_parsing",
        "date_parsing",
        "date_from_datetime_parsing",
        "time_type",
        "date_type",
        "literal_error",
        "string_pattern_mismatch",
    ):
        message = f"{message}, got {detail['input']!r}"
    return message


def _allowed_keys(loc: KeyPath) -> list[str]:
    """The keys a model accepts at `loc` (a pydantic error location, tags included)."""
    annotation: Any = Policy
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model = _unwrap(annotation, None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _step(annotation: Any, part: Any) -> Any:
    annotation = _unwrap(annotation, part)
    if part in _TAGS:  # the tag only chose a union member
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field else None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is dict:
        return args[1]
    if origin in (tuple, list) and args:
        return args[0]
    return None


def _unwrap(annotation: Any, part: Any) -> Any:
    """Strip Annotated and Optional; pick the union member a tag in the location names."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [m for m in get_args(annotation) if m is not NoneType]
            tagged = [m for m in members if part in _tags_of(m)]
            if tagged:
                return get_args(tagged[0])[0]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _tags_of(annotation: Any) -> list[str]:
    if get_origin(annotation) is not Annotated:
        return []
    return [meta.tag for meta in get_args(annotation)[1:] if hasattr(meta, "tag")]
