"""``GET /api/documents/jobs/{id}/export``: a job's results as a file.

``xlsx`` and ``csv`` are the one table every surface shows (server/export.py: Korean headers,
search volumes and 경쟁률, numbers as numbers, the CSV with a BOM so that Excel reads the Korean,
formulas defused): the dashboard's buttons, the CLI and the link webhooks send give the same.
``tsv`` and ``jsonl`` are the command line's streaming writers over the stored results.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import quote

from aiohttp import web

from server.appkeys import STORE
from server.client.output import ResultWriter
from server.errors import INVALID_FORMAT, JOB_NOT_FOUND
from server.export import CONTENT_TYPES as TABLE_TYPES
from server.export import render
from server.model import check_job_id

CONTENT_TYPES = {
    **TABLE_TYPES,
    "tsv": "text/tab-separated-values; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
}


def export_filename(job: dict[str, Any], fmt: str) -> str:
    """The job's name when it has one (characters a file system refuses replaced)."""
    name = job.get("name") or job["id"]
    safe = "".join("_" if ch in '\\/:*?"<>|' or ord(ch) < 32 else ch for ch in name)
    return f"{safe}.{fmt}"


def _stream_text(job: dict[str, Any], fmt: str) -> bytes:
    out = io.StringIO()
    writer = ResultWriter(out, fmt)
    writer.begin(list(job["categories"]))
    for result in job.get("results", []):
        writer.write(result)
    return out.getvalue().encode()


async def export_job(request: web.Request) -> web.Response:
    job_id = check_job_id(request.match_info["job_id"])
    fmt = request.query.get("format", "csv")
    if fmt not in CONTENT_TYPES:
        raise INVALID_FORMAT()
    job = await request.app[STORE].get_job(job_id)
    if job is None:
        raise JOB_NOT_FOUND()
    if fmt in TABLE_TYPES:
        # A 1,000-row workbook takes tens of ms to build: off the event loop.
        body = await asyncio.to_thread(render, job, fmt)
    else:
        body = _stream_text(job, fmt)
    name = export_filename(job, fmt)
    return web.Response(
        body=body,
        headers={
            "Content-Type": CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="{job_id}.{fmt}"; '
            f"filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )
