"""Holding one Web API call at a chosen point, for tests that crash the caller there.

Each Firewatch replica of a test can reach the emulator through its own base URL
(:meth:`SlackEmulator.api_url_for`), so a call is known by the replica that made it
(:attr:`RecordedCall.replica`). An :class:`Interception` picks the n-th call of a method
and runs a callback with that replica's name at one of three points:

* ``before``: Slack has not seen the call; the connection is then dropped, nothing done;
* ``effect``: Slack did what was asked; the connection is then dropped, no answer;
* ``answer``: Slack answered; the callback runs right after the answer is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

PHASES = ("before", "effect", "answer")

#: The replica whose request is being served (None: the plain ``/api/`` address).
CALLER: ContextVar[str | None] = ContextVar("emulator_caller", default=None)


@dataclass
class Interception:
    method: str
    nth: int
    phase: str
    then: Callable[[str | None], object]
    seen: int = 0
    fired: bool = False

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, not {self.phase!r}")

    def hit(self, method: str) -> bool:
        """Whether this call is the one to hold (counts the method's calls)."""
        if self.fired or method != self.method:
            return False
        self.seen += 1
        self.fired = self.seen >= self.nth
        return self.fired
