"""Store calls the worker must not lose: waited out with backoff while the store is down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from server.errors import StoreUnavailableError

log = logging.getLogger("doccount")

T = TypeVar("T")
STORE_RETRY_FIRST_S = 0.1
STORE_RETRY_MAX_S = 5.0


async def retry_store(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """The store is down (Redis restarting): wait for it with backoff instead of failing a
    job whose counting is fine. Each attempt is one call; nothing is assumed written."""
    delay_s = STORE_RETRY_FIRST_S
    while True:
        try:
            return await call()
        except StoreUnavailableError as exc:
            log.warning("[배치] 저장소 연결 불가 (%s): %.1f초 후 재시도 (%s)", what, delay_s, exc)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, STORE_RETRY_MAX_S)
