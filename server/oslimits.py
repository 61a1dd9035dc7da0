"""What the operating system lends the process: open files, and what to do when they run out.

- At start the soft open-files limit is raised to the hard one (``raise_open_files_limit``):
  every socket is a file, and the usual soft default of 1,024 is reached by a thousand idle
  clients, well before any other resource.
- When the limit is reached all the same, asyncio logs "socket.accept() out of system resource"
  for every failed accept, which is every loop iteration: hundreds of thousands of lines a
  minute. ``ThrottledExhaustionLog`` is the loop's exception handler that says it once per
  interval, with how many times it happened since.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("doccount.os")

EXHAUSTION_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
EXHAUSTION_LOG_INTERVAL_S = 10.0
# Of the open-files limit, what --max-connections takes by default (the rest: the store,
# upstream connections, logs, and the answers that say "too many").
DEFAULT_CONNECTIONS_SHARE = 0.9


def raise_open_files_limit() -> tuple[int, int]:
    """Soft limit up to the hard one; returns (soft, hard) as they are afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # some platforms cap it below "unlimited"
            log.warning("could not raise the open-files limit from %d to %d: %s", soft, hard, exc)
    return soft, hard


def default_max_connections() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(64, int(soft * DEFAULT_CONNECTIONS_SHARE))


def is_exhaustion(context: dict[str, Any]) -> bool:
    exc = context.get("exception")
    return isinstance(exc, OSError) and exc.errno in EXHAUSTION_ERRNOS


class ThrottledExhaustionLog:
    """A loop exception handler: resource exhaustion once per interval, the rest as usual."""

    def __init__(
        self,
        interval_s: float = EXHAUSTION_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.last_logged: float | None = None
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not is_exhaustion(context):
            loop.default_exception_handler(context)
            return
        now = self.clock()
        if self.last_logged is not None and now - self.last_logged < self.interval_s:
            self.suppressed += 1
            return
        exc = context["exception"]
        log.error(
            "out of system resources (%s): %s; %d more like it in the last %.0f s "
            "(raise the open-files limit or lower --max-connections)",
            errno.errorcode.get(exc.errno, exc.errno),
            context.get("message", ""),
            self.suppressed,
            self.interval_s if self.last_logged is not None else 0,
        )
        self.last_logged = now
        self.suppressed = 0


def install(loop: asyncio.AbstractEventLoop) -> None:
    """For a server process: the limit raised, exhaustion logged with restraint."""
    soft, hard = raise_open_files_limit()
    log.info("open-files limit %d (hard %d)", soft, hard)
    loop.set_exception_handler(ThrottledExhaustionLog())
