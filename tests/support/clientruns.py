"""The ``doccount`` client run as the CLI tests run it: a keywords file, and a followed job
whose connection is cut mid-way."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from server.client import Command, run_command
from server.settings import Settings
from tests.support.common import base_settings, wait_until
from tests.support.fakeupstream import FakeNaver
from tests.support.tcpproxy import TcpProxy


def keywords_file(tmp_path: Path, keywords: list[str]) -> str:
    path = tmp_path / "keywords.txt"
    path.write_text("\n".join(keywords) + "\n\n", encoding="utf-8")
    return str(path)


@dataclass
class CutRun:
    results: list[dict[str, Any]]  # the jsonl lines the client wrote
    cut: int  # connections the cut closed
    proxy: TcpProxy  # closed; what went through it is still there to read


async def follow_across_a_cut(
    tmp_path: Path,
    serve: Callable[[Settings], Awaitable[str]],
    keywords: list[str],
    **command: Any,
) -> CutRun:
    """``submit --follow --format jsonl`` of ``keywords`` through a TCP proxy, cut once two
    results are out. A slow upstream and one keyword at a time: the job is still running at
    the cut. ``command``: more fields of the Command (``poll=True``, ...)."""
    fake = FakeNaver(latency_s=0.05)
    upstream = TestServer(fake.app(), host="127.0.0.1")
    await upstream.start_server()
    settings = replace(
        base_settings(tmp_path, str(upstream.make_url("/v1/search"))), keyword_concurrency=1
    )
    url = await serve(settings)
    host, port = url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    out, err = io.StringIO(), io.StringIO()
    cmd = Command(
        "submit",
        f"http://127.0.0.1:{proxy.port}",
        None,
        fmt="jsonl",
        follow=True,
        keywords_file=keywords_file(tmp_path, keywords),
        **command,
    )
    try:
        task = asyncio.create_task(run_command(cmd, out, err, io.StringIO()))
        await wait_until(lambda: out.getvalue().count("\n") >= 2)
        cut = proxy.cut()
        assert await asyncio.wait_for(task, 30) == 0, err.getvalue()
    finally:
        await proxy.close()
        await upstream.close()
    return CutRun([json.loads(line) for line in out.getvalue().splitlines()], cut, proxy)
