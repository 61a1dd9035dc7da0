"""Publish windows: how long a job's feed waits between two pages.

Fanning a page out costs one write per connection, whatever the page holds, and nearly all of
that is the send() itself (``python -m bench.fanpath``: our own code is under 0.3 µs of it).
So a feed whose last page took long to fan out, and came soon after the one before, waits a
multiple of that fan-out before it reads again, and what was committed meanwhile goes out as one
page, one write per connection. The fan-out's share of the loop then stays near 1 / (1 + factor)
and the writes per result fall as the audience grows. A small audience, whose fan-out is cheap,
waits for nothing; nor does a feed whose events come further apart than a window (it had waited
longer than that for its page): a window would gather nothing there, and only delay the next
event. A job's results come a few to about a hundred a second, so a window of at most ``MAX_S``
holds one to a few of them: the latency it adds is bounded by the fan-out's own cost and by
``MAX_S``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Never a longer pause than this, however long the fan-out took.
MAX_S = 0.05
# No pause shorter than this: waiting would save less than the timer costs.
MIN_S = 0.001


class Pace:
    __slots__ = ("clock", "factor", "wait")

    def __init__(self, factor: float) -> None:
        self.factor = factor  # below 0 acts as 0: the pause comes out under MIN_S
        # Both replaceable, so a test can say how long a fan-out took and hold the window open.
        self.clock: Callable[[], float] = time.perf_counter
        self.wait: Callable[[float], Awaitable[None]] = asyncio.sleep

    def after(self, took_s: float, waited_s: float) -> float:
        """The pause before a feed's next read, its last page having taken ``took_s`` to fan
        out after the feed had waited ``waited_s`` for it; 0: read at once."""
        pause_s = min(took_s * self.factor, MAX_S)
        return pause_s if pause_s >= MIN_S and waited_s < pause_s else 0.0
