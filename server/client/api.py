"""``DocCount``: the Python client of the API (the command line is built on it).

::

    async with DocCount("http://127.0.0.1:8080", token="...") as dc:
        job = await dc.submit(["맥북", "아이폰"], categories=["blog", "news"])
        async for event in dc.watch(job.id):
            if isinstance(event, ResultEvent):
                print(event.result.keyword, event.result.counts)

Watching a job = one poll of ``/api/documents/status`` (the results so far and their
``lastEventId``), then the SSE stream from that id. A dropped stream is reopened with
``Last-Event-ID``, so every result is yielded exactly once, whatever happens to the connection.
``watch_polling`` does without a stream: polls with ``?since=<lastEventId>``, each answer
carrying only the results not seen yet.

Imports nothing of the server (only aiohttp's client and orjson): ``doccount status`` and
``watch`` start without loading the web app, the store or the worker. docs/client.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from server.client.types import (
    TERMINAL,
    Event,
    Job,
    Progress,
    ProgressEvent,
    Result,
    ResultEvent,
    StatusEvent,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
EVENTS_PATH = "/api/documents/events"
RECONNECT_FIRST_S = 0.2
RECONNECT_MAX_S = 5.0
RECONNECT_ATTEMPTS = 10  # consecutive failures before giving up
POLL_EVERY_S = 1.0  # watch_polling: the job's status every second (only what is new each time)
# Not reached, or briefly unable to answer: poll again (after a growing pause).
RETRIED_CODES = frozenset(
    {"connection_error", "invalid_response", "store_unavailable", "shutting_down"}
)


class DocCountError(Exception):
    """The server said no (``code`` is its stable code, ``status`` the HTTP status) or could
    not be reached (``code`` ``connection_error``, ``status`` None)."""

    def __init__(self, message: str, code: str = "client_error", status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


ClientError = DocCountError  # the name the command line used first


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


class DocCount:
    """An async client of one doccount service. Use it as ``async with``, or call ``close``.

    ``token``: the API token (sent as ``Authorization: Bearer``). ``session``: an aiohttp
    session of your own (then it is not closed here). ``reconnect_attempts``: consecutive failed
    stream connections before ``watch`` gives up with ``DocCountError("stream_lost")``.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 30.0,
        reconnect_attempts: int = RECONNECT_ATTEMPTS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.reconnect_attempts = reconnect_attempts
        self.reconnects = 0  # stream connections reopened, over this client's life

    async def __aenter__(self) -> DocCount:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self.session.request(
                method, self.base_url + path, headers=self._headers, timeout=self._timeout, **kwargs
            ) as resp:
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DocCountError(
                f"서버에 연결할 수 없습니다: {self.base_url} ({exc or type(exc).__name__})",
                "connection_error",
            ) from None
        try:
            body: dict[str, Any] = loads(raw)
        except ValueError:
            raise DocCountError(
                f"서버 응답이 JSON이 아닙니다 (HTTP {resp.status})", "invalid_response", resp.status
            ) from None
        if not isinstance(body, dict) or not body.get("success"):
            body = body if isinstance(body, dict) else {}
            raise DocCountError(str(body.get("error")), str(body.get("code")), resp.status)
        return body

    # --- requests ---------------------------------------------------------------------------

    async def submit_id(
        self,
        keywords: Sequence[str],
        *,
        categories: Sequence[str] | None = None,
        priority: str | None = None,
        webhook_url: str | None = None,
        name: str | None = None,
    ) -> str:
        """Start a batch; its job id (one request, where ``submit`` makes two). ``name``: the
        job's name (default: its first keyword and how many more)."""
        payload: dict[str, Any] = {"keywords": list(keywords)}
        if name:
            payload["name"] = name
        if categories:
            payload["categories"] = list(categories)
        if priority:
            payload["priority"] = priority
        if webhook_url:
            payload["webhook"] = {"url": webhook_url}
        body = await self._json("POST", "/api/documents/batch", json=payload)
        return str(body["jobId"])

    async def plan(
        self, keywords: Sequence[str], *, categories: Sequence[str] | None = None
    ) -> dict[str, Any] | None:
        """The quota plan of a batch before it starts (nothing is created): ``callsNeeded``,
        ``callsLeftToday``, ``fits``, ``finishesNotBefore``; None where no quota applies."""
        payload: dict[str, Any] = {"keywords": list(keywords)}
        if categories:
            payload["categories"] = list(categories)
        body = await self._json("POST", "/api/documents/plan", json=payload)
        plan = body.get("quota")
        return plan if isinstance(plan, dict) else None

    async def submit(
        self,
        keywords: Sequence[str],
        *,
        categories: Sequence[str] | None = None,
        priority: str | None = None,
        webhook_url: str | None = None,
    ) -> Job:
        """Start a batch (answered at once; counting runs in the background); the new job."""
        job_id = await self.submit_id(
            keywords, categories=categories, priority=priority, webhook_url=webhook_url
        )
        return await self.status(job_id)

    async def status(self, job_id: str) -> Job:
        """The job with its results so far."""
        return Job.from_json(await self.status_json(job_id))

    async def status_json(self, job_id: str) -> dict[str, Any]:
        body = await self._json("GET", "/api/documents/status", params={"jobId": job_id})
        job: dict[str, Any] = body["job"]
        return job

    async def status_since(self, job_id: str, since: str) -> tuple[Job, bool]:
        """The incremental poll: the job with only the results committed after event
        ``since`` (a ``last_event_id`` it gave; ``"0"``: all), and whether the server sent
        every result instead because its log no longer reaches back that far (a gap)."""
        body = await self._json(
            "GET", "/api/documents/status", params={"jobId": job_id, "since": since}
        )
        return Job.from_json(body["job"]), bool(body.get("gap"))

    async def export(self, job_id: str, fmt: str = "xlsx") -> bytes:
        """The job's results as the server's export: ``xlsx`` (a workbook) or ``csv`` (UTF-8
        with a BOM), the same table the dashboard's buttons download."""
        url = f"{self.base_url}/api/documents/jobs/{job_id}/export"
        try:
            async with self.session.get(
                url, params={"format": fmt}, headers=self._headers, timeout=self._timeout
            ) as resp:
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DocCountError(
                f"서버에 연결할 수 없습니다: {self.base_url} ({exc or type(exc).__name__})",
                "connection_error",
            ) from None
        if resp.status != 200:
            try:
                body = loads(raw)
            except ValueError:
                body = None
            body = body if isinstance(body, dict) else {}
            raise DocCountError(
                str(body.get("error") or f"내보내기 실패 (HTTP {resp.status})"),
                str(body.get("code") or "invalid_response"),
                resp.status,
            )
        return raw

    async def cancel(self, job_id: str) -> Job:
        """Ask the job to stop; it ends ``cancelled`` after the keyword in hand."""
        body = await self._json("DELETE", f"/api/documents/jobs/{job_id}")
        return Job.from_json(body["job"])

    async def jobs(self, limit: int = 50) -> list[Job]:
        """The most recent jobs, newest first (summaries: no results)."""
        body = await self._json("GET", "/api/documents/jobs", params={"limit": str(limit)})
        return [Job.from_json(j) for j in body["jobs"]]

    # --- following a job --------------------------------------------------------------------

    async def sse(self, job_id: str, last_event_id: str) -> AsyncIterator[SseEvent]:
        """One SSE connection, from just after ``last_event_id``, until the server ends it."""
        headers = {**self._headers, "Last-Event-ID": last_event_id, "Accept": "text/event-stream"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with self.session.get(
            self.base_url + EVENTS_PATH, params={"jobId": job_id}, headers=headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                try:
                    body = loads(await resp.read())
                except ValueError:
                    raise DocCountError(
                        f"이벤트 스트림을 열 수 없습니다 (HTTP {resp.status})",
                        "invalid_response",
                        resp.status,
                    ) from None
                raise DocCountError(str(body.get("error")), str(body.get("code")), resp.status)
            parser = SseParser(last_event_id=last_event_id)
            async for line in sse_lines(resp.content):
                event = parser.feed(line)
                if event is not None:
                    yield event

    async def watch(
        self, job_id: str, *, last_event_id: str | None = None, start: Job | None = None
    ) -> AsyncGenerator[Event, None]:
        """The job's events until it ends: a ``StatusEvent`` first (its status now), a
        ``ResultEvent`` for every result (those already done first), ``ProgressEvent`` ticks,
        status changes; the last event is a terminal ``StatusEvent``.

        Every result exactly once: a dropped stream is reopened from the last event id seen.
        ``last_event_id`` resumes an earlier watch (what its last event's ``id`` was): only what
        came after it is yielded. ``start``: the job as just read with ``status``, to begin
        from it instead of reading it again."""
        seen: set[int] = set()

        def fresh(results: Sequence[Result]) -> list[Result]:
            new = [r for r in results if r.index not in seen]
            seen.update(r.index for r in new)
            return new

        if last_event_id is None:
            job = start if start is not None else await self.status(job_id)
            last_id = job.last_event_id
            status, progress, error = job.status, job.progress, job.error
            if status not in TERMINAL:
                yield StatusEvent(last_id, status, progress, error)
            for result in fresh(job.results):
                yield ResultEvent(last_id, result, progress)
            if status in TERMINAL:
                yield StatusEvent(last_id, status, progress, error)
                return
        else:
            last_id, status = last_event_id, ""
            progress = Progress(0, 0)
        failures = 0
        while True:
            try:
                async for sse in self.sse(job_id, last_id):
                    failures = 0
                    data = loads(sse.data)
                    last_id = sse.id or last_id
                    if "progress" in data:
                        progress = Progress.from_json(data["progress"])
                    kind = data.get("type")
                    if kind == "snapshot":
                        job = Job.from_json(data["job"])
                        progress = job.progress
                        if job.status != status and job.status not in TERMINAL:
                            status = job.status
                            yield StatusEvent(last_id, status, progress, job.error)
                        for result in fresh(job.results):
                            yield ResultEvent(last_id, result, progress)
                        if job.status in TERMINAL:
                            yield StatusEvent(last_id, job.status, progress, job.error)
                            return
                    elif kind == "result":
                        result = Result.from_json(data["result"])
                        if result.index not in seen:
                            seen.add(result.index)
                            yield ResultEvent(last_id, result, progress)
                    elif kind == "progress":
                        eta = data.get("etaMs")
                        rate = data.get("ratePerSec")
                        resumes = data.get("resumesAtMs")
                        yield ProgressEvent(
                            last_id,
                            progress,
                            float(rate) if isinstance(rate, int | float) else None,
                            eta if isinstance(eta, int) else None,
                            data.get("waiting"),
                            data.get("stalled") is True,
                            resumes if isinstance(resumes, int) else None,
                        )
                    elif kind == "status":
                        status = str(data["status"])
                        yield StatusEvent(last_id, status, progress, data.get("error"))
                        if status in TERMINAL:
                            return
            except (TimeoutError, aiohttp.ClientError) as exc:
                failures += 1
                if failures > self.reconnect_attempts:
                    raise DocCountError(
                        f"이벤트 스트림이 계속 끊어집니다: {exc or type(exc).__name__}",
                        "stream_lost",
                    ) from None
            # The stream ended without a terminal status (dropped, or the server closed it):
            # reopen from the last id seen, after a short pause that grows while it fails.
            self.reconnects += 1
            await asyncio.sleep(min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2 ** max(0, failures - 1)))

    async def watch_polling(
        self, job_id: str, *, every_s: float = POLL_EVERY_S, start: Job | None = None
    ) -> AsyncGenerator[Event, None]:
        """``watch`` without a stream (for a proxy that buffers SSE): a poll every ``every_s``
        with ``since``, so each answer carries only the results not seen yet. The same events
        as ``watch`` but progress ticks; every result exactly once, in keyword order."""
        job = start
        since = "0"
        status = ""
        next_index = 0  # results are a prefix in keyword order
        failures = 0
        while True:
            if job is None:
                try:
                    # After a gap every result comes again: those below next_index are skipped.
                    job, _ = await self.status_since(job_id, since)
                    failures = 0
                except DocCountError as exc:
                    if exc.code not in RETRIED_CODES:
                        raise  # the server said no: the job is gone, the token is wrong, ...
                    failures += 1
                    if failures > self.reconnect_attempts:
                        raise
                    await asyncio.sleep(min(RECONNECT_MAX_S, every_s * 2**failures))
                    continue
            since = job.last_event_id
            if job.status != status and job.status not in TERMINAL:
                status = job.status
                yield StatusEvent(since, status, job.progress, job.error)
            for result in job.results:
                if result.index >= next_index:
                    next_index = result.index + 1
                    yield ResultEvent(since, result, job.progress)
            if job.status in TERMINAL:
                yield StatusEvent(since, job.status, job.progress, job.error)
                return
            job = None
            await asyncio.sleep(every_s)

    async def wait(self, job_id: str) -> Job:
        """Follow the job to its end; the final job, every result included."""
        async for _ in self.watch(job_id):
            pass
        return await self.status(job_id)
