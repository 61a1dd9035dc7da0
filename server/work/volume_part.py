"""A job's search volumes, looked up beside its counts and joined to its results."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from server.model import ClaimedJob
from server.store.base import Store
from server.work.providers.volume_base import normalise
from server.work.storecalls import retry_store
from server.work.volumes import VolumeLookup, VolumeOutcome, attach

log = logging.getLogger("doccount")


class VolumePart:
    """A job's search volumes, arriving beside its counts. A keyword's result is committed
    with its volume when the volume came first; otherwise it is committed without, and
    updated (a second ``result`` event with the same index) when the volume arrives. One lock
    orders the two, so no volume is lost between a commit and its registration."""

    def __init__(
        self,
        store: Store,
        worker_id: str,
        volumes: VolumeLookup | None,
        job: ClaimedJob,
        commit: Callable[[str, int, dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.volumes = volumes
        self.job = job
        self._commit = commit
        self.enabled = volumes is not None
        self.known: dict[str, VolumeOutcome] = {}
        self.waiting: dict[str, list[dict[str, Any]]] = {}  # normalised keyword -> results
        self.lock = asyncio.Lock()

    async def commit(self, index: int, result: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:
            if not self.enabled:
                result = attach(result, None)
            else:
                key = normalise(result["keyword"])
                result = attach(result, self.known.get(key))
                if key not in self.known:
                    self.waiting.setdefault(key, []).append(result)
            await self._commit(self.job.id, index, result)
            return result

    async def run(self) -> None:
        volumes = self.volumes
        assert volumes is not None
        todo = list(self.job.keywords[self.job.next_index :])
        if self.job.next_index > 0:
            # Resumed: results committed before the stop may still owe their volume.
            stored = await retry_store("get_job", partial(self.store.get_job, self.job.id))
            async with self.lock:
                for result in (stored or {}).get("results", []):
                    volume_error = (result.get("errors") or {}).get("searchVolume")
                    if result.get("searchVolume") is None and volume_error is None:
                        key = normalise(result["keyword"])
                        self.waiting.setdefault(key, []).append(result)
                        todo.append(result["keyword"])
        failed: set[str] = set()
        async for outcomes in volumes.stream(todo):
            async with self.lock:
                self.known.update(outcomes)
                for key, outcome in outcomes.items():
                    if outcome.error is not None:
                        failed.add(outcome.error)
                    for result in self.waiting.pop(key, []):
                        updated = attach(result, outcome)
                        await retry_store(
                            "update_result",
                            partial(
                                self.store.update_result,
                                self.job.id,
                                updated["index"],
                                updated,
                                self.worker_id,
                            ),
                        )
        for reason in failed:
            log.warning("[배치] 검색량 조회 실패: %s (%s)", self.job.id, reason)
