"""The one error type the HTTP surface raises; the error middleware renders it."""

from __future__ import annotations


class ApiError(Exception):
    """Rendered as ``{"success": false, "error": message, "code": code}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class StoreUnavailableError(Exception):
    """The store cannot be reached (Redis down). Rendered as 503 ``store_unavailable``."""


class QueueFullError(Exception):
    """The client already has ``limit`` pending or processing jobs: the store refused the new
    one in the same step that counted them (no race between the check and the insert)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"client queue full ({limit})")
        self.limit = limit
