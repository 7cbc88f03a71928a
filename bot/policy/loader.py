"""Load the incident policy: the built-in default YAML with a team's file merged over it.

Merging follows JSON Merge Patch (RFC 7396), with one exception:

* mappings merge key by key, recursively;
* a key set to null (`~`) removes that key from the default;
* lists and scalars replace the default value;
* the sections in `REPLACED_SECTIONS` (`severities`, `checklist`) are replaced whole when
  the file gives them, because their order and structure are the policy: a team that
  wants fewer severity levels, or another checklist, states them in full.

Every problem is reported as `file:line: key.path: what is wrong`, all at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.domain.checklist import GROUP_TAG, LEAF_TAG, ConsistencyError
from bot.domain.policy import Policy

REPLACED_SECTIONS = frozenset({"severities", "checklist"})
DEFAULT_POLICY_NAME = "default_policy.yaml"

Path_ = tuple[Any, ...]
_TAGS = frozenset({GROUP_TAG, LEAF_TAG})
_PATTERN_WORDS = {
    r"^[a-z][a-z0-9_]*$": "should be a lowercase name (a-z, 0-9 and _, starting with a letter)",
    r"^[a-z0-9_+'-]+$": "should be an emoji name without colons, such as pushpin",
}


class PolicyError(Exception):
    """The policy cannot be loaded; `problems` says everything that is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    policy: Policy
    source: Path | None  # the team's file, or None for the built-in default alone


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that reads `17:00` as the string "17:00", not 1020 (YAML 1.1 base 60).
    On libyaml's parser where PyYAML has it: the pure-Python one took 25 ms to read the
    built-in policy against libyaml's 5 ms, at every start and every CLI command."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if not (
            tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and regexp.match("17:00")
        )
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""", re.X
    ),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                   |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


@dataclass(slots=True)
class _Document:
    name: str
    data: Any
    lines: dict[Path_, int]  # 1-based line of each key path


def default_policy_text() -> str:
    """The built-in default policy, as YAML."""
    return resources.files("bot.policy").joinpath(DEFAULT_POLICY_NAME).read_text("utf-8")


@cache
def _default_document() -> _Document:
    # Parsed once; merging copies what it changes and never mutates this data.
    return _parse(default_policy_text(), DEFAULT_POLICY_NAME)


def load_default_policy() -> Policy:
    """The built-in default policy alone."""
    return load_policy(None).policy


def load_policy(path: Path | None) -> LoadedPolicy:
    """The effective policy: the default, with the file at `path` (if any) merged over it.

    Raises `PolicyError` listing every problem with its file and line.
    """
    default = _default_document()
    if path is None:
        return LoadedPolicy(_validate(default.data, default, None), None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([f"{path}: policy file not found"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError([f"{path}: cannot read the policy file: {error}"]) from None
    user = _parse(text, str(path))
    if user.data is None:
        user.data = {}
    if not isinstance(user.data, dict):
        raise PolicyError([f"{path}:1: the policy file must be a mapping of sections"])
    merged = merge_policy_data(default.data, user.data)
    return LoadedPolicy(_validate(merged, default, user), path)


def merge_policy_data(default: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The override merged over the default (see the module docstring for the rules)."""
    merged = dict(default)
    for section, value in override.items():
        if value is None:
            merged.pop(section, None)
        elif section in REPLACED_SECTIONS:
            merged[section] = _drop_nulls(value)
        else:
            merged[section] = _merge(default.get(section), value)
    return merged


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key and quotes times, for a file people read."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_policy(policy: Policy) -> str:
    """The policy as YAML, complete: loading it back gives an equal policy."""
    data = policy.model_dump(mode="json", exclude_none=True)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if not isinstance(base, dict):
        return _drop_nulls(patch)
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(base.get(key), value)
    return merged


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_nulls(item) for key, item in value.items() if item is not None}
    return value


def _parse(text: str, name: str) -> _Document:
    loader = _Loader(text)
    problems: list[str] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return _Document(name, None, {})
        lines: dict[Path_, int] = {(): node.start_mark.line + 1}
        _record_lines(loader, node, (), lines, problems, name)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        what = "; ".join(part for part in (error.context, error.problem) if part)
        raise PolicyError([f"{name}{line}: YAML syntax error: {what}"]) from None
    except yaml.YAMLError as error:
        raise PolicyError([f"{name}: YAML error: {error}"]) from None
    finally:
        loader.dispose()
    if problems:
        raise PolicyError(problems)
    return _Document(name, data, lines)


def _record_lines(
    loader: _Loader,
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    problems: list[str],
    name: str,
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key_node, yaml.ScalarNode) or not isinstance(key, str | int | float):
                problems.append(
                    f"{name}:{key_node.start_mark.line + 1}: {_dotted(path)}: "
                    f"keys must be plain names"
                )
                continue
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if child in lines:
                problems.append(
                    f"{name}:{line}: {_dotted(child)}: duplicate key "
                    f"(first given on line {lines[child]})"
                )
                continue
            lines[child] = line
            _record_lines(loader, value_node, child, lines, problems, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _record_lines(loader, item, child, lines, problems, name)


def _validate(data: Any, default: _Document, user: _Document | None) -> Policy:
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

    def __init__(self, default: _Document, user: _Document | None) -> None:
        self.lines: dict[Path_, tuple[str, int]] = {
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

    def __call__(self, loc: Path_) -> tuple[str, int]:
        for end in range(len(loc), -1, -1):
            found = self.lines.get(loc[:end])
            if found is not None:
                return found
        return ("?", 0)


def _at(data: Any, path: Path_) -> Any:
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


def _problem(locate: _Locator, loc: Path_, message: str) -> _Problem:
    name, line = locate(loc)
    return name, line, f"{_dotted(loc) or '(top level)'}: {message}"


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


def _allowed_keys(loc: Path_) -> list[str]:
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


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += (
            f"[{part}]"
            if isinstance(part, int) and not isinstance(part, bool)
            else (f".{part}" if text else str(part))
        )
    return text
