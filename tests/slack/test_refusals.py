"""The refusal's wording (bot/slack/permission.py, sentences in messages.py): who may
instead, from the domain's structured refusal (issue 20)."""

from __future__ import annotations

from bot.domain.permission_check import may, refusal
from bot.domain.permissions import Action, Actor
from bot.slack import messages
from bot.slack.permission import refusal_sentence
from tests.domain.test_permissions import CAROL, FACTS, MEMBER, PM, POLICY, ROLES


def test_one_role_alone_keeps_the_raci_wording() -> None:
    decision = may(POLICY, ROLES, Actor(CAROL), Action.APPROVE_CHANGE, FACTS)
    assert refusal_sentence(refusal(decision, Action.APPROVE_CHANGE)) == (
        f"Only the Product Manager can approve a change; acting Product Manager now: <@{PM}>."
    )


def test_a_refusal_of_several_parties_names_them() -> None:
    decision = may(POLICY, ROLES, Actor(MEMBER), Action.CHANGE_SEVERITY, FACTS)
    sentence = refusal_sentence(refusal(decision, Action.CHANGE_SEVERITY))
    assert sentence.startswith("Only the Incident Response Team (<@")
    assert "the people assigned or paged for this incident" in sentence
    assert sentence.endswith("may change the severity.")


def test_every_action_is_worded() -> None:
    assert set(messages.DOING) == {action.value for action in Action}
