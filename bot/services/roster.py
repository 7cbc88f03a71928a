"""The roster in use: the policy's people as Slack user ids, reloading the policy file.

Emails in the roster are resolved once per policy (users.lookupByEmail through a
`PeopleDirectory`) and cached. A changed policy file is re-read when its mtime moves, or
on demand; an invalid file (or an unknown email) leaves the roster in use untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.domain.paging import UnknownPerson, roster_emails, with_user_ids
from bot.domain.policy import Policy
from bot.policy.loader import PolicyError, load_policy

log = logging.getLogger(__name__)


class PeopleDirectory(Protocol):
    async def user_id_for_email(self, email: str) -> str | None:
        """The Slack user with this email, or None when there is none."""


class PolicySlot(Protocol):
    """Where the policy in use lives (bot.policy.holder.PolicyHolder)."""

    policy: Policy
    listeners: list[Callable[[Policy], None]]


@dataclass(frozen=True)
class ReloadOutcome:
    changed: bool
    error: str | None = None


class RosterKeeper:
    """Holds the user ids of the roster's emails and swaps the policy on reload."""

    def __init__(
        self,
        slot: PolicySlot,
        *,
        directory: PeopleDirectory | None = None,
        policy_file: Path | None = None,
    ) -> None:
        self.slot = slot
        self.directory = directory
        self.policy_file = policy_file
        self._user_ids: dict[str, str] = {}
        self._mtime = self._stat()

    @property
    def policy(self) -> Policy:
        """The policy in use, with roster emails replaced by Slack user ids."""
        return with_user_ids(self.slot.policy, self._user_ids)

    async def resolve(self, policy: Policy | None = None) -> dict[str, str]:
        """Look up every roster email not yet known; raise UnknownPerson for a stranger."""
        found = dict(self._user_ids)
        for email, path in roster_emails(policy or self.slot.policy).items():
            if email in found:
                continue
            if self.directory is None:
                raise UnknownPerson(path, email)
            user_id = await self.directory.user_id_for_email(email)
            if user_id is None:
                raise UnknownPerson(path, email)
            found[email] = user_id
        self._user_ids = found
        return found

    def _stat(self) -> float | None:
        try:
            return self.policy_file.stat().st_mtime if self.policy_file else None
        except OSError:
            return None

    async def reload_if_changed(self) -> ReloadOutcome:
        """Called by the tick: reload when the file's modification time moved."""
        mtime = self._stat()
        if self.policy_file is None or mtime == self._mtime:
            return ReloadOutcome(changed=False)
        self._mtime = mtime  # an invalid file is reported once, not on every tick
        return await self.reload()

    async def reload(self) -> ReloadOutcome:
        """Re-read the policy file; keep the policy in use if the new one is not valid."""
        if self.policy_file is None:
            return ReloadOutcome(False, "no policy file is configured (FIREWATCH_POLICY_FILE)")
        self._mtime = self._stat()
        try:
            policy = load_policy(self.policy_file).policy
            await self.resolve(policy)
        except (PolicyError, UnknownPerson) as exc:
            log.error("policy reload refused; the previous policy stays in use: %s", exc)
            return ReloadOutcome(False, str(exc))
        except Exception as exc:  # Slack unreachable: try again at the next change
            log.exception("policy reload failed")
            return ReloadOutcome(False, f"could not resolve the roster: {exc!r}")
        if policy == self.slot.policy:
            return ReloadOutcome(changed=False)
        self.slot.policy = policy
        for listener in self.slot.listeners:
            listener(policy)
        log.info("policy reloaded", extra={"source": str(self.policy_file)})
        return ReloadOutcome(changed=True)
