"""Issue 11.5: active jobs share the upstream rate by weight, high 4 : normal 2 : low 1."""

from __future__ import annotations

import asyncio

from server.model import PRIORITIES
from server.store.sqlite_limits import LocalRateLimiter
from server.work.shares import WeightedShares, position
from tests.support.common import wait_until


async def test_turns_go_by_weight_and_low_never_starves() -> None:
    shares = WeightedShares(LocalRateLimiter(5_000.0), slots=1, capacity_per_s=5_000.0)
    order: list[str] = []

    async def calls(name: str, n: int) -> None:
        async def one() -> None:
            await shares.acquire("key")
            order.append(name)

        with shares.job(name, PRIORITIES[name]):
            await asyncio.gather(*(one() for _ in range(n)))

    # A call of no job holds the one turn (the key is busy for 50 ms) while the three jobs'
    # calls all queue up behind it.
    limiter = shares._inner
    await limiter.penalize("key", 0.05)
    blocker = asyncio.create_task(shares.acquire("key"))
    await asyncio.gather(calls("high", 30), calls("normal", 30), calls("low", 30))
    await blocker
    first = order[:35]
    # Tags 1/w apart: up to tag 5, high has 20 turns, normal 10, low 5 (ties: arrival order).
    assert (first.count("high"), first.count("normal"), first.count("low")) == (20, 10, 5)
    assert order[35:42] == ["high", "high", "normal", "high", "high", "normal", "low"]
    assert len(order) == 90


async def test_share_is_weight_over_the_active_jobs_weights() -> None:
    shares = WeightedShares(LocalRateLimiter(10.0), slots=1, capacity_per_s=10.0)
    with shares.job("n", PRIORITIES["normal"]):
        assert shares.share("n") == 1.0
        with shares.job("h", PRIORITIES["high"]):
            assert (shares.share("h"), shares.share("n")) == (4 / 6, 2 / 6)
            with shares.job("l", PRIORITIES["low"]):
                assert (shares.share("h"), shares.share("n"), shares.share("l")) == (
                    4 / 7,
                    2 / 7,
                    1 / 7,
                )
    assert shares.share("n") == 0.0


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    shares = WeightedShares(LocalRateLimiter(1_000.0), slots=1, capacity_per_s=1_000.0)
    first = asyncio.create_task(shares.acquire("key"))
    waiting = asyncio.create_task(shares.acquire("key"))
    after = asyncio.create_task(shares.acquire("key"))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.wait_for(asyncio.gather(first, after), timeout=5.0)
    assert waiting.cancelled()


class HeldFirst:
    """An inner limiter whose first caller holds the key until ``release`` is set: the gate's
    one turn is taken while the calls under test queue up behind it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    async def acquire(self, key: str) -> float:
        self.calls += 1
        if self.calls == 1:
            await self.release.wait()
        return 0.0

    async def penalize(self, key: str, delay_s: float) -> None:
        pass


async def test_within_a_job_the_lowest_keyword_position_goes_first() -> None:
    """Results are committed in keyword order: a job's calls that reach the gate in any order
    (a job's first lookups, whose cache reads come back in any order on Redis) are served by
    keyword position, and a cancelled one is skipped. Another job still gets its turns by tag."""
    inner = HeldFirst()
    shares = WeightedShares(inner, slots=1, capacity_per_s=5_000.0)
    order: list[tuple[str, int]] = []

    async def call(name: str, index: int) -> None:
        with position(index):
            await shares.acquire("key")
        order.append((name, index))

    blocker = asyncio.create_task(shares.acquire("key"))
    await wait_until(lambda: inner.calls == 1)  # the one turn is taken
    tasks = []
    with shares.job("a", PRIORITIES["normal"]):
        for index in (7, 2, 9, 0, 5):
            tasks.append(asyncio.create_task(call("a", index)))
    with shares.job("b", PRIORITIES["normal"]):
        for index in (3, 1):
            tasks.append(asyncio.create_task(call("b", index)))
    await wait_until(lambda: len(shares._heap) == 7)  # every call waits at the gate
    tasks[2].cancel()  # "a" 9
    inner.release.set()
    await blocker
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == [("a", 0), ("b", 1), ("a", 2), ("b", 3), ("a", 5), ("a", 7)]
