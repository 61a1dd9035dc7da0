"""``doccount submit``, ``watch`` and ``status``: argv to a ``Command``, a ``Command`` run.

Messages are Korean, like the server's; ``--help`` stays English like the server's flags.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TextIO

from server.client.api import POLL_EVERY_S, DocCount, DocCountError
from server.client.output import EXPORT_FORMATS, FORMATS, ProgressBar, ResultWriter, is_terminal
from server.client.types import (
    Job,
    ProgressEvent,
    ResultEvent,
    StatusEvent,
    health_text,
    plan_text,
)
from server.keyfiles import KeywordFileError
from server.keyfiles import read_keywords as read_file_keywords

DEFAULT_SERVER = "http://127.0.0.1:8080"
EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def read_keywords(path: str, stdin: TextIO, column: str | None = None) -> list[str]:
    """The keywords of a .txt (one per line, or a tab-separated paste), .csv/.tsv or .xlsx
    file, by the dashboard's rules (server/keyfiles.py: a 키워드/keyword header row is
    skipped, numbers alone are not keywords; ``column`` by header name or number). ``-`` reads
    standard input as text."""
    try:
        if path == "-":
            return read_file_keywords(stdin.read().encode("utf-8"), "stdin.txt", column)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise DocCountError(
                f"키워드 파일을 읽을 수 없습니다: {path} ({exc.strerror or exc})", "io_error"
            ) from None
        return read_file_keywords(data, path, column)
    except KeywordFileError as exc:
        raise DocCountError(f"{path}: {exc}", exc.code) from None


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
    job_name: str | None = None
    output: str | None = None  # csv/xlsx: write the export here instead of stdout
    column: str | None = None  # the keyword column of a .csv/.xlsx file
    poll: bool = False  # follow by polling with ?since= instead of the event stream
    poll_every_s: float = POLL_EVERY_S


def summary_line(job: Job) -> str:
    named = f" {job.name}" if job.name else ""
    line = f"{job.id}{named}: {job.status} ({job.progress.current}/{job.progress.total})"
    # A job still to run that nobody counts now (no worker, the quota spent): why, and till when.
    note = health_text(job.raw) if job.status in ("pending", "processing") else None
    return line + (f" - {job.error}" if job.error else "") + (f" · {note}" if note else "")


def exit_code(job: Job) -> int:
    return EXIT_JOB_FAILED if job.status in ("failed", "cancelled") else EXIT_OK


async def follow(
    dc: DocCount,
    job_id: str,
    writer: ResultWriter | None,
    bar: ProgressBar,
    poll_every_s: float | None = None,
) -> Job:
    """Write every result of the job as it comes (without a writer: only the bar); the job at
    its end. ``poll_every_s``: by polling (only the new results each time) instead of the
    event stream."""
    job = await dc.status(job_id)
    if writer is not None:
        writer.begin(list(job.categories))
    final: StatusEvent | None = None
    progress = job.progress
    note = health_text(job.raw)  # nobody counts it: say so instead of a rate and an ETA
    events = (
        dc.watch(job_id, start=job)
        if poll_every_s is None
        else dc.watch_polling(job_id, every_s=poll_every_s, start=job)
    )
    async for event in events:
        progress = event.progress
        if isinstance(event, ResultEvent):
            if writer is not None:
                writer.write(event.result.raw)
            note = None  # counting again
        elif isinstance(event, StatusEvent):
            final = event
        elif isinstance(event, ProgressEvent):
            note = health_text(
                {
                    "waiting": event.waiting,
                    "stalled": event.stalled,
                    "resumesAtMs": event.resumes_at_ms,
                }
            )
        bar.update(progress.current, progress.total, note=note)
    bar.update(progress.current, progress.total, force=True)
    assert final is not None  # watch ends with a terminal status
    return replace(job, status=final.status, error=final.error, progress=progress)


async def plan_of(
    dc: DocCount, keywords: list[str], categories: Sequence[str] | None
) -> dict[str, Any] | None:
    """The plan before the job starts; None from a server without the plan endpoint (404) or
    without a quota (demo): the submit goes on either way, and says why it could not if not."""
    try:
        return await dc.plan(keywords, categories=categories)
    except DocCountError as exc:
        if exc.status == 404:
            return None
        raise


async def run_command(
    cmd: Command,
    out: TextIO,
    err: TextIO,
    stdin: TextIO,
    *,
    bar: ProgressBar | None = None,
) -> int:
    bar = bar if bar is not None else ProgressBar(err)
    exporting = cmd.fmt in EXPORT_FORMATS
    writer = None if exporting else ResultWriter(out, cmd.fmt, list(cmd.categories or []), bar)
    if cmd.fmt == "xlsx" and cmd.output is None and is_terminal(out):
        bar.finish("doccount: xlsx는 파일로 저장하세요: -o 결과.xlsx 또는 > 결과.xlsx (usage)")
        return EXIT_ERROR
    async with DocCount(cmd.server, token=cmd.token) as dc:
        try:
            if cmd.name == "submit":
                assert cmd.keywords_file is not None
                keywords = read_keywords(cmd.keywords_file, stdin, cmd.column)
                plan = await plan_of(dc, keywords, cmd.categories)
                if plan is not None:
                    bar.line(f"할당량: {plan_text(plan)}")
                job_id = await dc.submit_id(
                    keywords, categories=cmd.categories, priority=cmd.priority, name=cmd.job_name
                )
                bar.line(f"작업 시작: {job_id} (키워드 {len(keywords)}개)")
                if not cmd.follow:
                    out.write(job_id + "\n")
                    return EXIT_OK
            else:
                assert cmd.job_id is not None
                job_id = cmd.job_id
            if cmd.name == "status":
                job = await dc.status(job_id)
                if writer is not None:
                    writer.begin(list(job.categories))
                    for result in job.results:
                        writer.write(result.raw)
            else:
                every_s = cmd.poll_every_s if cmd.poll else None
                job = await follow(dc, job_id, writer, bar, every_s)
            if exporting:
                write_export(await dc.export(job_id, cmd.fmt), out, cmd.output)
        except (DocCountError, OSError) as exc:
            code = exc.code if isinstance(exc, DocCountError) else "io_error"
            bar.finish(f"doccount: {exc} ({code})")
            return EXIT_ERROR
        bar.finish(summary_line(job))
        return exit_code(job)


def write_export(data: bytes, out: TextIO, output: str | None) -> None:
    """The export's bytes as they are (a workbook, or CSV with its BOM) to ``output`` or to
    standard output."""
    if output is not None:
        with open(output, "wb") as f:
            f.write(data)
        return
    out.flush()
    binary = getattr(out, "buffer", None)
    if binary is not None:
        binary.write(data)
        binary.flush()
    else:  # a text stream with no bytes below it (tests): CSV only
        out.write(data.decode("utf-8"))


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
        p.add_argument(
            "--format",
            dest="fmt",
            choices=FORMATS,
            default="csv",
            help="results on stdout: csv (default) or xlsx, the server's export once the job "
            "ends (Korean headers, search volumes, 경쟁률; the dashboard's table); tsv, jsonl or "
            "an aligned table stream result by result",
        )
        p.add_argument(
            "-o", "--output", default=None, help="csv/xlsx: write the export to this file"
        )

    def polling(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--poll",
            action="store_true",
            help="follow by polling (only the new results each time) instead of the event "
            "stream: for a proxy that buffers SSE",
        )

    submit = sub.add_parser("submit", help="start a batch from a keywords file (one per line)")
    submit.add_argument(
        "keywords_file",
        metavar="FILE",
        help="keywords: .txt (one per line), .csv/.tsv or .xlsx; - = stdin",
    )
    submit.add_argument(
        "--column",
        help="the keyword column of a .csv/.xlsx: its header (e.g. 키워드) or number from 1 "
        "(default: the 키워드/keyword column, else the first)",
    )
    submit.add_argument("--follow", action="store_true", help="follow it and write the results")
    submit.add_argument("--categories", help="blog,cafe,... (default: the server's)")
    submit.add_argument("--priority", choices=["high", "normal", "low"])
    submit.add_argument(
        "--name", dest="job_name", help="the job's name (default: its first keyword 외 N개)"
    )
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
        job_name=getattr(args, "job_name", None),
        output=getattr(args, "output", None),
        column=getattr(args, "column", None),
        poll=getattr(args, "poll", False),
    )


def client_main(args: argparse.Namespace) -> int:
    cmd = command_from_args(args, os.environ)
    try:
        return asyncio.run(run_command(cmd, sys.stdout, sys.stderr, sys.stdin))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
