"""What goes wrong loading a policy: `PolicyError`, and key paths written as people read
them (`severities.sev1.page_roles[0]`), for every module of the loader."""

from __future__ import annotations

from typing import Any

KeyPath = tuple[Any, ...]
"""A path of keys and list indexes into the policy data."""


class PolicyError(Exception):
    """The policy cannot be loaded; `problems` says everything that is wrong."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


def dotted(path: KeyPath) -> str:
    """`path` as written in messages: `a.b[0].c`."""
    text = ""
    for part in path:
        text += (
            f"[{part}]"
            if isinstance(part, int) and not isinstance(part, bool)
            else (f".{part}" if text else str(part))
        )
    return text
