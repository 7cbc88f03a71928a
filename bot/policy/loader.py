"""Load the incident policy: the built-in default YAML with a team's file merged over it.

Merging follows JSON Merge Patch (RFC 7396), with one exception:

* mappings merge key by key, recursively;
* a key set to null (`~`) removes that key from the default;
* lists and scalars replace the default value;
* the sections in `REPLACED_SECTIONS` (`severities`, `checklist`) are replaced whole when
  the file gives them, because their order and structure are the policy: a team that
  wants fewer severity levels, or another checklist, states them in full.

Every problem is reported as `file:line: key.path: what is wrong`, all at once.

The parts: `yaml_text` reads the YAML with the line of each key (and writes it back),
`merge` merges, `problems` turns validation errors into those lines, `errors` holds
`PolicyError`. This module puts them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from bot.domain.policy import Policy
from bot.policy.errors import PolicyError
from bot.policy.merge import REPLACED_SECTIONS, merge_policy_data
from bot.policy.problems import validate
from bot.policy.yaml_text import Document, dump_policy, parse

__all__ = [
    "DEFAULT_POLICY_NAME",
    "REPLACED_SECTIONS",
    "LoadedPolicy",
    "PolicyError",
    "default_policy_text",
    "dump_policy",
    "load_default_policy",
    "load_policy",
    "merge_policy_data",
]

DEFAULT_POLICY_NAME = "default_policy.yaml"


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    policy: Policy
    source: Path | None  # the team's file, or None for the built-in default alone


def default_policy_text() -> str:
    """The built-in default policy, as YAML."""
    return resources.files("bot.policy").joinpath(DEFAULT_POLICY_NAME).read_text("utf-8")


@cache
def _default_document() -> Document:
    # Parsed once; merging copies what it changes and never mutates this data.
    return parse(default_policy_text(), DEFAULT_POLICY_NAME)


def load_default_policy() -> Policy:
    """The built-in default policy alone."""
    return load_policy(None).policy


def load_policy(path: Path | None) -> LoadedPolicy:
    """The effective policy: the default, with the file at `path` (if any) merged over it.

    Raises `PolicyError` listing every problem with its file and line.
    """
    default = _default_document()
    if path is None:
        return LoadedPolicy(validate(default.data, default, None), None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([f"{path}: policy file not found"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError([f"{path}: cannot read the policy file: {error}"]) from None
    user = parse(text, str(path))
    if user.data is None:
        user.data = {}
    if not isinstance(user.data, dict):
        raise PolicyError([f"{path}:1: the policy file must be a mapping of sections"])
    merged = merge_policy_data(default.data, user.data)
    return LoadedPolicy(validate(merged, default, user), path)
