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
