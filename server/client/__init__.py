"""The client side of doccount: the API client, what the command line writes, its commands.

Nothing here imports the server (its web app, store or worker): ``doccount status`` and
``watch`` load only aiohttp's client.
"""

from server.client.api import ApiClient, ClientError, SseEvent, SseParser, sse_lines
from server.client.commands import (
    CLIENT_COMMANDS,
    Command,
    add_client_parsers,
    client_main,
    command_from_args,
    run_command,
)
from server.client.output import ProgressBar, ResultWriter, defuse

__all__ = [
    "CLIENT_COMMANDS",
    "ApiClient",
    "ClientError",
    "Command",
    "ProgressBar",
    "ResultWriter",
    "SseEvent",
    "SseParser",
    "add_client_parsers",
    "client_main",
    "command_from_args",
    "defuse",
    "run_command",
    "sse_lines",
]
