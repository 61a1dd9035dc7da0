"""The webhook ledger: one delivery record per job that has a webhook, kept in the store.

Any node may deliver. A node takes a delivery that is due (its job has ended, its next attempt
time has come) with a lease, so one node at a time holds it; it records each attempt, and the
record is refused unless the node still holds the lease and the delivery is still pending, so
exactly one successful delivery is ever recorded. A node that dies mid-attempt leaves the lease
to run out, and another node tries again (receivers dedupe on ``X-DocCount-Delivery``).

States: ``pending`` (not delivered yet; attempts so far in ``attempts``), ``delivered``,
``failed`` (given up after the last attempt).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
# How soon a node looks again at a delivery whose job has not ended yet (redis: rotates them).
RECHECK_MS = 1000


@dataclass(frozen=True, slots=True)
class Delivery:
    job_id: str
    url: str
    attempts: int  # made before this one


def shown_url(url: str) -> str:
    """The URL as the job JSON shows it: no user info, query or fragment (they may hold a
    receiver's secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def attempt_json(at_ms: int, status: int | None, error: str | None, ok: bool) -> dict[str, Any]:
    return {"at": at_ms, "status": status, "ok": ok, "error": error}


class WebhookLedger(abc.ABC):
    @abc.abstractmethod
    async def register(self, job_id: str, url: str, now_ms: int) -> None:
        """Record that ``job_id`` (already created) is to be delivered to ``url`` when it ends."""

    @abc.abstractmethod
    async def claim(self, node_id: str, now_ms: int, lease_ms: int) -> Delivery | None:
        """A due delivery of an ended job, leased to ``node_id`` until ``now_ms + lease_ms``."""

    @abc.abstractmethod
    async def record(
        self,
        job_id: str,
        node_id: str,
        attempt: dict[str, Any],
        state: str,
        next_ms: int,
    ) -> bool:
        """Add ``attempt`` and move to ``state`` (``next_ms``: when to try again, if pending),
        releasing the lease. False, and nothing written, unless ``node_id`` holds the lease of a
        pending delivery."""

    @abc.abstractmethod
    async def get(self, job_id: str) -> dict[str, Any] | None:
        """``{"url", "state", "attempts"}`` for the job JSON, or None (no webhook)."""

    @abc.abstractmethod
    async def cleanup(self, now_ms: int) -> int:
        """Drop records whose job no longer exists. Returns how many."""
