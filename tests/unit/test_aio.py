"""cancel_and_wait: re-cancels a task that swallowed its cancel, and never holds a shutdown
for ever when every cancel is swallowed."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from server.aio import cancel_and_wait


async def test_a_task_that_swallows_one_cancel_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed == 0:  # like wait_for on 3.11 losing the cancel once
                    swallowed += 1
                    continue
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task], recancel_s=0.01), timeout=5)
    assert task.cancelled() and swallowed == 1


async def test_a_task_that_swallows_every_cancel_is_left_behind_with_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def deaf() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    task = asyncio.create_task(deaf(), name="deaf")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="doccount"):
        await asyncio.wait_for(cancel_and_wait([task], recancel_s=0.01, give_up_s=0.1), timeout=5)
    assert not task.done()
    assert any("left behind: deaf" in r.getMessage() for r in caplog.records)
    release.set()
    task.cancel()
    await task  # it sees release and ends
