"""RACI inside the use cases: who writes the post-mortem, and the approvals' backstop.

Listeners ask `bot.services.authority.Authority` first (it records and counts a
refusal); `require_accountable` repeats the approval check inside the transaction,
against the *rostered* holder only (`Authority.rostered`): a per-incident assignment
(`/incident assign pm @me`) never makes anyone an approver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.domain.policy import Policy

# Who holds a role for an incident now (the roster's acting holders): role → user ids.
RoleHolders = Callable[[str, int], Awaitable[set[str]]]
# The roster's acting holder of a role now (absences and stand-ins), no assignments.
Rostered = Callable[[str], Awaitable[set[str]]]


class NotAccountable(Exception):
    """Said to the person as is: it names who may do this instead."""


async def policy_holders(policy: Callable[[], Policy], role: str) -> set[str]:
    """The policy's acting holder of `role`, with no absences or assignments known."""
    holder = policy().acting_holders().get(role)
    return {holder.person} if holder is not None and holder.person else set()


class Raci:
    def __init__(
        self,
        policy: Callable[[], Policy],
        holders: RoleHolders | None = None,
        rostered: Rostered | None = None,
    ) -> None:
        self._policy = policy
        self._holders = holders
        self._rostered = rostered

    async def holders(self, role: str, incident_id: int) -> set[str]:
        if self._holders is not None:
            return await self._holders(role, incident_id)
        return await policy_holders(self._policy, role)

    async def require_accountable(self, task: str, actor: str, *, doing: str) -> None:
        """Raise NotAccountable unless `actor` acts in the role accountable for `task`.

        `doing` completes "Only the Product Manager can …", e.g. "approve a change".
        """
        policy = self._policy()
        role = policy.accountable(task)
        if self._rostered is not None:
            allowed = await self._rostered(role)
        else:
            allowed = await policy_holders(self._policy, role)
        if actor in allowed:
            return
        title = policy.roles[role].title if role in policy.roles else role
        who = ", ".join(f"<@{u}>" for u in sorted(allowed)) or "nobody (the role is vacant)"
        raise NotAccountable(f"Only the {title} can {doing}; acting {title} now: {who}.")
