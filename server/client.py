"""A command-line client of the API: submit a batch, follow it over SSE, write results.

Following a job = one poll of ``/api/documents/status`` (the results so far and their
``lastEventId``), then the SSE stream from that id (or, with ``--poll``, polls with
``?since=<lastEventId>``, each carrying only the new results). A dropped stream is reopened with
``Last-Event-ID``, so every result is written exactly once, in keyword order, whatever
happens to the connection. Results go to stdout (CSV or JSON lines); the progress bar goes
to stderr, so ``doccount submit k.txt --follow > out.csv`` gives a clean file.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp

from server.events import dumps, loads

TERMINAL = frozenset({"completed", "failed", "cancelled"})
EVENTS_PATH = "/api/documents/events"
RECONNECT_FIRST_S = 0.2
RECONNECT_MAX_S = 5.0
RECONNECT_ATTEMPTS = 10  # consecutive failures before giving up
BAR_WIDTH = 24
BAR_MIN_INTERVAL_S = 0.1
# Not reached, or briefly unable to answer: poll again (with a growing pause).
RETRIED_CODES = frozenset({"client_error", "store_unavailable", "shutting_down"})
POLL_EVERY_S = 1.0  # --poll: the job's status every second (only what is new each time)


class ClientError(Exception):
    """The server said no (``code`` is its stable code) or could not be reached."""

    def __init__(self, message: str, code: str = "client_error") -> None:
        super().__init__(message)
        self.code = code


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


# --- output -------------------------------------------------------------------------------


class ResultWriter:
    """Writes each result once, in keyword order, as CSV or JSON lines."""

    def __init__(self, out: TextIO, fmt: str, categories: list[str] | None = None) -> None:
        self.out = out
        self.fmt = fmt
        self.categories = categories or []
        self.written: set[int] = set()
        self.started = False

    def begin(self, job_categories: list[str]) -> None:
        """Columns: the categories asked for, else the job's. Writes the CSV header once."""
        if self.started:
            return
        self.started = True
        self.categories = self.categories or job_categories
        if self.fmt == "csv":
            self._row(["keyword", *self.categories, "error"])

    def _row(self, cells: list[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        self.out.write(buf.getvalue())

    def write(self, result: dict[str, Any]) -> None:
        index = result.get("index")
        if isinstance(index, int):
            if index in self.written:
                return  # seen before a reconnect: never twice
            self.written.add(index)
        if self.fmt == "csv":
            counts = result.get("counts", {})
            self._row(
                [
                    result.get("keyword", ""),
                    *(counts.get(c, "") for c in self.categories),
                    result.get("error") or "",
                ]
            )
        else:
            self.out.write(dumps(result) + "\n")
        self.out.flush()


class ProgressBar:
    """``[#####.....] 15/100  15%  3.2/s  남은 시간 0:27`` on stderr, redrawn in place."""

    def __init__(self, err: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.err = err
        self.clock = clock
        self.started_s: float | None = None
        self.start_current = 0
        self.last_draw_s = float("-inf")
        self.drawn = False

    @staticmethod
    def render(current: int, total: int, rate_per_s: float | None) -> str:
        fraction = current / total if total else 1.0
        filled = round(BAR_WIDTH * fraction)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = f"[{bar}] {current}/{total} {fraction:4.0%}"
        if rate_per_s is not None and rate_per_s > 0:
            left_s = round((total - current) / rate_per_s)
            text += f"  {rate_per_s:.1f}/s  남은 시간 {left_s // 60}:{left_s % 60:02d}"
        return text

    def update(self, current: int, total: int, *, force: bool = False) -> None:
        now = self.clock()
        if self.started_s is None:
            self.started_s, self.start_current = now, current
        if not force and now - self.last_draw_s < BAR_MIN_INTERVAL_S:
            return
        self.last_draw_s = now
        elapsed_s = now - self.started_s
        done_here = current - self.start_current
        rate = done_here / elapsed_s if elapsed_s > 0 and done_here > 0 else None
        self.err.write("\r" + self.render(current, total, rate) + "\033[K")
        self.err.flush()
        self.drawn = True

    def finish(self, line: str) -> None:
        self.err.write(("\n" if self.drawn else "") + line + "\n")
        self.err.flush()


# --- the API ------------------------------------------------------------------------------


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

    async def status_since(self, job_id: str, since: str) -> tuple[dict[str, Any], bool]:
        """The incremental poll: the job with only the results after event ``since``, and
        whether the server answered with every result instead (a gap)."""
        body = await self._json(
            "GET", "/api/documents/status", params={"jobId": job_id, "since": since}
        )
        job: dict[str, Any] = body["job"]
        return job, bool(body.get("gap"))

    async def follow_polling(
        self,
        job_id: str,
        writer: ResultWriter | None,
        bar: ProgressBar | None,
        every_s: float = POLL_EVERY_S,
    ) -> dict[str, Any]:
        """``follow`` without a stream (a proxy that buffers SSE): a poll every ``every_s``
        with ``since``, so each answer carries only the results not written yet."""
        job, _ = await self.status_since(job_id, "0")
        written = 0
        failures = 0
        if writer is not None:
            writer.begin(list(job["categories"]))
        while True:
            # Results are a prefix in keyword order: after a gap (every result again) skip
            # those already written.
            fresh = [r for r in job.get("results", []) if r["index"] >= written]
            for result in fresh:
                if writer is not None:
                    writer.write(result)
            written += len(fresh)
            progress = job["progress"]
            if bar is not None:
                bar.update(progress["current"], progress["total"])
            if job["status"] in TERMINAL:
                break
            await asyncio.sleep(every_s * (2 ** min(failures, 4)))
            try:
                job, _ = await self.status_since(job_id, job["lastEventId"])
                failures = 0
            except ClientError as exc:
                if exc.code not in RETRIED_CODES:
                    raise  # the server answered no: the job is gone, the token wrong, ...
                failures += 1
                if failures > RECONNECT_ATTEMPTS:
                    raise
        if bar is not None:
            bar.update(job["progress"]["current"], job["progress"]["total"], force=True)
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
        self, job_id: str, writer: ResultWriter | None, bar: ProgressBar | None
    ) -> dict[str, Any]:
        """Write every result of ``job_id`` and return the job once it is terminal."""
        job = await self.status(job_id)
        if writer is not None:
            writer.begin(list(job["categories"]))
            for result in job.get("results", []):
                writer.write(result)
        last_id: str = job["lastEventId"]
        progress = dict(job["progress"])
        if bar is not None:
            bar.update(progress["current"], progress["total"], force=True)
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
                            if writer is not None:
                                writer.write(result)
                    elif data.get("type") == "result" and writer is not None:
                        writer.write(data["result"])
                    elif data.get("type") == "status":
                        job = {**job, "status": data["status"], "error": data.get("error")}
                    if bar is not None:
                        bar.update(progress["current"], progress["total"])
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
        if bar is not None:
            bar.update(progress["current"], progress["total"], force=True)
        return {**job, "progress": progress}


# --- commands -----------------------------------------------------------------------------

DEFAULT_SERVER = "http://127.0.0.1:8080"
EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_ERROR = 2


def read_keywords(path: str, stdin: TextIO) -> list[str]:
    """One keyword per line; blank lines are skipped. ``-`` reads standard input."""
    if path == "-":
        text = stdin.read()
    else:
        with open(path, encoding="utf-8-sig") as f:  # -sig: files saved by Excel start with a BOM
            text = f.read()
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass
class Command:
    """What a client subcommand needs; the streams are parameters so tests can capture them."""

    name: str  # submit | watch | status
    server: str
    token: str | None
    fmt: str = "csv"
    follow: bool = False
    job_id: str | None = None
    keywords_file: str | None = None
    categories: list[str] | None = None
    priority: str | None = None
    poll: bool = False  # follow by polling with ?since= instead of the event stream
    poll_every_s: float = POLL_EVERY_S


def summary_line(job: dict[str, Any]) -> str:
    progress = job["progress"]
    line = f"{job['id']}: {job['status']} ({progress['current']}/{progress['total']})"
    return line + (f" - {job['error']}" if job.get("error") else "")


def exit_code(job: dict[str, Any]) -> int:
    return EXIT_JOB_FAILED if job["status"] in ("failed", "cancelled") else EXIT_OK


async def run_command(cmd: Command, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    bar = ProgressBar(err)
    async with aiohttp.ClientSession() as session:
        api = ApiClient(session, cmd.server, cmd.token)
        try:
            if cmd.name == "submit":
                assert cmd.keywords_file is not None
                keywords = read_keywords(cmd.keywords_file, stdin)
                job_id = await api.submit(keywords, cmd.categories, cmd.priority)
                err.write(f"작업 시작: {job_id} (키워드 {len(keywords)}개)\n")
                if not cmd.follow:
                    out.write(job_id + "\n")
                    return EXIT_OK
            else:
                assert cmd.job_id is not None
                job_id = cmd.job_id
            writer = ResultWriter(out, cmd.fmt, list(cmd.categories or []))
            if cmd.name == "status":
                job = await api.status(job_id)
                writer.begin(list(job["categories"]))
                for result in job.get("results", []):
                    writer.write(result)
            elif cmd.poll:
                job = await api.follow_polling(job_id, writer, bar, cmd.poll_every_s)
            else:
                job = await api.follow(job_id, writer, bar)
        except (ClientError, OSError) as exc:
            code = exc.code if isinstance(exc, ClientError) else "io_error"
            bar.finish(f"doccount: {exc} ({code})")
            return EXIT_ERROR
        bar.finish(summary_line(job))
        return exit_code(job)


# --- argv ---------------------------------------------------------------------------------

CLIENT_COMMANDS = frozenset({"submit", "watch", "status"})


def add_client_parsers(sub: Any) -> None:
    """``submit``, ``watch`` and ``status``, on the subparsers of the ``doccount`` parser."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--server",
            default=None,
            help=f"API base URL (DOCCOUNT_SERVER, default {DEFAULT_SERVER}); "
            "the token comes from DOCCOUNT_API_TOKEN",
        )
        p.add_argument("--format", dest="fmt", choices=["csv", "jsonl"], default="csv")

    def polling(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--poll",
            action="store_true",
            help="follow by polling (only new results each time) instead of the event stream",
        )

    submit = sub.add_parser("submit", help="start a batch from a keywords file (one per line)")
    submit.add_argument("keywords_file", metavar="FILE", help="keywords, one per line; - = stdin")
    submit.add_argument("--follow", action="store_true", help="follow it and write the results")
    submit.add_argument("--categories", help="blog,cafe,... (default: the server's)")
    submit.add_argument("--priority", choices=["high", "normal", "low"])
    common(submit)
    polling(submit)
    watch = sub.add_parser("watch", help="follow a job and write its results")
    watch.add_argument("job_id", metavar="JOBID")
    common(watch)
    polling(watch)
    status = sub.add_parser("status", help="a job's status and its results so far")
    status.add_argument("job_id", metavar="JOBID")
    common(status)


def command_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> Command:
    categories = getattr(args, "categories", None)
    return Command(
        name=args.command,
        server=args.server or env.get("DOCCOUNT_SERVER") or DEFAULT_SERVER,
        token=env.get("DOCCOUNT_API_TOKEN") or None,
        fmt=args.fmt,
        follow=getattr(args, "follow", False),
        job_id=getattr(args, "job_id", None),
        keywords_file=getattr(args, "keywords_file", None),
        categories=[c.strip() for c in categories.split(",") if c.strip()] if categories else None,
        priority=getattr(args, "priority", None),
        poll=getattr(args, "poll", False),
    )


def client_main(args: argparse.Namespace) -> int:
    cmd = command_from_args(args, os.environ)
    try:
        return asyncio.run(run_command(cmd, sys.stdout, sys.stderr, sys.stdin))
    except KeyboardInterrupt:
        return 130
