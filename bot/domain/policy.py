"""The incident policy as data: severities, working time, checklist, roles, RACI, templates.

A `Policy` is validated as a whole: unknown keys are errors, and names that refer to other
parts (roles in `page_roles` and `raci`, a role's `stand_in`) must exist. The YAML file
and its merging over the built-in default live in `bot.policy.loader`; this module never
reads files.

The models' building blocks are in `bot.domain.policy_parts`, the sections in
`bot.domain.policy_sections`; this module puts them together and checks the references
between them. Import any of them from here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

from pydantic import BaseModel, field_validator, model_validator

from bot.domain.alerts import AlertsPolicy
from bot.domain.business_time import BusinessHours, WorkingTime
from bot.domain.checklist import ChecklistGroup, ChecklistLeaf, ConsistencyError, Problem
from bot.domain.durations import Duration
from bot.domain.permissions import PERMISSION_PARTIES, Action
from bot.domain.policy_parts import FROZEN, SPECIAL_PARTIES, Key, UnknownPolicyKey
from bot.domain.policy_sections import (
    ChangePolicy,
    DeclarePolicy,
    DiscoveryMethod,
    FeaturesPolicy,
    PostmortemPolicy,
    Prompt,
    RaciTask,
    ReportField,
    ReportFields,
    ReportPolicy,
    RetentionPolicy,
    Role,
    RoleHolder,
    Schedule,
    Schedules,
    Severity,
    Templates,
)
from bot.domain.status_page import Component, Components

__all__ = [
    "AlertsPolicy",
    "BusinessHours",
    "ChangePolicy",
    "ChecklistGroup",
    "ChecklistLeaf",
    "Component",
    "ConsistencyError",
    "DeclarePolicy",
    "DiscoveryMethod",
    "Duration",
    "FeaturesPolicy",
    "Policy",
    "PostmortemPolicy",
    "Problem",
    "Prompt",
    "RaciTask",
    "ReportField",
    "ReportFields",
    "ReportPolicy",
    "RetentionPolicy",
    "Role",
    "RoleHolder",
    "Schedule",
    "Schedules",
    "Severity",
    "SPECIAL_PARTIES",
    "Templates",
    "UnknownPolicyKey",
    "WorkingTime",
]


class Policy(BaseModel):
    """An organisation's incident policy."""

    model_config = FROZEN

    severities: dict[Key, Severity]  # most severe first
    working_time: WorkingTime
    checklist: ChecklistGroup
    report: ReportPolicy
    roles: dict[Key, Role]
    raci: dict[Key, RaciTask]
    # Who may do what (see `bot.domain.permissions`): action -> parties.
    permissions: dict[Action, tuple[str, ...]]
    templates: Templates
    declare: DeclarePolicy
    postmortem: PostmortemPolicy = PostmortemPolicy()
    change: ChangePolicy = ChangePolicy()
    retention: RetentionPolicy = RetentionPolicy()
    features: FeaturesPolicy = FeaturesPolicy()
    schedules: Schedules = Schedules()
    alerts: AlertsPolicy = AlertsPolicy()
    # The public status page's components (bot.domain.status_page), keys not repeating.
    components: Components = ()

    @field_validator("severities")
    @classmethod
    def _some_severity(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        if not value:
            raise ValueError("at least one severity level is needed")
        return value

    @property
    def severity_keys(self) -> tuple[str, ...]:
        """Severity keys from most to least severe."""
        return tuple(self.severities)

    def severity(self, key: str) -> Severity:
        return _known("severity", self.severities, key)

    def role(self, key: str) -> Role:
        return _known("role", self.roles, key)

    def task(self, key: str) -> RaciTask:
        return _known("RACI task", self.raci, key)

    def accountable(self, task: str) -> str:
        """The one party accountable for `task`: a role key or "reporter"."""
        return self.task(task).accountable

    @property
    def irt_roles(self) -> tuple[str, ...]:
        """The roles that make up the Incident Response Team."""
        return tuple(key for key, role in self.roles.items() if role.irt)

    def expand_parties(self, parties: Iterable[str]) -> tuple[str, ...]:
        """RACI parties with "irt" replaced by its roles; order kept, duplicates dropped."""
        expanded: dict[str, None] = {}
        for party in parties:
            for name in self.irt_roles if party == "irt" else (party,):
                expanded[name] = None
        return tuple(expanded)

    def acting_holders(self, absent: Collection[str] = ()) -> dict[str, RoleHolder]:
        """Who acts in each role when the people in `absent` are unavailable.

        Each role takes its primary, else its first available backup. A role left empty
        that names a `stand_in` role takes that role's holder, who gives up the stand-in
        role to the next available person of it: one person acts in one role only
        (seed policy: with the PM away, the DL acts as PM and the DL's backup as DL).
        """
        busy: set[str] = set()
        holders: dict[str, RoleHolder] = {}

        def take(key: str) -> RoleHolder:
            for rank, person in enumerate(self.roles[key].people):
                if person not in absent and person not in busy:
                    busy.add(person)
                    return RoleHolder(
                        role=key,
                        person=person,
                        via="primary" if rank == 0 and self.roles[key].primary else "backup",
                    )
            return RoleHolder(role=key, person=None, via="vacant")

        for key in self.roles:
            holders[key] = take(key)
        for key, role in self.roles.items():
            donor = role.stand_in
            if holders[key].person is not None or donor is None:
                continue
            person = holders[donor].person
            if person is None:
                continue
            holders[key] = RoleHolder(role=key, person=person, via="stand_in")
            holders[donor] = take(donor)
        return holders

    @model_validator(mode="after")
    def _references_exist(self) -> Policy:
        problems = list(self._reference_problems())
        if problems:
            raise ConsistencyError(problems)
        return self

    def _reference_problems(self) -> Iterable[Problem]:
        roles = set(self.roles)
        for key in sorted(roles & (SPECIAL_PARTIES | PERMISSION_PARTIES)):
            yield Problem(("roles", key), f"{key!r} is reserved for RACI; pick another key")
        for key, severity in self.severities.items():
            for index, role in enumerate(severity.page_roles):
                if role not in roles:
                    yield Problem(
                        ("severities", key, "page_roles", index), _unknown_role(role, roles)
                    )
        fallback = self.declare.fallback_severity
        if fallback is not None and fallback not in self.severities:
            known = ", ".join(self.severities)
            yield Problem(
                ("declare", "fallback_severity"), f"{fallback!r} is not a severity ({known})"
            )
        for key, role_def in self.roles.items():
            if role_def.stand_in is None:
                continue
            if role_def.stand_in == key:
                yield Problem(("roles", key, "stand_in"), "a role cannot stand in for itself")
            elif role_def.stand_in not in roles:
                yield Problem(("roles", key, "stand_in"), _unknown_role(role_def.stand_in, roles))
            elif self.roles[role_def.stand_in].stand_in is not None:
                yield Problem(
                    ("roles", key, "stand_in"),
                    f"{role_def.stand_in!r} has a stand-in itself; chains are not allowed",
                )
        parties = roles | SPECIAL_PARTIES
        for key, task in self.raci.items():
            for column in ("responsible", "consulted", "informed"):
                for index, party in enumerate(getattr(task, column)):
                    if party not in parties:
                        yield Problem(("raci", key, column, index), _unknown_party(party, roles))
            if task.accountable not in roles | {"reporter"}:
                yield Problem(
                    ("raci", key, "accountable"),
                    f"{task.accountable!r} cannot be accountable: name one role "
                    f"({', '.join(sorted(roles))}) or 'reporter'",
                )

        yield from self._permission_problems(roles)
        yield from self._alert_problems(roles)

    def _alert_problems(self, roles: set[str]) -> Iterable[Problem]:
        known = ", ".join(self.severities)
        rules = self.alerts
        for index, page in enumerate(rules.page):
            if page.role not in roles:
                yield Problem(("alerts", "page", index, "role"), _unknown_role(page.role, roles))
        for index, declare in enumerate(rules.auto_declare):
            if declare.severity is not None and declare.severity not in self.severities:
                yield Problem(
                    ("alerts", "auto_declare", index, "severity"),
                    f"{declare.severity!r} is not a severity ({known})",
                )
        for value, key in rules.severity.values.items():
            if key not in self.severities:
                yield Problem(
                    ("alerts", "severity", "values", value), f"{key!r} is not a severity ({known})"
                )
        components = [c.key for c in self.components]
        for index, rule in enumerate(rules.components):
            for at, key in enumerate(rule.components):
                if key not in components:
                    yield Problem(
                        ("alerts", "components", index, "components", at),
                        f"{key!r} is not a component ({', '.join(components) or 'none listed'})",
                    )
        default = rules.severity.default
        if default is not None and default not in self.severities:
            yield Problem(
                ("alerts", "severity", "default"), f"{default!r} is not a severity ({known})"
            )

    def _permission_problems(self, roles: set[str]) -> Iterable[Problem]:
        missing = [action.value for action in Action if action not in self.permissions]
        if missing:
            yield Problem(("permissions",), f"say who may {', '.join(missing)}")
        for action, parties in self.permissions.items():
            if not parties:
                yield Problem(("permissions", action.value), "name at least one party")
            for index, party in enumerate(parties):
                if party not in roles | PERMISSION_PARTIES:
                    known = ", ".join([*sorted(roles), *sorted(PERMISSION_PARTIES)])
                    yield Problem(
                        ("permissions", action.value, index),
                        f"unknown party {party!r}; name a role or one of ({known})",
                    )


T = TypeVar("T")


def _known(kind: str, table: Mapping[str, T], key: str) -> T:
    """`table[key]`, or `UnknownPolicyKey` naming the `kind` and the keys there are."""
    try:
        return table[key]
    except KeyError:
        raise UnknownPolicyKey(kind, key, table) from None


def _unknown_role(name: str, roles: Collection[str]) -> str:
    return f"unknown role {name!r}; roles are {', '.join(sorted(roles)) or '(none)'}"


def _unknown_party(name: str, roles: Collection[str]) -> str:
    known = ", ".join([*sorted(roles), *sorted(SPECIAL_PARTIES)])
    return f"unknown role {name!r}; name a role or irt, reporter, all ({known})"
