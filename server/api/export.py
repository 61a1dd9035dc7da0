"""``GET /api/documents/jobs/{id}/export``: a job's results as a file.

CSV (UTF-8 with a BOM, so Excel shows Korean), TSV or JSON lines, written by the command line's
writers: text cells a spreadsheet would run as a formula are defused, like the dashboard's
export. The link webhooks send.
"""

from __future__ import annotations

import io

from aiohttp import web

from server.appkeys import STORE
from server.client.output import ResultWriter
from server.errors import INVALID_FORMAT, JOB_NOT_FOUND
from server.model import check_job_id

CONTENT_TYPES = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "jsonl": "application/x-ndjson",
}


async def export_job(request: web.Request) -> web.Response:
    job_id = check_job_id(request.match_info["job_id"])
    fmt = request.query.get("format", "csv")
    if fmt not in CONTENT_TYPES:
        raise INVALID_FORMAT()
    job = await request.app[STORE].get_job(job_id)
    if job is None:
        raise JOB_NOT_FOUND()
    out = io.StringIO()
    if fmt == "csv":
        out.write("\ufeff")
    writer = ResultWriter(out, fmt)
    writer.begin(list(job["categories"]))
    for result in job.get("results", []):
        writer.write(result)
    return web.Response(
        text=out.getvalue(),
        content_type=CONTENT_TYPES[fmt],
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{job_id}.{fmt}"'},
    )
