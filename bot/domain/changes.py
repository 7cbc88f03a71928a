"""Emergency changes (CHG, seed 003): proposed, approved or rejected by the accountable
role, applied, then verified (deployed as planned) and validated (it fixed the incident)
— two separate steps — or rolled back."""

from __future__ import annotations

from enum import StrEnum


class ChangeStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPLIED = "applied"
    VERIFIED = "verified"
    VALIDATED = "validated"
    ROLLED_BACK = "rolled_back"


class ChangeStep(StrEnum):
    """What a person does to a change; each leads to one status."""

    APPROVE = "approve"
    REJECT = "reject"
    APPLY = "apply"
    VERIFY = "verify"
    VALIDATE = "validate"
    ROLL_BACK = "roll_back"


RESULT = {
    ChangeStep.APPROVE: ChangeStatus.APPROVED,
    ChangeStep.REJECT: ChangeStatus.REJECTED,
    ChangeStep.APPLY: ChangeStatus.APPLIED,
    ChangeStep.VERIFY: ChangeStatus.VERIFIED,
    ChangeStep.VALIDATE: ChangeStatus.VALIDATED,
    ChangeStep.ROLL_BACK: ChangeStatus.ROLLED_BACK,
}

NEXT_STEPS: dict[ChangeStatus, tuple[ChangeStep, ...]] = {
    ChangeStatus.PROPOSED: (ChangeStep.APPROVE, ChangeStep.REJECT),
    ChangeStatus.APPROVED: (ChangeStep.APPLY,),
    ChangeStatus.APPLIED: (ChangeStep.VERIFY, ChangeStep.ROLL_BACK),
    ChangeStatus.VERIFIED: (ChangeStep.VALIDATE, ChangeStep.ROLL_BACK),
    ChangeStatus.REJECTED: (),
    ChangeStatus.VALIDATED: (),
    ChangeStatus.ROLLED_BACK: (),
}

# Steps the RACI reserves for the accountable role of `approve_change`.
DECISIONS = (ChangeStep.APPROVE, ChangeStep.REJECT)

STEP_LABELS = {
    ChangeStep.APPROVE: "Approve",
    ChangeStep.REJECT: "Reject",
    ChangeStep.APPLY: "Mark applied",
    ChangeStep.VERIFY: "Verified (deployed as planned)",
    ChangeStep.VALIDATE: "Validated (it fixed the incident)",
    ChangeStep.ROLL_BACK: "Rolled back",
}


class InvalidStep(Exception):
    pass


def change_reference(number: int) -> str:
    return f"CHG-{number}"


def advance(status: ChangeStatus, step: ChangeStep) -> ChangeStatus:
    """The status after `step`, or InvalidStep saying why not."""
    if step not in NEXT_STEPS[status]:
        if not NEXT_STEPS[status]:
            raise InvalidStep(f"This change is {status.value.replace('_', ' ')}; it is final.")
        can = ", ".join(STEP_LABELS[s].lower() for s in NEXT_STEPS[status])
        raise InvalidStep(
            f"This change is {status.value.replace('_', ' ')}: it can only be {can}."
            if status is not ChangeStatus.PROPOSED
            else f"This change is waiting for a decision: {can}."
        )
    return RESULT[step]
