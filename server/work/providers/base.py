"""What the worker needs from a source of counts, and the errors it must tell apart."""

from __future__ import annotations

from typing import Protocol


class ProviderError(Exception):
    """Base of every error a provider raises. ``code`` is stable, ``str()`` is for people."""

    code = "upstream_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class KeywordError(ProviderError):
    """This (keyword, category) could not be counted, after retries where retrying made sense.
    The job records the error for the keyword and goes on."""


class FatalProviderError(ProviderError):
    """Nothing more can be counted: no usable key left, or the configuration is wrong
    (SE05, no such api). The job fails with this message."""


class QuotaExhaustedError(FatalProviderError):
    """Every key's daily quota is spent (Naver 010): nothing can be counted until ``until_ms``
    (epoch ms, the next midnight KST, when the quota resets). The worker pauses the job until
    then instead of failing it; elsewhere (one keyword counted now) it is fatal like its base,
    with the same code as any other "no usable key" (clients keyed on it keep working)."""

    code = "no_usable_key"

    def __init__(self, message: str, until_ms: int) -> None:
        super().__init__(message)
        self.until_ms = until_ms


class RateLimiter(Protocol):
    """Paces calls per key. Waiters are served first come, first served, which is what makes
    concurrently active jobs share a key's rate fairly."""

    async def acquire(self, key: str) -> float:
        """Wait until one call on ``key`` may start; returns the seconds waited."""
        ...

    async def penalize(self, key: str, delay_s: float) -> None:
        """Push ``key``'s next free slot at least ``delay_s`` into the future (429/012)."""
        ...


class KeyRegistry(Protocol):
    """Which keys are out of service, shared by every worker using the same store."""

    async def retire(self, key: str, until_ms: int | None, reason: str) -> None:
        """Take ``key`` out until ``until_ms`` (epoch ms), or for good when None."""
        ...

    async def retired(self) -> dict[str, int | None]:
        """Currently retired keys and until when (expired retirements are not returned)."""
        ...

    async def clear(self) -> list[str]:
        """Bring every retired key back at once (an operator's call); returns their ids."""
        ...

    async def reasons(self) -> dict[str, str]:
        """Why each currently retired key was retired (as given to ``retire``)."""
        ...

    async def record_call(self, key: str, day: int) -> None:
        """Count one upstream call on ``key`` for ``day`` (days since the epoch, in KST: the
        unit Naver's daily quota is counted in). Advisory: never fails the call."""
        ...

    async def calls_on(self, day: int) -> dict[str, int]:
        """Calls per key on ``day``, by every worker using this store."""
        ...


class Provider(Protocol):
    name: str  # "naver" or "demo": shown as each result's "source"
    # Where its numbers come from, finer than ``name`` (the upstream base URL too): a cached
    # count is served only to a provider of the same origin.
    origin: str

    async def count(self, keyword: str, category: str) -> int:
        """Documents for ``keyword`` in ``category`` (our category name, e.g. "cafe").
        Raises KeywordError or FatalProviderError; never returns a made-up number."""
        ...

    async def unusable(self) -> str | None:
        """None while it can count, now or once its daily quota resets; else why not, for
        people (no usable key: retired or rejected, not just spent for today)."""
        ...

    async def quota_resets_at(self) -> int | None:
        """Epoch ms of the next reset (midnight KST) while every key's daily quota is spent and
        none is out for another reason: a job started now waits for it. Else None."""
        ...

    async def close(self) -> None: ...
