"""The one keep-alive timer of every SSE stream (server/live/beat.py)."""

from __future__ import annotations

import asyncio

from server.live.beat import Heartbeat
from tests.support.common import wait_until


class Member:
    def __init__(self, beat: Heartbeat, got: asyncio.Queue[str], name: str, leave: bool = False):
        self.hb = beat
        self.got = got
        self.name = name
        self.leave = leave

    def beat(self) -> None:
        self.got.put_nowait(self.name)
        if self.leave:
            self.hb.discard(self)  # a stream whose client left ends during the walk


async def test_one_timer_beats_every_member_and_stops_when_none_is_left() -> None:
    got: asyncio.Queue[str] = asyncio.Queue()
    hb = Heartbeat(0.01)
    a, b = Member(hb, got, "a"), Member(hb, got, "b", leave=True)
    hb.add(a)
    timer = hb._timer
    hb.add(b)
    assert hb._timer is timer  # the second member shares the first one's timer
    first = {await asyncio.wait_for(got.get(), 5), await asyncio.wait_for(got.get(), 5)}
    assert first == {"a", "b"}
    assert await asyncio.wait_for(got.get(), 5) == "a"  # b left during the first walk
    assert hb.members == {a}
    hb.discard(a)
    # The next tick finds nobody: the timer is not armed again.
    await wait_until(lambda: hb._timer is None, timeout_s=5)
    hb.close()
