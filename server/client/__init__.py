"""The Python client of doccount, and the command line built on it (docs/client.md).

::

    from server.client import DocCount, ResultEvent

    async with DocCount("http://127.0.0.1:8080", token="...") as dc:
        job = await dc.submit(["맥북", "아이폰"])
        async for event in dc.watch(job.id):
            if isinstance(event, ResultEvent):
                print(event.result.keyword, event.result.counts)

``DocCountSync`` is the same for scripts and notebooks, without ``await``. Nothing here imports
the server (its web app, store or worker): ``doccount status`` and ``watch`` load only
aiohttp's client.
"""

from server.client.api import ClientError, DocCount, DocCountError, SseEvent, SseParser, sse_lines
from server.client.commands import (
    CLIENT_COMMANDS,
    Command,
    add_client_parsers,
    client_main,
    command_from_args,
    run_command,
)
from server.client.output import ProgressBar, ResultWriter, defuse
from server.client.sync import DocCountSync
from server.client.types import (
    Event,
    Job,
    Progress,
    ProgressEvent,
    Result,
    ResultEvent,
    StatusEvent,
)

__all__ = [
    "CLIENT_COMMANDS",
    "ClientError",
    "Command",
    "DocCount",
    "DocCountError",
    "DocCountSync",
    "Event",
    "Job",
    "Progress",
    "ProgressBar",
    "ProgressEvent",
    "Result",
    "ResultEvent",
    "ResultWriter",
    "SseEvent",
    "SseParser",
    "StatusEvent",
    "add_client_parsers",
    "client_main",
    "command_from_args",
    "defuse",
    "run_command",
    "sse_lines",
]
