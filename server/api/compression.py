"""gzip for the large JSON answers (a status poll of a big job, the job list), when the client
says it accepts gzip.

aiohttp's own choice would be deflate whenever the client lists it (it tries its codings in
a fixed order, deflate first), and raw-vs-zlib-wrapped deflate is a known interoperability
trap, so gzip is forced when accepted and nothing otherwise. Bodies under ``GZIP_MIN_BYTES``
go out as they are: a header and a trailer cost more than they save. aiohttp compresses a
body over 4 KiB in its executor, so a 150 KB status does not hold the event loop.

The event streams are not compressed here: an SSE page is written once and the same bytes go
to every subscriber (server/live/outbox.py); a gzip stream per connection would compress each
event once per subscriber, the per-connection cost the hub exists to avoid (RESULTS.md, bytes
per delivered result, has the figures).
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.web_response import ContentCoding

GZIP_MIN_BYTES = 1024


def accepts_gzip(request: web.BaseRequest) -> bool:
    """``Accept-Encoding`` lists gzip (or ``*``) without ``q=0``."""
    for part in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() not in ("gzip", "x-gzip", "*"):
            continue
        name, _, value = params.strip().partition("=")
        if name.strip() != "q":
            return True
        try:
            return float(value) > 0
        except ValueError:
            return False
    return False


def gzip_if_accepted(request: web.BaseRequest, resp: web.Response) -> web.Response:
    """The same response, compressed with gzip when the client accepts it and it is worth it.
    ``Vary`` tells caches that the body depends on ``Accept-Encoding``."""
    body = resp.body
    size = len(body) if isinstance(body, bytes | bytearray) else 0
    if size < GZIP_MIN_BYTES:
        return resp
    resp.headers.add(hdrs.VARY, hdrs.ACCEPT_ENCODING)
    if accepts_gzip(request):
        resp.enable_compression(ContentCoding.gzip)
    return resp
