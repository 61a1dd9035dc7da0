"""One keep-alive timer for every stream of a process (SSE comments, WebSocket pings).

aiohttp-sse gave each stream a task that slept and wrote a comment: about a kilobyte per idle
stream, and one wake-up per stream per period. Here one timer (``loop.call_later``) walks the
streams each period and each writes the same pre-encoded comment (``SseStream.beat``); a
stream whose client left finds out there, as it did on its own ping.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Beating(Protocol):
    def beat(self) -> None: ...


class Heartbeat:
    __slots__ = ("_timer", "every_s", "members")

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.members: set[Beating] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, member: Beating) -> None:
        self.members.add(member)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.every_s, self._tick)

    def discard(self, member: Beating) -> None:
        self.members.discard(member)

    def _tick(self) -> None:
        self._timer = None
        # A copy: a member whose client left ends, and leaves the set, as it is walked.
        for member in list(self.members):
            member.beat()
        if self.members:
            self._timer = asyncio.get_running_loop().call_later(self.every_s, self._tick)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
