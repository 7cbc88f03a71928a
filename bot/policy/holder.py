"""The policy in use, and loading it at start-up: what the CLI's offline commands need
without importing the Slack side of Firewatch (bot.app)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.config import ConfigError, Settings
from bot.domain.policy import Policy
from bot.policy.loader import PolicyError, load_policy


@dataclass
class PolicyHolder:
    policy: Policy
    source: str | None = None
    listeners: list[Callable[[Policy], None]] = field(default_factory=list)

    def __call__(self) -> Policy:
        return self.policy


def load_policy_or_fail(settings: Settings) -> PolicyHolder:
    try:
        loaded = load_policy(settings.policy_file)
    except PolicyError as exc:
        raise ConfigError(f"FIREWATCH_POLICY_FILE: invalid policy\n{exc}") from None
    return PolicyHolder(loaded.policy, str(loaded.source) if loaded.source else None)
