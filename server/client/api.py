"""The API client of the command line: submit a batch, read a job, follow it over SSE.

Following a job = one poll of ``/api/documents/status`` (the results so far and their
``lastEventId``), then the SSE stream from that id. A dropped stream is reopened with
``Last-Event-ID``, so every result is handed on exactly once, in keyword order, whatever
happens to the connection.

Imports nothing of the server (only aiohttp's client and orjson): ``doccount status`` and
``watch`` start without loading the web app, the store or the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

TERMINAL = frozenset({"completed", "failed", "cancelled"})
EVENTS_PATH = "/api/documents/events"
RECONNECT_FIRST_S = 0.2
RECONNECT_MAX_S = 5.0
RECONNECT_ATTEMPTS = 10  # consecutive failures before giving up


class ClientError(Exception):
    """The server said no (``code`` is its stable code) or could not be reached."""

    def __init__(self, message: str, code: str = "client_error") -> None:
        super().__init__(message)
        self.code = code


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


# --- SSE framing --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str
    id: str | None  # the stream's last event id after this event


@dataclass
class SseParser:
    """Line-by-line SSE parser (WHATWG "event stream interpretation").

    Feed lines without their terminator; an empty line dispatches the event being built.
    """

    last_event_id: str | None = None
    retry_ms: int | None = None
    _data: list[str] = field(default_factory=list)
    _event: str = ""

    def feed(self, line: str) -> SseEvent | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self.last_event_id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None  # a comment: heartbeats
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


async def sse_lines(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """Lines of a stream, terminators (\\n, \\r\\n or \\r) removed."""
    pending = ""
    async for chunk in content.iter_any():
        pending += chunk.decode("utf-8", errors="replace")
        pending = pending.replace("\r\n", "\n").replace("\r", "\n")
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line


# --- the API ------------------------------------------------------------------------------

ResultSink = Callable[[dict[str, Any]], None]
ProgressSink = Callable[[int, int], None]


class ApiClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.reconnects = 0

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self.session.request(
                method, self.base_url + path, headers=self.headers, **kwargs
            ) as resp:
                raw = await resp.read()
        except aiohttp.ClientError as exc:
            raise ClientError(f"서버에 연결할 수 없습니다: {self.base_url} ({exc})") from None
        try:
            body: dict[str, Any] = loads(raw)
        except ValueError:
            raise ClientError(f"서버 응답이 JSON이 아닙니다 (HTTP {resp.status})") from None
        if not body.get("success"):
            raise ClientError(str(body.get("error")), str(body.get("code")))
        return body

    async def submit(
        self, keywords: list[str], categories: list[str] | None, priority: str | None
    ) -> str:
        payload: dict[str, Any] = {"keywords": keywords}
        if categories:
            payload["categories"] = categories
        if priority:
            payload["priority"] = priority
        body = await self._json("POST", "/api/documents/batch", json=payload)
        job_id: str = body["jobId"]
        return job_id

    async def status(self, job_id: str) -> dict[str, Any]:
        body = await self._json("GET", "/api/documents/status", params={"jobId": job_id})
        job: dict[str, Any] = body["job"]
        return job

    async def events(self, job_id: str, last_event_id: str) -> AsyncIterator[SseEvent]:
        """One SSE connection, from just after ``last_event_id``, until the server ends it."""
        headers = {**self.headers, "Last-Event-ID": last_event_id, "Accept": "text/event-stream"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with self.session.get(
            self.base_url + EVENTS_PATH, params={"jobId": job_id}, headers=headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                try:
                    body = loads(await resp.read())
                    raise ClientError(str(body.get("error")), str(body.get("code")))
                except ValueError:
                    raise ClientError(
                        f"이벤트 스트림을 열 수 없습니다 (HTTP {resp.status})"
                    ) from None
            parser = SseParser(last_event_id=last_event_id)
            async for line in sse_lines(resp.content):
                event = parser.feed(line)
                if event is not None:
                    yield event

    async def follow(
        self,
        job_id: str,
        on_begin: Callable[[list[str]], None] | None = None,
        on_result: ResultSink | None = None,
        on_progress: ProgressSink | None = None,
    ) -> dict[str, Any]:
        """Hand on every result of ``job_id`` and return the job once it is terminal.

        A result may be handed on again after a snapshot (``index`` tells them apart)."""
        job = await self.status(job_id)
        if on_begin is not None:
            on_begin(list(job["categories"]))
        if on_result is not None:
            for result in job.get("results", []):
                on_result(result)
        last_id: str = job["lastEventId"]
        progress = dict(job["progress"])
        if on_progress is not None:
            on_progress(progress["current"], progress["total"])
        failures = 0
        while job["status"] not in TERMINAL:
            try:
                async for event in self.events(job_id, last_id):
                    failures = 0
                    data = loads(event.data)
                    last_id = event.id or last_id
                    if "progress" in data:
                        progress = data["progress"]
                    if data.get("type") == "snapshot":
                        job = data["job"]
                        for result in job.get("results", []):
                            if on_result is not None:
                                on_result(result)
                    elif data.get("type") == "result" and on_result is not None:
                        on_result(data["result"])
                    elif data.get("type") == "status":
                        job = {**job, "status": data["status"], "error": data.get("error")}
                    if on_progress is not None:
                        on_progress(progress["current"], progress["total"])
                    if job["status"] in TERMINAL:
                        break
            except (TimeoutError, aiohttp.ClientError) as exc:
                failures += 1
                if failures > RECONNECT_ATTEMPTS:
                    raise ClientError(f"이벤트 스트림이 계속 끊어집니다: {exc}") from None
            if job["status"] in TERMINAL:
                break
            # The stream ended without a terminal status (dropped, or the server closed it):
            # reopen from the last id seen, after a short pause that grows while it fails.
            self.reconnects += 1
            await asyncio.sleep(min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2 ** max(0, failures - 1)))
        return {**job, "progress": progress}
