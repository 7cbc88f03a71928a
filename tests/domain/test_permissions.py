"""Every action as every kind of party, against the default policy (issue 20)."""

from __future__ import annotations

import pytest

from bot.domain.permission_check import may, refusal, role_facts
from bot.domain.permissions import Action, Actor, ActorKind, IncidentFacts, WhoMay
from bot.domain.policy import Policy
from bot.policy.loader import load_default_policy, merge_policy_data

PM, PM_BACKUP, DL, DL_BACKUP, OM = "U0SAMUEL", "U0REMY", "U0REMY2", "U0PIERRICK", "U0CORENTIN"
CAROL, REPORTER, PAGED, OWNER, MEMBER = "U0CAROL", "U0REPORT", "U0PAGED", "U0OWNER", "U0MEMBER"


def _policy() -> Policy:
    base = load_default_policy().model_dump(mode="json")
    roles = {
        "pm": {"primary": PM, "backups": [PM_BACKUP]},
        "dl": {"primary": DL, "backups": [DL_BACKUP]},
        "om": {"primary": OM},
    }
    return Policy.model_validate(merge_policy_data(base, {"roles": roles}))


POLICY = _policy()
ROLES = role_facts(POLICY)
# CAROL assigned herself pm for this incident; PAGED was paged for the dl role.
FACTS = IncidentFacts(
    incident_id=1,
    reporter_id=REPORTER,
    assigned=frozenset({CAROL}),
    paged=frozenset({PAGED}),
    channel_members=frozenset({MEMBER, "U0GUEST", "U0OTHER"}),
    page_person=PAGED,
    page_backups=frozenset({DL_BACKUP}),
    item_owner=OWNER,
)

A = Action
APPROVALS = {A.APPROVE_CHANGE, A.REJECT_CHANGE, A.APPROVE_POSTMORTEM}
RESPONDING = {
    A.CHANGE_SEVERITY,
    A.CHANGE_STATUS,
    A.RETITLE,
    A.LINK_ALERT,
    A.RESOLVE,
    A.PAGE,
    A.PROPOSE_CHANGE,
    A.APPLY_CHANGE,
    A.VERIFY_CHANGE,
    A.VALIDATE_CHANGE,
    A.ROLL_BACK_CHANGE,
    A.WRITE_POSTMORTEM,
    A.SUBMIT_POSTMORTEM,
}
READS = {A.READ_TIMELINE, A.EXPORT}
MEMBERS = {A.DECLARE, A.CAPTURE, A.ACKNOWLEDGE_ALERT}  # what any full member may do
STATUS_PAGE = {A.SET_COMPONENT_STATE, A.SCHEDULE_MAINTENANCE}  # the IRT's

# Who, as which party, may do what under the default policy.
ALLOWED: dict[str, set[Action]] = {
    "pm (rostered)": {A.ASSIGN_ROLE, A.RELOAD_ROSTER, A.COMPLETE_ACTION_ITEM, A.SILENCE_ALERT}
    | MEMBERS
    | APPROVALS
    | RESPONDING
    | READS
    | STATUS_PAGE,
    "dl (irt)": {A.COMPLETE_ACTION_ITEM, A.SILENCE_ALERT}
    | MEMBERS
    | RESPONDING
    | READS
    | STATUS_PAGE,
    "assigned pm (responder)": MEMBERS | RESPONDING | READS,
    "paged person": MEMBERS | {A.ACKNOWLEDGE} | RESPONDING | READS,
    "role backup of the page": MEMBERS | {A.ACKNOWLEDGE} | READS,
    "reporter": MEMBERS | RESPONDING | READS,
    "item owner": MEMBERS | {A.COMPLETE_ACTION_ITEM} | READS,
    "member": MEMBERS | READS,
    "guest in the channel": READS,
    "guest elsewhere": set(),
    "other team in the channel": READS,
}
ACTORS = {
    "pm (rostered)": Actor(PM),
    "dl (irt)": Actor(DL),
    "assigned pm (responder)": Actor(CAROL),
    "paged person": Actor(PAGED),
    "role backup of the page": Actor(DL_BACKUP),
    "reporter": Actor(REPORTER),
    "item owner": Actor(OWNER),
    "member": Actor(MEMBER),
    "guest in the channel": Actor("U0GUEST", ActorKind.GUEST),
    "guest elsewhere": Actor("U0NOWHERE", ActorKind.GUEST),
    "other team in the channel": Actor("U0OTHER", ActorKind.EXTERNAL),
}


@pytest.mark.parametrize("party", sorted(ACTORS))
@pytest.mark.parametrize("action", list(Action))
def test_every_action_as_every_party(party: str, action: Action) -> None:
    decision = may(POLICY, ROLES, ACTORS[party], action, FACTS)
    assert decision.allowed is (action in ALLOWED[party]), (party, action)
    assert decision.allowed or decision.who_may


def test_an_assigned_pm_may_not_approve_and_is_told_who_may() -> None:
    decision = may(POLICY, ROLES, Actor(CAROL), A.APPROVE_CHANGE, FACTS)
    assert not decision.allowed
    refused = refusal(decision, A.APPROVE_CHANGE)  # worded in tests/slack/test_refusals.py
    assert refused.sole_role == WhoMay("pm", "Product Manager", (PM,))


def test_the_acting_backup_approves_while_the_primary_is_away() -> None:
    roles = role_facts(POLICY, absent={PM})
    assert may(POLICY, roles, Actor(PM_BACKUP), A.APPROVE_POSTMORTEM, FACTS).allowed
    assert not may(POLICY, roles, Actor(PM), A.APPROVE_POSTMORTEM, FACTS).allowed


def test_a_refusal_of_several_parties_names_them() -> None:
    decision = may(POLICY, ROLES, Actor(MEMBER), A.CHANGE_SEVERITY, FACTS)
    refused = refusal(decision, A.CHANGE_SEVERITY)
    assert refused.sole_role is None
    assert [party.party for party in refused.who_may] == [
        "irt",
        "incident_responders",
        "reporter",
    ]
    irt, responders, reporter = refused.who_may
    assert irt.people
    assert responders.people is None
    assert reporter.people == (REPORTER,)


def test_guests_act_only_where_the_policy_names_them() -> None:
    data = merge_policy_data(POLICY.model_dump(mode="json"), {"permissions": {"page": ["guests"]}})
    policy = Policy.model_validate(data)
    guest = Actor("U0GUEST", ActorKind.GUEST)
    assert may(policy, ROLES, guest, A.PAGE, FACTS).allowed
    assert not may(policy, ROLES, Actor(MEMBER), A.PAGE, FACTS).allowed
