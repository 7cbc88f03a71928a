"""Who may do what: the policy's `permissions` section, decided from stored facts.

CONTRACT (issue 20) — shared by the helpers building it; the implementation fills it in.

`may(policy, actor, action, facts) -> Decision` is the one check. Every listener calls it
(through `bot.services.authority.Authority`), from what the database and the roster say
(`IncidentFacts`, `RoleFacts`), never from values in a Slack payload.

Parties an action can be granted to (`Party`), as the policy names them:
- a role key (`pm`, `dl`, ...): the role's *rostered* holder as the roster resolves it now
  (primary, or the acting backup, or the stand-in of seed 003) — never a per-incident
  assignment;
- `irt`: the acting holders of every role with `irt: true`;
- `incident_responders`: people assigned a role for this incident or paged for it;
- `reporter`: who filed the incident's report;
- `paged_person`: the person a page was sent to (for acknowledging), and that role's
  backups (`page_backups`);
- `owner`: the owner of the action item (completing it) or of the post-mortem (writing
  and submitting it);
- `members`: full members of the installation's workspace;
- `channel_members`: people in the incident's channel.

Guests (restricted and ultra-restricted accounts) and people of another organisation
(`team_id` not the installation's) are `ActorKind.GUEST` / `ActorKind.EXTERNAL`: they
match no party but `channel_members` for reading, and nothing else, unless the policy
names `guests` / `external` explicitly for an action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    DECLARE = "declare"
    ASSIGN_ROLE = "assign_role"
    CHANGE_SEVERITY = "change_severity"
    CHANGE_STATUS = "change_status"
    RESOLVE = "resolve"
    PAGE = "page"
    ACKNOWLEDGE = "acknowledge"
    PROPOSE_CHANGE = "propose_change"
    APPROVE_CHANGE = "approve_change"
    REJECT_CHANGE = "reject_change"
    APPLY_CHANGE = "apply_change"
    VERIFY_CHANGE = "verify_change"
    VALIDATE_CHANGE = "validate_change"
    ROLL_BACK_CHANGE = "roll_back_change"
    WRITE_POSTMORTEM = "write_postmortem"
    SUBMIT_POSTMORTEM = "submit_postmortem"
    APPROVE_POSTMORTEM = "approve_postmortem"
    COMPLETE_ACTION_ITEM = "complete_action_item"
    READ_TIMELINE = "read_timeline"
    CAPTURE = "capture"  # add a message to a timeline (shortcut or reaction)
    EXPORT = "export"
    RELOAD_ROSTER = "reload_roster"
    RETITLE = "retitle"  # `/incident title`: the channel is renamed to match
    # Monitoring alerts (issue 22). Acknowledging and silencing name no incident (the
    # incident parties cannot match); linking is checked against the target incident.
    ACKNOWLEDGE_ALERT = "acknowledge_alert"
    SILENCE_ALERT = "silence_alert"
    LINK_ALERT = "link_alert"
    # The public status page (issue 24): a component's state set by hand
    # (`/incident component`), and scheduled maintenance (`/incident maintenance`).
    SET_COMPONENT_STATE = "set_component_state"
    SCHEDULE_MAINTENANCE = "schedule_maintenance"


# The parties a `permissions` entry can name besides role keys.
PERMISSION_PARTIES: frozenset[str] = frozenset(
    {
        "irt",
        "incident_responders",
        "reporter",
        "paged_person",
        "owner",
        "members",
        "channel_members",
        "guests",
        "external",
    }
)

# Actions that only read: guests and other organisations' people in the incident's
# channel match `channel_members` for these.
READ_ACTIONS: frozenset[Action] = frozenset({Action.READ_TIMELINE, Action.EXPORT})


class ActorKind(StrEnum):
    MEMBER = "member"  # a full member of the installation's workspace
    GUEST = "guest"  # restricted or ultra-restricted account
    EXTERNAL = "external"  # a user whose team_id is not the installation's


@dataclass(frozen=True)
class Actor:
    user_id: str
    kind: ActorKind = ActorKind.MEMBER
    team_id: str | None = None  # the user's workspace as the request says (signed by Slack)
    # The channel the request was made in (signed by Slack): typing in an incident's
    # channel shows the person is in it, which is what `channel_members` asks.
    channel_id: str | None = None


@dataclass(frozen=True)
class IncidentFacts:
    """What the database records about one incident that permissions depend on."""

    incident_id: int
    reporter_id: str
    assigned: frozenset[str] = frozenset()  # people assigned a role for this incident
    paged: frozenset[str] = frozenset()  # people paged for this incident
    channel_members: frozenset[str] | None = None  # None: not known (no channel yet)
    page_person: str | None = None  # for ACKNOWLEDGE: the person the page went to
    page_backups: frozenset[str] = frozenset()  # ... and that role's backups
    item_owner: str | None = None  # for COMPLETE_ACTION_ITEM: the item's owner
    postmortem_owner: str | None = None  # for WRITE/SUBMIT_POSTMORTEM


@dataclass(frozen=True)
class RoleFacts:
    """The roster now: role key -> the people acting in it (rostered holders only)."""

    holders: dict[str, frozenset[str]] = field(default_factory=dict)
    irt_roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WhoMay:
    """One party of a refused action, for the refusal (the Slack layer words it)."""

    party: str  # a role key, or one of PERMISSION_PARTIES
    title: str | None = None  # the role's title ("Product Manager"); None: not a role
    people: tuple[str, ...] | None = None  # who it is now; None: not listed (a kind of
    # people, or a group too large or unknown to name)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    who_may: tuple[WhoMay, ...] = ()  # the action's parties, when refused


@dataclass(frozen=True)
class Refusal:
    """Who may do `action` instead; `sole_role` when one role alone may (RACI wording)."""

    action: Action
    who_may: tuple[WhoMay, ...]
    sole_role: WhoMay | None = None
