"""The incident policy as data: severities, working time, checklist, roles, RACI, templates.

A `Policy` is validated as a whole: unknown keys are errors, and names that refer to other
parts (roles in `page_roles` and `raci`, a role's `stand_in`) must exist. The YAML file
and its merging over the built-in default live in `bot.policy.loader`; this module never
reads files.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain.business_time import BusinessHours, WorkingTime
from bot.domain.checklist import ChecklistGroup, ChecklistLeaf, ConsistencyError, Problem
from bot.domain.durations import Duration

__all__ = [
    "BusinessHours",
    "ChangePolicy",
    "ChecklistGroup",
    "ChecklistLeaf",
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
    "Severity",
    "SPECIAL_PARTIES",
    "Templates",
    "UnknownPolicyKey",
    "WorkingTime",
]

_FROZEN = ConfigDict(extra="forbid", frozen=True)

Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]

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

CHANNEL_PLACEHOLDERS = frozenset({"number", "ref", "title", "severity"})
ANNOUNCEMENT_PLACEHOLDERS = frozenset({"number", "ref", "title", "severity", "channel", "reporter"})


class UnknownPolicyKey(KeyError):
    """A lookup by a key the policy does not define (a severity, role or RACI task)."""

    def __init__(self, kind: str, key: str, known: Iterable[str]) -> None:
        self.kind, self.key, self.known = kind, key, tuple(known)
        super().__init__(key)

    def __str__(self) -> str:
        return f"no {self.kind} {self.key!r} in the policy; known: {', '.join(self.known)}"


class Severity(BaseModel):
    """A severity level: what it means and how fast the team must respond."""

    model_config = _FROZEN

    label: str = Field(min_length=1, max_length=20)
    description: str = Field(min_length=1)
    response_time: Duration
    ack_timeout: Duration = Duration(amount=30, unit="minutes")
    page_roles: tuple[Key, ...] = ()
    open_channel: bool = True
    announce: bool = True
    # PagerDuty Events API v2 routing key for pages at this severity (optional).
    pagerduty_routing_key: str | None = Field(default=None, min_length=1, max_length=64)


class Role(BaseModel):
    """An incident role and who fills it.

    `primary` and `backups` are optional: a role may be filled per incident (the SME).
    `stand_in` names another role whose holder acts in this role when none of its own
    people is available; that holder then leaves their own role to its next backup,
    since one person acts in one role only.
    """

    model_config = _FROZEN

    title: str = Field(min_length=1)
    primary: Person | None = None
    backups: tuple[Person, ...] = ()
    stand_in: Key | None = None
    irt: bool = False
    # PagerDuty Events API v2 routing key for pages to this role (wins over the severity's).
    pagerduty_routing_key: str | None = Field(default=None, min_length=1, max_length=64)

    @property
    def people(self) -> tuple[str, ...]:
        """The people who can fill the role, in order of preference."""
        return ((self.primary,) if self.primary else ()) + self.backups


class RaciTask(BaseModel):
    """Who is Responsible, Accountable, Consulted and Informed for a task."""

    model_config = _FROZEN

    title: str = Field(min_length=1)
    responsible: tuple[Key, ...] = Field(min_length=1)
    accountable: Key
    consulted: tuple[Key, ...] = ()
    informed: tuple[Key, ...] = ()


class DiscoveryMethod(BaseModel):
    model_config = _FROZEN

    key: Key
    label: str = Field(min_length=1)


class ReportField(BaseModel):
    """A question of the incident report form."""

    model_config = _FROZEN

    label: str = Field(min_length=1, max_length=2000)
    hint: str | None = None
    required: bool = True
    # Slack's plain-text inputs hold at most 3000 characters.
    max_length: int | None = Field(default=None, ge=1, le=3000)


class ReportFields(BaseModel):
    """The report's questions; the set is fixed, their wording and rules are policy."""

    model_config = _FROZEN

    discovery: ReportField
    nature: ReportField
    impact: ReportField
    evidence: ReportField
    service: ReportField


