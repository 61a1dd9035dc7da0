"""What a live connection's client sends and gets besides the events themselves: the resume id
it may send, and the error frame it may get."""

from __future__ import annotations

import re
from typing import Any

from server.codec import dumps
from server.errors import INVALID_EVENT_ID, ApiError

# What we accept as a resume id before the store has a say: one printable ASCII token, so that
# it can never break an SSE line.
EVENT_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


def parse_event_id(raw: object) -> str | None:
    """A client's resume id: None or empty means "from a snapshot"."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not EVENT_ID_RE.fullmatch(raw):
        raise INVALID_EVENT_ID()
    return raw


def error_json(error: ApiError, job_id: str | None = None) -> str:
    """The WebSocket (and stream end) form of an error: the catalogue's code and message."""
    frame: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
    if job_id is not None:
        frame["jobId"] = job_id
    return dumps(frame)
