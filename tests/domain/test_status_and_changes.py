"""The status and change state machines, with random sequences of actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.changes import NEXT_STEPS, ChangeStatus, ChangeStep, InvalidStep, advance
from bot.domain.incident import Status
from bot.domain.status import OPEN, InvalidTransition, allowed_targets, transition

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@given(st.lists(st.sampled_from(list(Status)), max_size=40))
def test_random_status_sequences_never_reach_an_invalid_state(targets: list[Status]) -> None:
    status, mitigated, resolved = Status.INVESTIGATING, None, None
    history = [status]
    for n, target in enumerate(targets):
        at = T0 + timedelta(minutes=n)
        try:
            change = transition(status, target, at=at, mitigated_at=mitigated, resolved_at=resolved)
        except InvalidTransition:
            assert target not in allowed_targets(status)
            continue
        assert target in allowed_targets(status)
        status, mitigated, resolved = change.new, change.mitigated_at, change.resolved_at
        history.append(status)
        # Invariants: never closed by a status change; resolved ⇔ resolved time set;
        # mitigation never after resolution.
        assert status is not Status.CLOSED
        assert (status is Status.RESOLVED) == (resolved is not None)
        if resolved is not None:
            assert mitigated is not None
            assert mitigated <= resolved
    assert all(s in (*OPEN, Status.RESOLVED) for s in history)


def test_mitigated_is_the_first_time_it_reached_monitoring() -> None:
    first = transition(
        Status.INVESTIGATING, Status.MONITORING, at=T0, mitigated_at=None, resolved_at=None
    )
    back = transition(
        Status.MONITORING,
        Status.IDENTIFIED,
        at=T0 + timedelta(hours=1),
        mitigated_at=first.mitigated_at,
        resolved_at=None,
    )
    again = transition(
        Status.IDENTIFIED,
        Status.MONITORING,
        at=T0 + timedelta(hours=2),
        mitigated_at=back.mitigated_at,
        resolved_at=None,
    )
    assert again.mitigated_at == T0


def test_reopening_clears_the_resolution_and_closing_is_not_a_status_change() -> None:
    resolved = transition(
        Status.MONITORING, Status.RESOLVED, at=T0, mitigated_at=T0, resolved_at=None
    )
    reopened = transition(
        Status.RESOLVED,
        Status.INVESTIGATING,
        at=T0 + timedelta(hours=1),
        mitigated_at=resolved.mitigated_at,
        resolved_at=resolved.resolved_at,
    )
    assert reopened.reopened
    assert reopened.resolved_at is None
    with pytest.raises(InvalidTransition, match="closes when its post-mortem is approved"):
        transition(Status.RESOLVED, Status.CLOSED, at=T0, mitigated_at=T0, resolved_at=T0)
    with pytest.raises(InvalidTransition, match="already investigating"):
        transition(
            Status.INVESTIGATING, Status.INVESTIGATING, at=T0, mitigated_at=None, resolved_at=None
        )


@given(st.lists(st.sampled_from(list(ChangeStep)), max_size=30))
def test_random_change_steps_follow_the_lifecycle(steps: list[ChangeStep]) -> None:
    status = ChangeStatus.PROPOSED
    seen = [status]
    for step in steps:
        try:
            status = advance(status, step)
        except InvalidStep:
            assert step not in NEXT_STEPS[status]
            continue
        seen.append(status)
    # Validation always comes after verification, which comes after application,
    # which needs an approval first.
    order = [
        ChangeStatus.APPROVED,
        ChangeStatus.APPLIED,
        ChangeStatus.VERIFIED,
        ChangeStatus.VALIDATED,
    ]
    positions = [seen.index(s) for s in order if s in seen]
    assert positions == sorted(positions)
    if ChangeStatus.VALIDATED in seen:
        assert ChangeStatus.VERIFIED in seen
    if ChangeStatus.REJECTED in seen:
        assert seen[-1] is ChangeStatus.REJECTED
        assert ChangeStatus.APPROVED not in seen