class ReportPolicy(BaseModel):
    model_config = _FROZEN

    discovery_methods: tuple[DiscoveryMethod, ...]
    fields: ReportFields

    @field_validator("discovery_methods")
    @classmethod
    def _unique(cls, value: tuple[DiscoveryMethod, ...]) -> tuple[DiscoveryMethod, ...]:
        if not value:
            raise ValueError("list at least one way an incident can be discovered")
        _raise_on_duplicates(value)
        return value


def _placeholders(allowed: frozenset[str]) -> AfterValidator:
    def check(text: str) -> str:
        try:
            parsed = [
                (field, spec, conv)
                for _, field, spec, conv in string.Formatter().parse(text)
                if field is not None
            ]
        except ValueError as error:
            raise ValueError(
                f"bad template: {error}; write a literal brace as {{{{ or }}}}"
            ) from None
        if any(spec or conv for _, spec, conv in parsed):
            raise ValueError("placeholders take no format spec or conversion: write {name}")
        unknown = sorted({field or "{}" for field, _, _ in parsed} - allowed)
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        return text

    return AfterValidator(check)


class Templates(BaseModel):
    """Text templates; `{name}` placeholders are filled in when an incident is declared."""

    model_config = _FROZEN

    channel_name: Annotated[str, _placeholders(CHANNEL_PLACEHOLDERS)] = "inc-{number}-{title}"
    announcement: Annotated[str, _placeholders(ANNOUNCEMENT_PLACEHOLDERS)]

    @field_validator("channel_name")
    @classmethod
    def _unique_channel(cls, value: str) -> str:
        if "{number}" not in value and "{ref}" not in value:
            raise ValueError("must contain {number} or {ref} so that channel names are unique")
        return value


class DeclarePolicy(BaseModel):
    model_config = _FROZEN

    # Declaring although the checklist does not qualify needs a written reason.
    allow_declare_anyway: bool = True
    # Reacting with this emoji to a message proposes declaring an incident from it.
    reaction_emoji: str = Field(default="pushpin", pattern=r"^[a-z0-9_+'-]+$")


class Prompt(BaseModel):
    """A question put to the team, answered by ticking it."""

    model_config = _FROZEN

    key: Key
    label: str = Field(min_length=1)


class PostmortemPolicy(BaseModel):
    model_config = _FROZEN

    questions: tuple[Prompt, ...] = ()  # what the post-mortem answers
    # Seed 003's review assessments, each answered yes or no with a note.
    assessments: tuple[Prompt, ...] = ()
    meeting_agenda: tuple[Prompt, ...] = ()  # asked of each post-mortem in the weekly review
    # Archive the incident channel this many days after the post-mortem is approved
    # (None: never).
    archive_channel_after_days: int | None = Field(default=7, ge=0, le=3650)

    @field_validator("questions", "assessments", "meeting_agenda")
    @classmethod
    def _unique(cls, value: tuple[Prompt, ...]) -> tuple[Prompt, ...]:
        _raise_on_duplicates(value)
        return value


_CRON_FIELD = r"[0-9A-Za-z*/,\-?]+"


class Schedule(BaseModel):
    """A recurring job: a 5-field cron expression in FIREWATCH_TIMEZONE."""

    model_config = _FROZEN

    cron: str = Field(pattern=rf"^\s*{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}}\s*$")
    channel: str | None = Field(default=None, pattern=r"^(#[a-z0-9_-]{1,80}|[CG][A-Z0-9]{2,})$")


class Schedules(BaseModel):
    model_config = _FROZEN

    weekly_digest: Schedule = Schedule(cron="0 10 * * MON", channel="#incident-review")
    postmortem_reminder: Schedule = Schedule(cron="0 10 * * FRI")
    followup_reminder: Schedule = Schedule(cron="0 9 * * MON-FRI")
    # The retention purge (runs only when features.purge_job is on).
    purge: Schedule = Schedule(cron="30 3 * * *")
    # A job whose time passed while Firewatch was down still runs, late, within this
    # many minutes; after that the miss is recorded instead.
    misfire_grace_minutes: int = Field(default=60, ge=0, le=10080)


