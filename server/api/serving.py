"""``doccount serve``'s own runner: what ``web.run_app`` did, plus the header sweeper.

``web.run_app`` keeps its ``AppRunner`` to itself, and the sweeper needs the runner's server
(its open connections). So this does what run_app does, step for step, with the same figures:
SIGINT/SIGTERM end the process gracefully (aiohttp's ``GracefulExit``), the sites stop
accepting, ``on_shutdown`` closes the open streams, open requests get ``SHUTDOWN_TIMEOUT_S`` to
finish, then ``cleanup_ctx`` runs in reverse; idle keep-alive connections close after
``KEEPALIVE_TIMEOUT_S``; no access log.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from server.api.capacity import OPEN_REQUESTS
from server.api.sweeper import HeaderSweeper, sweeping
from server.appkeys import HUB, METRICS, SETTINGS

SHUTDOWN_TIMEOUT_S = 5.0
KEEPALIVE_TIMEOUT_S = 75.0  # run_app's default, kept
# Connections the kernel completes and holds for accept() (capped by net.core.somaxconn).
# aiohttp's default of 128 is soon full in a burst of connections, or while the process is out
# of descriptors until the sweeper frees some: past it, a client whose handshake the kernel
# dropped waits for SYN-ACK retransmits (1, 3, 7, 15, 31 s ...) before it is seen at all.
LISTEN_BACKLOG = 1024


def header_sweeper(runner: web.AppRunner) -> HeaderSweeper:
    app = runner.app
    assert runner.server is not None, "the runner is set up first"
    return HeaderSweeper(
        runner.server,
        app[SETTINGS].header_timeout_s,
        app[OPEN_REQUESTS].limit,
        on_closed=app[METRICS].connections_closed,
        handed_over=app[HUB].handed_over,
    )


async def serve(app: web.Application) -> None:
    """Serve ``app`` until a signal (or a cancel) ends it, then shut down gracefully."""
    settings = app[SETTINGS]
    runner = web.AppRunner(
        app,
        handle_signals=True,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        keepalive_timeout=KEEPALIVE_TIMEOUT_S,
        access_log=None,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, backlog=LISTEN_BACKLOG)
        await site.start()
        async with sweeping(header_sweeper(runner)):
            await asyncio.Event().wait()  # until GracefulExit or a cancel
    finally:
        await runner.cleanup()


def run(app: web.Application, loop: asyncio.AbstractEventLoop) -> None:
    """``serve`` on ``loop`` to its end, then the loop closed, as ``web.run_app`` does."""
    main_task = loop.create_task(serve(app))
    try:
        loop.run_until_complete(main_task)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main_task.done():
                main_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main_task)
        finally:
            cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Whatever is still running (a task nobody awaited) cancelled and awaited, its errors
    reported, before the loop closes."""
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception while the server stopped",
                    "exception": task.exception(),
                    "task": task,
                }
            )
