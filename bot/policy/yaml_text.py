"""The policy's YAML: reading it with the line of every key (for `file:line` messages),
and writing it back for people to read (`firewatch policy show`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from bot.domain.policy import Policy
from bot.policy.errors import KeyPath, PolicyError, dotted


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
class Document:
    """A parsed YAML file: its name, its data and the line of each key path."""

    name: str
    data: Any
    lines: dict[KeyPath, int]  # 1-based line of each key path


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


def parse(text: str, name: str) -> Document:
    """`text` (the file `name`) parsed; a syntax error or a duplicate key is a `PolicyError`."""
    loader = _Loader(text)
    problems: list[str] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(name, None, {})
        lines: dict[KeyPath, int] = {(): node.start_mark.line + 1}
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
    return Document(name, data, lines)


def _record_lines(
    loader: _Loader,
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
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
                    f"{name}:{key_node.start_mark.line + 1}: {dotted(path)}: "
                    f"keys must be plain names"
                )
                continue
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if child in lines:
                problems.append(
                    f"{name}:{line}: {dotted(child)}: duplicate key "
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