class ChangePolicy(BaseModel):
    model_config = _FROZEN

    handling_checklist: tuple[Prompt, ...] = ()  # the IRT's questions about a proposed change

    @field_validator("handling_checklist")
    @classmethod
    def _unique(cls, value: tuple[Prompt, ...]) -> tuple[Prompt, ...]:
        _raise_on_duplicates(value)
        return value


class RetentionPolicy(BaseModel):
    """How long Firewatch keeps data; `firewatch purge` (or the daily job) applies it.

    `None` keeps forever. Purging never breaks a timeline's hash chain: what is removed is
    replaced by a signed tombstone (see docs/operations/deploy.md, "Data lifecycle").
    """

    model_config = _FROZEN

    # Closed incidents (and non-incident reports) are deleted whole this long after closing.
    closed_incidents_days: int | None = Field(default=None, ge=1, le=36500)
    # Timeline entries (the audit trail) older than this are purged, oldest first.
    timeline_days: int | None = Field(default=None, ge=1, le=36500)
    # Processed Slack event ids (deduplication of Events API retries).
    processed_events_days: int = Field(default=7, ge=1, le=3650)
    # Slack deliveries that are done or cancelled (dead ones are kept for the operator).
    outbox_done_days: int = Field(default=30, ge=1, le=3650)


class FeaturesPolicy(BaseModel):
    """Switches that turn parts of Firewatch off without a deployment."""

    model_config = _FROZEN

    create_channels: bool = True  # open a channel per incident (else the broadcast channel)
    capture_reactions: bool = True  # react to messages to capture or declare
    external_paging: bool = True  # PagerDuty / webhook pages besides Slack DMs
    scheduled_jobs: bool = True  # periodic work: escalations, digests, reminders
    purge_job: bool = False  # apply `retention` once a day (else only `firewatch purge`)


class RoleHolder(BaseModel):
    """Who acts in a role for now, and how they came to (see `Policy.acting_holders`)."""

    model_config = _FROZEN

    role: str
    person: str | None
    via: Literal["primary", "backup", "stand_in", "vacant"]


class Policy(BaseModel):
    """An organisation's incident policy."""

    model_config = _FROZEN

    severities: dict[Key, Severity]  # most severe first
    working_time: WorkingTime
    checklist: ChecklistGroup
    report: ReportPolicy
    roles: dict[Key, Role]
    raci: dict[Key, RaciTask]
    templates: Templates
    declare: DeclarePolicy
    postmortem: PostmortemPolicy = PostmortemPolicy()
    change: ChangePolicy = ChangePolicy()
    retention: RetentionPolicy = RetentionPolicy()
    features: FeaturesPolicy = FeaturesPolicy()
    schedules: Schedules = Schedules()

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
        try:
            return self.severities[key]
        except KeyError:
            raise UnknownPolicyKey("severity", key, self.severities) from None

    def role(self, key: str) -> Role:
        try:
            return self.roles[key]
        except KeyError:
            raise UnknownPolicyKey("role", key, self.roles) from None

    def task(self, key: str) -> RaciTask:
        try:
            return self.raci[key]
        except KeyError:
            raise UnknownPolicyKey("RACI task", key, self.raci) from None

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
        for key in sorted(roles & SPECIAL_PARTIES):
            yield Problem(("roles", key), f"{key!r} is reserved for RACI; pick another key")
        for key, severity in self.severities.items():
            for index, role in enumerate(severity.page_roles):
                if role not in roles:
                    yield Problem(
                        ("severities", key, "page_roles", index), _unknown_role(role, roles)
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


def _unknown_role(name: str, roles: Collection[str]) -> str:
    return f"unknown role {name!r}; roles are {', '.join(sorted(roles)) or '(none)'}"


def _unknown_party(name: str, roles: Collection[str]) -> str:
    known = ", ".join([*sorted(roles), *sorted(SPECIAL_PARTIES)])
    return f"unknown role {name!r}; name a role or irt, reporter, all ({known})"


def _raise_on_duplicates(items: Iterable[DiscoveryMethod | Prompt]) -> None:
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
