"""The sections of the incident policy, one pydantic model each: severities, roles and
RACI tasks, the report form, templates, declaring, post-mortems, changes, schedules,
retention and feature switches. `bot.domain.policy` puts them together as `Policy`
(and re-exports them).
"""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from bot.domain.durations import Duration
from bot.domain.policy_parts import FROZEN, Key, Labelled, Person, unique_keys

CHANNEL_PLACEHOLDERS = frozenset({"number", "ref", "title", "severity"})
ANNOUNCEMENT_PLACEHOLDERS = frozenset({"number", "ref", "title", "severity", "channel", "reporter"})


class Severity(BaseModel):
    """A severity level: what it means and how fast the team must respond."""

    model_config = FROZEN

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

    model_config = FROZEN

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

    model_config = FROZEN

    title: str = Field(min_length=1)
    responsible: tuple[Key, ...] = Field(min_length=1)
    accountable: Key
    consulted: tuple[Key, ...] = ()
    informed: tuple[Key, ...] = ()


class DiscoveryMethod(Labelled):
    """A way an incident can be discovered, offered in the report form."""


class ReportField(BaseModel):
    """A question of the incident report form."""

    model_config = FROZEN

    label: str = Field(min_length=1, max_length=2000)
    hint: str | None = None
    required: bool = True
    # Slack's plain-text inputs hold at most 3000 characters.
    max_length: int | None = Field(default=None, ge=1, le=3000)


class ReportFields(BaseModel):
    """The report's questions; the set is fixed, their wording and rules are policy."""

    model_config = FROZEN

    discovery: ReportField
    nature: ReportField
    impact: ReportField
    evidence: ReportField
    service: ReportField


class ReportPolicy(BaseModel):
    model_config = FROZEN

    discovery_methods: Annotated[tuple[DiscoveryMethod, ...], AfterValidator(unique_keys)]
    fields: ReportFields

    @field_validator("discovery_methods")
    @classmethod
    def _some_method(cls, value: tuple[DiscoveryMethod, ...]) -> tuple[DiscoveryMethod, ...]:
        if not value:
            raise ValueError("list at least one way an incident can be discovered")
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

    model_config = FROZEN

    channel_name: Annotated[str, _placeholders(CHANNEL_PLACEHOLDERS)] = "inc-{number}-{title}"
    announcement: Annotated[str, _placeholders(ANNOUNCEMENT_PLACEHOLDERS)]

    @field_validator("channel_name")
    @classmethod
    def _unique_channel(cls, value: str) -> str:
        if "{number}" not in value and "{ref}" not in value:
            raise ValueError("must contain {number} or {ref} so that channel names are unique")
        return value


class DeclarePolicy(BaseModel):
    model_config = FROZEN

    # Declaring although the checklist does not qualify needs a written reason.
    allow_declare_anyway: bool = True
    # Reacting with this emoji to a message proposes declaring an incident from it.
    reaction_emoji: str = Field(default="pushpin", pattern=r"^[a-z0-9_+'-]+$")
    # A declaration whose chosen severity a reload removed is made with this one, marked
    # "needs triage" (None: the least severe).
    fallback_severity: str | None = None


class Prompt(Labelled):
    """A question put to the team, answered by ticking it."""


Prompts = Annotated[tuple[Prompt, ...], AfterValidator(unique_keys)]
"""Questions whose keys do not repeat."""


class PostmortemPolicy(BaseModel):
    model_config = FROZEN

    questions: Prompts = ()  # what the post-mortem answers
    # Seed 003's review assessments, each answered yes or no with a note.
    assessments: Prompts = ()
    meeting_agenda: Prompts = ()  # asked of each post-mortem in the weekly review
    # Archive the incident channel this many days after the post-mortem is approved
    # (None: never).
    archive_channel_after_days: int | None = Field(default=7, ge=0, le=3650)


_CRON_FIELD = r"[0-9A-Za-z*/,\-?]+"


class Schedule(BaseModel):
    """A recurring job: a 5-field cron expression in FIREWATCH_TIMEZONE."""

    model_config = FROZEN

    cron: str = Field(pattern=rf"^\s*{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}}\s*$")
    channel: str | None = Field(default=None, pattern=r"^(#[a-z0-9_-]{1,80}|[CG][A-Z0-9]{2,})$")


class Schedules(BaseModel):
    model_config = FROZEN

    weekly_digest: Schedule = Schedule(cron="0 10 * * MON", channel="#incident-review")
    postmortem_reminder: Schedule = Schedule(cron="0 10 * * FRI")
    followup_reminder: Schedule = Schedule(cron="0 9 * * MON-FRI")
    # The retention purge (runs only when features.purge_job is on).
    purge: Schedule = Schedule(cron="30 3 * * *")
    # A job whose time passed while Firewatch was down still runs, late, within this
    # many minutes; after that the miss is recorded instead.
    misfire_grace_minutes: int = Field(default=60, ge=0, le=10080)


class ChangePolicy(BaseModel):
    model_config = FROZEN

    handling_checklist: Prompts = ()  # the IRT's questions about a proposed change


class RetentionPolicy(BaseModel):
    """How long Firewatch keeps data; `firewatch purge` (or the daily job) applies it.

    `None` keeps forever. Purging never breaks a timeline's hash chain: what is removed is
    replaced by a signed tombstone (see docs/operations/deploy.md, "Data lifecycle").
    """

    model_config = FROZEN

    # Closed incidents (and non-incident reports) are deleted whole this long after closing.
    closed_incidents_days: int | None = Field(default=None, ge=1, le=36500)
    # Timeline entries (the audit trail) older than this are purged, oldest first.
    timeline_days: int | None = Field(default=None, ge=1, le=36500)
    # Processed Slack event ids (deduplication of Events API retries).
    processed_events_days: int = Field(default=7, ge=1, le=3650)
    # Slack deliveries that are done or cancelled (dead ones are kept for the operator).
    outbox_done_days: int = Field(default=30, ge=1, le=3650)
    # Alert groups resolved and linked to no incident, deleted with their alerts this long
    # after they were last seen (expired silences and unused storm cards go too).
    alerts_days: int = Field(default=30, ge=1, le=3650)


class FeaturesPolicy(BaseModel):
    """Switches that turn parts of Firewatch off without a deployment."""

    model_config = FROZEN

    create_channels: bool = True  # open a channel per incident (else the broadcast channel)
    capture_reactions: bool = True  # react to messages to capture or declare
    external_paging: bool = True  # PagerDuty / webhook pages besides Slack DMs
    scheduled_jobs: bool = True  # periodic work: escalations, digests, reminders
    purge_job: bool = False  # apply `retention` once a day (else only `firewatch purge`)


class RoleHolder(BaseModel):
    """Who acts in a role for now, and how they came to (see `Policy.acting_holders`)."""

    model_config = FROZEN

    role: str
    person: str | None
    via: Literal["primary", "backup", "stand_in", "vacant"]
