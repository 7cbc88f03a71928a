"""`async with` for the emulator's long-lived objects (the server, the request sender)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class AsyncContext(ABC):
    """Entering runs :meth:`_enter` (nothing by default) and leaving runs :meth:`_exit`,
    whatever happened inside, so a test cannot leave a server or a session open."""

    async def _enter(self) -> None:
        """What entering does first; nothing unless a subclass says so."""
        return None

    @abstractmethod
    async def _exit(self) -> None:
        """What leaving does: close what the object holds."""

    async def __aenter__(self) -> Self:
        await self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit()
