"""Long reads in slices, and who they give way to between slices.

Turning a row into Python objects costs tens of microseconds on the event loop; an echo
in a storm reads hundreds of rows. Such reads go in slices of `READ_SLICE` rows, and
between slices they await `between_slices()`: nothing by default, or what the caller set
with `giving_way` — the outbox worker waits there while a request is being answered, so
an answer waits for one slice at most instead of queueing behind each of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

READ_SLICE = 50

_pause: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "firewatch_between_slices", default=None
)


@contextmanager
def giving_way(pause: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """Within this block (this task and what it awaits), long reads await `pause`
    between their slices."""
    token = _pause.set(pause)
    try:
        yield
    finally:
        _pause.reset(token)


async def between_slices() -> None:
    pause = _pause.get()
    if pause is not None:
        await pause()
