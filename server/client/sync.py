"""``DocCountSync``: ``DocCount`` without ``await``, for scripts and notebooks.

The async client runs on an event loop of its own in a background thread, so this works where
``asyncio.run`` cannot (a notebook already runs a loop) and from any number of threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from server.client.api import DEFAULT_BASE_URL, RECONNECT_ATTEMPTS, DocCount
from server.client.types import Event, Job

T = TypeVar("T")


class DocCountSync:
    """``with DocCountSync(url, token=...) as dc: job = dc.submit([...]); for e in
    dc.watch(job.id): ...``; the same methods as ``DocCount``, blocking."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        reconnect_attempts: int = RECONNECT_ATTEMPTS,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="doccount-client", daemon=True
        )
        self._thread.start()
        self.client = DocCount(
            base_url, token=token, timeout_s=timeout_s, reconnect_attempts=reconnect_attempts
        )
        self._closed = False

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("DocCountSync is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in a notebook: stop the request too
            raise

    def submit(
        self,
        keywords: Sequence[str],
        *,
        categories: Sequence[str] | None = None,
        priority: str | None = None,
        webhook_url: str | None = None,
    ) -> Job:
        return self._run(
            self.client.submit(
                keywords, categories=categories, priority=priority, webhook_url=webhook_url
            )
        )

    def status(self, job_id: str) -> Job:
        return self._run(self.client.status(job_id))

    def cancel(self, job_id: str) -> Job:
        return self._run(self.client.cancel(job_id))

    def jobs(self, limit: int = 50) -> list[Job]:
        return self._run(self.client.jobs(limit))

    def wait(self, job_id: str) -> Job:
        return self._run(self.client.wait(job_id))

    def watch(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[Event]:
        events = self.client.watch(job_id, last_event_id=last_event_id)

        async def step() -> Event | None:
            try:
                return await anext(events)
            except StopAsyncIteration:
                return None

        try:
            while (event := self._run(step())) is not None:
                yield event
        finally:
            if not self._closed:
                self._run(events.aclose())

    def close(self) -> None:
        if self._closed:
            return
        self._run(self.client.close())
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> DocCountSync:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
