"""``doccount`` / ``python -m server``: serve, worker, and the client commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

# The client commands must start without the server: its modules are imported where used.
from server.client.commands import CLIENT_COMMANDS, add_client_parsers, client_main
from server.flags import add_service_flags, settings_from_args

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger("doccount")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="doccount", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API and dashboard (and a worker)")
    add_service_flags(serve, "serve")
    worker = sub.add_parser("worker", help="a worker process (distributed mode)")
    add_service_flags(worker, "worker")
    add_client_parsers(sub)
    return parser


async def run_worker_process(settings: Settings) -> None:
    """The counting corridor alone (store, provider, worker): no web app, routes or hub."""
    from server.work.runtime import run_worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(settings, stop)


def new_event_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    """uvloop when asked (a faster loop and transports), else the standard one."""
    if not use_uvloop:
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError:
        raise ValueError("--uvloop needs the uvloop package (pip install uvloop)") from None
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in CLIENT_COMMANDS:
        return client_main(args)  # a client: no server settings needed
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"doccount: {exc}", file=sys.stderr)
        return 2
    try:
        loop = new_event_loop(settings.uvloop)
    except ValueError as exc:
        print(f"doccount: {exc}", file=sys.stderr)
        return 2
    asyncio.set_event_loop(loop)
    from server.logs import configure_logging
    from server.oslimits import install

    configure_logging(settings)
    install(loop)
    if args.command == "serve":
        log.info(
            "serving on http://%s:%d (store %s)",
            settings.host,
            settings.port,
            settings.store_url.split("@")[-1],
        )
        from server.api.app import create_app  # a worker process never loads the web app
        from server.api.serving import run

        run(create_app(settings), loop)
        return 0
    if args.command == "worker":
        with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=lambda: loop) as r:
            r.run(run_worker_process(settings))
        return 0
    return 2
