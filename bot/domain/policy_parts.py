"""The building blocks of the policy's models: frozen strict models, keys, people, keyed
lists without repeats, and the error of a lookup by an unknown key.

Shared by `bot.domain.policy_sections` and `bot.domain.policy`; `bot.domain.policy`
re-exports what callers use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bot.domain.checklist import ConsistencyError, Key, Problem

__all__ = [
    "FROZEN",
    "SPECIAL_PARTIES",
    "Key",
    "Labelled",
    "Person",
    "UnknownPolicyKey",
    "unique_keys",
]

FROZEN = ConfigDict(extra="forbid", frozen=True)
"""Every policy model: unknown keys are errors, and a loaded policy never changes."""

_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _person(value: str) -> str:
    if not (_SLACK_USER.match(value) or _EMAIL.match(value)):
        raise ValueError(f"{value!r} is neither a Slack user id (U012ABC) nor an email address")
    return value


Person = Annotated[str, AfterValidator(_person)]
"""A Slack user id ("U012ABC") or an email address to look the user up by."""

# RACI parties that are not roles: the IRT (every role with `irt: true`), the member who
# discovered and filed the report, and everyone taking part in or following the incident.
SPECIAL_PARTIES: frozenset[str] = frozenset({"irt", "reporter", "all"})


class UnknownPolicyKey(KeyError):
    """A lookup by a key the policy does not define (a severity, role or RACI task)."""

    def __init__(self, kind: str, key: str, known: Iterable[str]) -> None:
        self.kind, self.key, self.known = kind, key, tuple(known)
        super().__init__(key)

    def __str__(self) -> str:
        return f"no {self.kind} {self.key!r} in the policy; known: {', '.join(self.known)}"


class Labelled(BaseModel):
    """An item of a keyed list: its key (unique in the list) and what people read."""

    model_config = FROZEN

    key: Key
    label: str = Field(min_length=1)


L = TypeVar("L", bound=Labelled)


def unique_keys(items: tuple[L, ...]) -> tuple[L, ...]:
    """`items` unchanged if no key repeats; else a `ConsistencyError` naming every repeat
    at its own index (a validator of keyed lists)."""
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for index, item in enumerate(items):
        if item.key in first:
            problems.append(
                Problem(
                    (index, "key"), f"key {item.key!r} is used twice; first at [{first[item.key]}]"
                )
            )
        first.setdefault(item.key, index)
    if problems:
        raise ConsistencyError(problems)
    return items
