"""What listeners may use: services and read access to the policy, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.policy import Policy
from bot.services.incidents import IncidentService


@dataclass(frozen=True)
class ListenerDeps:
    incidents: IncidentService
    policy: Callable[[], Policy]
