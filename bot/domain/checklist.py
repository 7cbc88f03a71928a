"""The "is this an incident?" checklist: a tree of groups and tickable leaves.

A group holds when all (mode "all") or any (mode "any") of its items hold; a leaf holds
when it is ticked. The situation qualifies as an incident when the root group holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Mode = Literal["all", "any"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a policy, at `loc` relative to the model that found it."""

    loc: Loc
    message: str


class ConsistencyError(ValueError):
    """Problems found across fields, each with its own location.

    Raised by validators that check several fields at once (here and in
    `bot.domain.policy`). Pydantic wraps it in a ValidationError whose error `ctx["error"]`
    is this exception, so a loader can report every problem at its own place.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(_describe(problem) for problem in problems))


def _describe(problem: Problem) -> str:
    path = ".".join(str(part) for part in problem.loc)
    return f"{path}: {problem.message}" if path else problem.message


# Tags pydantic puts in error locations to say which kind of node it validated.
GROUP_TAG = "(group)"
LEAF_TAG = "(leaf)"


class ChecklistLeaf(BaseModel):
    """A box to tick."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    label: str = Field(min_length=1)
    help: str | None = None


def _node_kind(value: Any) -> str:
    is_group = "items" in value if isinstance(value, dict) else isinstance(value, ChecklistGroup)
    return GROUP_TAG if is_group else LEAF_TAG


class ChecklistGroup(BaseModel):
    """Items that hold together: all of them (mode "all") or at least one (mode "any")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Key
    label: str = Field(min_length=1)
    help: str | None = None
    mode: Mode = "all"
    items: tuple[ChecklistNode, ...]

    @field_validator("items")
    @classmethod
    def _not_empty(cls, items: tuple[ChecklistNode, ...]) -> tuple[ChecklistNode, ...]:
        # Checked after the items are valid, so a bad item is not also reported as "empty".
        if not items:
            raise ValueError("a group needs at least one item")
        return items

    @model_validator(mode="after")
    def _unique_keys(self) -> ChecklistGroup:
        seen: dict[str, Loc] = {}
        problems: list[Problem] = []
        for loc, node in _walk(self, ()):
            if node.key in seen:
                where = ".".join(str(part) for part in seen[node.key]) or "the root"
                problems.append(
                    Problem((*loc, "key"), f"key {node.key!r} is used twice; first at {where}")
                )
            else:
                seen[node.key] = loc
        if problems:
            raise ConsistencyError(problems)
        return self


ChecklistNode = Annotated[
    Annotated[ChecklistGroup, Tag(GROUP_TAG)] | Annotated[ChecklistLeaf, Tag(LEAF_TAG)],
    Discriminator(_node_kind),
]
ChecklistGroup.model_rebuild()


def _walk(
    node: ChecklistGroup | ChecklistLeaf, loc: Loc
) -> Iterator[tuple[Loc, ChecklistGroup | ChecklistLeaf]]:
    yield loc, node
    if isinstance(node, ChecklistGroup):
        for index, item in enumerate(node.items):
            yield from _walk(item, (*loc, "items", index))


@dataclass(frozen=True, slots=True)
class LeafEntry:
    """A leaf in display order, with the groups it sits in below the root."""

    leaf: ChecklistLeaf
    groups: tuple[ChecklistGroup, ...]
    number: str  # "1", "3.2": position among siblings, from the root down


@dataclass(frozen=True, slots=True)
class NodeResult:
    key: str
    holds: bool
    holding: int  # how many direct items hold (0 for a leaf)
    total: int  # how many direct items there are (0 for a leaf)


@dataclass(frozen=True, slots=True)
class Failure:
    """A top-level item that does not hold, explained."""

    key: str
    number: str
    label: str
    reason: str
    missing: tuple[str, ...]  # keys of the direct sub-items that do not hold

    def __str__(self) -> str:
        return f"{self.number}. {self.label}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Verdict:
    qualifies: bool
    results: Mapping[str, NodeResult]  # every node, the root included, by key
    failures: tuple[Failure, ...]  # empty when the situation qualifies

    def holds(self, key: str) -> bool:
        return self.results[key].holds


def leaves(tree: ChecklistGroup) -> list[LeafEntry]:
    """Every leaf in display order, e.g. to render checkboxes grouped under their labels."""
    found: list[LeafEntry] = []

    def visit(group: ChecklistGroup, path: tuple[ChecklistGroup, ...], prefix: str) -> None:
        for position, item in enumerate(group.items, start=1):
            number = f"{prefix}{position}"
            if isinstance(item, ChecklistGroup):
                visit(item, (*path, item), f"{number}.")
            else:
                found.append(LeafEntry(leaf=item, groups=path, number=number))

    visit(tree, (), "")
    return found


def evaluate(tree: ChecklistGroup, answers: Mapping[str, bool] | set[str]) -> Verdict:
    """Evaluate the checklist against the ticked leaves.

    `answers` is the set of ticked leaf keys, or a mapping of leaf key to ticked. A key
    that is not a leaf of `tree` is an error: it means the answers belong to another
    checklist.

    >>> from bot.domain.checklist import ChecklistGroup
    >>> tree = ChecklistGroup.model_validate({"key": "root", "label": "Root", "items": [
    ...     {"key": "a", "label": "A"}, {"key": "b", "label": "B"}]})
    >>> [str(f) for f in evaluate(tree, {"a"}).failures]
    ['2. B: not ticked']
    """
    ticked = (
        {key for key, value in answers.items() if value}
        if isinstance(answers, Mapping)
        else set(answers)
    )
    leaf_keys = {entry.leaf.key for entry in leaves(tree)}
    unknown = set(answers) - leaf_keys
    if unknown:
        raise ValueError(f"not leaves of checklist {tree.key!r}: {', '.join(sorted(unknown))}")

    results: dict[str, NodeResult] = {}

    def judge(node: ChecklistGroup | ChecklistLeaf) -> bool:
        if isinstance(node, ChecklistLeaf):
            results[node.key] = NodeResult(node.key, node.key in ticked, 0, 0)
            return node.key in ticked
        holding = sum(judge(item) for item in node.items)  # judge every item, no short cut
        holds = holding == len(node.items) if node.mode == "all" else holding > 0
        results[node.key] = NodeResult(node.key, holds, holding, len(node.items))
        return holds

    qualifies = judge(tree)
    failures: tuple[Failure, ...] = ()
    if not qualifies:
        failures = tuple(
            _explain(item, str(position), results)
            for position, item in enumerate(tree.items, start=1)
            if not results[item.key].holds
        )
    return Verdict(qualifies=qualifies, results=results, failures=failures)


def _explain(
    node: ChecklistGroup | ChecklistLeaf, number: str, results: Mapping[str, NodeResult]
) -> Failure:
    if isinstance(node, ChecklistLeaf):
        return Failure(node.key, number, node.label, "not ticked", ())
    failing = [item for item in node.items if not results[item.key].holds]
    total = len(node.items)
    missing = tuple(item.key for item in failing)
    if node.mode == "any":
        reason = f"none of its {total} sub-items holds (needs any)"
    else:
        leaves_only = all(isinstance(item, ChecklistLeaf) for item in failing)
        singular = len(failing) == 1
        verb = (
            ("is not ticked" if singular else "are not ticked")
            if leaves_only
            else ("does not hold" if singular else "do not hold")
        )
        names = "; ".join(item.label for item in failing)
        reason = f"{len(failing)} of its {total} sub-items {verb} (needs all): {names}"
    return Failure(node.key, number, node.label, reason, missing)
