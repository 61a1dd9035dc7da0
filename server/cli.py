"""``doccount`` / ``python -m server``: serve, worker, and the client commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from server.api.app import create_app
from server.client import CLIENT_COMMANDS, add_client_parsers, client_main
from server.logs import configure_logging
from server.settings import Settings, settings_from_env

log = logging.getLogger("doccount")


def add_service_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", dest="store_url", help="sqlite:///path.db or redis://host:port/db")
    p.add_argument("--provider", choices=["naver", "demo"])
    p.add_argument("--naver-base-url", dest="naver_base_url")
    p.add_argument("--rate", dest="rate_per_s", type=float, help="upstream calls/s per key")
    p.add_argument(
        "--volume-provider",
        dest="volume_provider",
        choices=["off", "naver", "demo"],
        help="monthly search volumes (default: naver with NAVER_AD_* credentials, demo with "
        "the demo provider, else off)",
    )
    p.add_argument("--ad-api-base", dest="ad_api_base", help="Search Ad API base URL")
    p.add_argument(
        "--ad-rate", dest="ad_rate_per_s", type=float, help="Search Ad calls/s (default 2)"
    )
    p.add_argument("--volume-cache-ttl-s", dest="volume_cache_ttl_s", type=float)
    p.add_argument("--categories", type=lambda s: tuple(s.split(",")), help="blog,cafe,...")
    p.add_argument("--api-token", dest="api_token")
    p.add_argument("--cors-origin", dest="cors_origins", action="append")
    p.add_argument("--log-format", dest="log_format", choices=["text", "json"])
    p.add_argument("--max-active-jobs", dest="max_active_jobs", type=int)
    p.add_argument("--keyword-concurrency", dest="keyword_concurrency", type=int)
    p.add_argument("--retry-base-s", dest="retry_base_s", type=float)
    p.add_argument("--job-ttl-s", dest="job_ttl_s", type=float)
    p.add_argument("--cache-ttl-s", dest="cache_ttl_s", type=float)
    p.add_argument("--lease-s", dest="lease_s", type=float)
    p.add_argument(
        "--max-queued-jobs-per-client",
        dest="max_queued_jobs_per_client",
        type=int,
        help="pending or processing jobs one client address may have (default 20)",
    )
    p.add_argument(
        "--max-streams-per-client",
        dest="max_streams_per_client",
        type=int,
        help="open SSE + WebSocket streams one client address may hold (default 64)",
    )
    p.add_argument(
        "--uvloop",
        action="store_true",
        default=os.environ.get("DOCCOUNT_UVLOOP", "") not in ("", "0"),
        help="run on uvloop (pip install uvloop; env DOCCOUNT_UVLOOP=1)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="doccount", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the API and dashboard (and a worker)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--no-worker",
        dest="run_worker",
        action="store_false",
        default=None,
        help="web node only (distributed mode: run `doccount worker` elsewhere)",
    )
    add_service_flags(serve)
    worker = sub.add_parser("worker", help="a worker process (distributed mode)")
    add_service_flags(worker)
    add_client_parsers(sub)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command", "func") and v is not None and k in Settings.__dataclass_fields__
    }
    if "cors_origins" in overrides:
        overrides["cors_origins"] = tuple(overrides["cors_origins"])
    if "categories" in overrides:
        from server.categories import parse_categories

        overrides["categories"] = parse_categories(overrides["categories"])
    return settings_from_env(**overrides)


async def run_worker_process(settings: Settings) -> None:
    """The app's own contexts (store, provider, worker) with no HTTP site."""
    runner = web.AppRunner(create_app(settings), handle_signals=False)
    await runner.setup()
    log.info("worker started on %s", settings.store_url.split("@")[-1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


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
        loop = new_event_loop(args.uvloop)
    except ValueError as exc:
        print(f"doccount: {exc}", file=sys.stderr)
        return 2
    asyncio.set_event_loop(loop)
    configure_logging(settings)
    if args.command == "serve":
        log.info(
            "serving on http://%s:%d (store %s)",
            settings.host,
            settings.port,
            settings.store_url.split("@")[-1],
        )
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            print=None,
            shutdown_timeout=5,
            access_log=None,
            loop=loop,
        )
        return 0
    if args.command == "worker":
        with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=lambda: loop) as r:
            r.run(run_worker_process(settings))
        return 0
    return 2
