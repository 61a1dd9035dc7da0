"""The open-files limit is raised at start, and running out is logged once per interval."""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import subprocess
import sys

from server.oslimits import ThrottledExhaustionLog


def test_the_soft_limit_is_raised_to_the_hard_one():
    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 1024))

    code = (
        "import resource; from server.oslimits import raise_open_files_limit; "
        "print(raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=low_soft_limit,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "(1024, 1024) (1024, 1024)"


def exhaustion() -> dict[str, object]:
    return {
        "message": "socket.accept() out of system resource",
        "exception": OSError(errno.EMFILE, "Too many open files"),
    }


def test_exhaustion_is_logged_once_per_interval(caplog):
    now = [100.0]
    handler = ThrottledExhaustionLog(interval_s=10.0, clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="doccount.os"):
            for _ in range(5000):
                handler(loop, exhaustion())
            now[0] += 10.5
            for _ in range(3):
                handler(loop, exhaustion())
    finally:
        loop.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "doccount.os"]
    assert len(lines) == 2
    assert lines[0].startswith("out of system resources (EMFILE): socket.accept()")
    assert "; 0 more like it" in lines[0]
    assert "; 4999 more like it in the last 10 s" in lines[1]


def test_other_loop_errors_go_to_the_default_handler(caplog):
    handler = ThrottledExhaustionLog()
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR):
            handler(loop, {"message": "something else", "exception": ValueError("x")})
            handler(loop, {"message": "something else", "exception": ValueError("y")})
    finally:
        loop.close()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == [
        "something else",
        "something else",
    ]
