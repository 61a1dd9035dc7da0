"""The protocol of a connection a stream has taken over from aiohttp (aiohttp_internals.hand_over):
the transport's flow control, what the client sends, and the connection's end, each handed to
the stream that owns it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class Owner(Protocol):
    def received(self, data: bytes) -> None: ...

    def lost(self) -> None: ...


class Link(asyncio.Protocol):
    __slots__ = ("_drained", "owner", "paused")

    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.paused = False  # the transport's buffer is over its high-water mark
        self._drained: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake(None)

    def data_received(self, data: bytes) -> None:
        self.owner.received(data)

    def eof_received(self) -> bool:
        return False  # the client hung up: the transport closes, connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._wake(ConnectionResetError("connection lost"))
        self.owner.lost()

    def _wake(self, exc: Exception | None) -> None:
        waiter, self._drained = self._drained, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    async def drain(self) -> None:
        """Until the transport's buffer is back under its low-water mark."""
        if not self.paused:
            return
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()
        await self._drained


class EndHooks:
    """A taken-over stream's end, once, and what waits on it: the stream guard's release of the
    stream's slot (api/security.py), a shutdown waiting for a socket to close."""

    __slots__ = ("_ended", "_on_end")

    def __init__(self) -> None:
        self._ended = False
        self._on_end: list[Callable[[], None]] = []

    @property
    def ended(self) -> bool:
        return self._ended

    def on_end(self, callback: Callable[[], None]) -> None:
        """``callback`` runs when the stream ends (at once if it has)."""
        if self._ended:
            callback()
        else:
            self._on_end.append(callback)

    def _mark_ended(self) -> bool:
        """True the first time only: the caller then tears the stream down and calls
        ``_run_end_hooks``."""
        if self._ended:
            return False
        self._ended = True
        return True

    def _run_end_hooks(self) -> None:
        callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            callback()
