"""The shapes of an error: ``ApiError`` (what a handler raises and the error middleware renders)
and ``ErrorKind`` (one entry of the catalogue in ``server/errors.py``, which builds them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ApiError(Exception):
    """Rendered as ``{"success": false, "error": message, "code": code}`` with ``status``.
    Built from an :class:`ErrorKind` of the catalogue, never by hand."""

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


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One entry of the catalogue. ``message`` is a ``str.format`` template when the error
    carries figures (``{limit}``, ``{pos}``); ``doc`` says in English when it happens, for the
    OpenAPI document."""

    code: str
    status: int
    message: str
    doc: str
    retry_after_s: int | None = None
    # Sent with the error (e.g. WWW-Authenticate), besides Retry-After.
    headers: tuple[tuple[str, str], ...] = ()

    def __call__(self, *, status: int | None = None, **params: Any) -> ApiError:
        """The exception to raise. ``status`` only for ``HTTP_ERROR``, which keeps the status
        of the HTTP error it stands for."""
        headers = dict(self.headers)
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(self.retry_after_s)
        return ApiError(
            self.status if status is None else status,
            self.code,
            self.text(**params),
            headers=headers,
        )

    def text(self, **params: Any) -> str:
        return self.message.format(**params) if params else self.message
