"""Stopping tasks for certain.

On Python 3.11, ``asyncio.wait_for`` swallows a cancellation that arrives as the awaited thing
completes (CPython gh-86296, fixed in 3.12), and redis-py awaits every socket write through
``wait_for``. A task cancelled at that moment carries on as if nothing happened: a watcher that
polls Redis (the worker's cancel watch) keeps polling, and whoever awaits it after cancelling
it waits until it ends on its own; that was a finished job held for over a minute. So a task
that is still running a moment after its cancel is cancelled again, until it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("doccount")

RECANCEL_S = 0.5
# A task whose every cancel is swallowed (a loop that is always inside a Redis call, seen with
# redis-py 8 on Python 3.11) would hold a shutdown for ever: past this, it is left behind with
# an error in the log, so the process can still stop.
GIVE_UP_S = 10.0


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]],
    recancel_s: float = RECANCEL_S,
    give_up_s: float = GIVE_UP_S,
) -> None:
    """Cancel ``tasks`` and return once every one has ended, cancelling again any that ignored
    its cancel, for at most ``give_up_s``. Their results and errors are dropped (the caller has
    read what it needs)."""
    every = list(tasks)
    pending = {t for t in every if not t.done()}
    for task in pending:
        task.cancel()
    deadline = asyncio.get_running_loop().time() + give_up_s
    while pending:
        _, pending = await asyncio.wait(pending, timeout=recancel_s)
        if pending and asyncio.get_running_loop().time() >= deadline:
            names = ", ".join(sorted(t.get_name() for t in pending))
            log.error(
                "tasks still running %.0fs after their cancel, left behind: %s", give_up_s, names
            )
            every = [t for t in every if t not in pending]
            break
        for task in pending:
            log.warning("task %r ignored a cancel; cancelling it again", task.get_name())
            task.cancel()
    for task in every:
        if not task.cancelled():
            with contextlib.suppress(BaseException):
                task.exception()  # retrieved: no "exception was never retrieved" at exit
