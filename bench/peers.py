"""Reference servers measured beside ours in the same run, under the same load.

    python -m bench.peers ws  --port P [--uvloop] [--events N --rate E --times-out F]
    python -m bench.peers sse --port P [--uvloop] [--events N --rate E --times-out F]

``ws``: a minimal broadcast server on the ``websockets`` library (``websockets.broadcast``).
``sse``: a minimal aiohttp server that writes each event to each subscriber in turn (naive).
On SIGUSR1 the producer emits ``--events`` results at ``--rate`` per second, the same JSON our
server sends for a result, and writes ``{id: created ms}`` of the results to ``--times-out``:
the same "commit" clock our event log keeps. It sends our event mix, not results alone: a
``status`` event as the job starts and as it ends, and after a result, when a second has passed
since the last one, a ``progress`` event (our worker's tick), so both sides pay for the same
writes; the figures count results only, on both sides. Heartbeats: websockets' own pings
(20 s), SSE comments every 15 s, like our server's defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web


def event_json(seq: int, total: int) -> str:
    """Shaped like our result event (same keys, similar size)."""
    return json.dumps(
        {
            "id": str(seq),
            "jobId": "batch_1796000000000_peerpeerpeerpeerpeerpe",
            "type": "result",
            "progress": {"current": seq, "total": total},
            "result": {
                "index": seq - 1,
                "keyword": f"fanout-keyword-{seq}",
                "counts": {"blog": 1234567},
                "source": "naver",
                "cached": [],
                "error": None,
            },
        },
        separators=(",", ":"),
    )


def other_json(event_id: str, type_: str, current: int, total: int) -> str:
    """Shaped like our status and progress events."""
    body: dict[str, object] = {
        "id": event_id,
        "jobId": "batch_1796000000000_peerpeerpeerpeerpeerpe",
        "type": type_,
    }
    if type_ == "status":
        body["status"] = "running" if current < total else "completed"
        body["error"] = None
    body["progress"] = {"current": current, "total": total}
    if type_ == "progress":
        body.update(ratePerSec=100.0, etaMs=12345)
    return json.dumps(body, separators=(",", ":"))


# Our worker's progress tick (Settings.progress_interval_s).
PROGRESS_INTERVAL_S = 1.0

Send = Callable[[str, str, str], object]


async def produce(n: int, rate: float, send: Send, times_out: Path) -> None:
    """Emit n results on a fixed schedule (absolute, so a slow send does not slow the rate),
    with our status and progress events around them."""

    async def emit(event_id: str, type_: str, text: str) -> None:
        sent = send(event_id, type_, text)
        if asyncio.iscoroutine(sent):
            await sent

    times: dict[str, int] = {}
    start = last_tick = time.monotonic()
    await emit("s0", "status", other_json("s0", "status", 0, n))
    for seq in range(1, n + 1):
        due = start + (seq - 1) / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        times[str(seq)] = int(time.time() * 1000)
        await emit(str(seq), "result", event_json(seq, n))
        now = time.monotonic()
        if now - last_tick >= PROGRESS_INTERVAL_S and seq < n:
            last_tick = now
            await emit(f"p{seq}", "progress", other_json(f"p{seq}", "progress", seq, n))
    await emit("s1", "status", other_json("s1", "status", n, n))
    # Written once the run is over: a blocking write cannot disturb the measurement now.
    times_out.write_text(json.dumps(times))


def on_start(loop: asyncio.AbstractEventLoop, start: Callable[[], object]) -> None:
    loop.add_signal_handler(signal.SIGUSR1, start)


async def serve_ws(args: argparse.Namespace) -> None:
    import websockets
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            # A subscriber may say what it wants; this peer broadcasts one feed regardless.
            async for _ in ws:
                pass
        except websockets.ConnectionClosed:
            pass
        finally:
            clients.discard(ws)

    def send(event_id: str, type_: str, text: str) -> None:
        broadcast(clients, text)

    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def start() -> None:
        task = loop.create_task(produce(args.events, args.rate, send, Path(args.times_out)))
        tasks.add(task)

    on_start(loop, start)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(handler, "127.0.0.1", args.port, compression=None, max_queue=16):
        await stop.wait()


async def serve_sse(args: argparse.Namespace) -> None:
    subscribers: set[web.StreamResponse] = set()

    async def events(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        subscribers.add(resp)
        try:
            # Held until the client goes (aiohttp then cancels this handler).
            await asyncio.Event().wait()
        finally:
            subscribers.discard(resp)

    async def write_all(data: bytes) -> None:
        # The naive way: one awaited write per subscriber, in turn.
        for resp in list(subscribers):
            try:
                await resp.write(data)
            except (ConnectionError, RuntimeError):
                subscribers.discard(resp)

    async def send(event_id: str, type_: str, text: str) -> None:
        await write_all(f"id: {event_id}\nevent: {type_}\ndata: {text}\n\n".encode())

    async def heartbeats(app: web.Application) -> AsyncIterator[None]:
        async def beat() -> None:
            while True:
                await asyncio.sleep(15)
                await write_all(b": heartbeat\n\n")

        task = asyncio.create_task(beat())
        yield
        task.cancel()

    app = web.Application()
    app.router.add_get("/events", events)
    app.cleanup_ctx.append(heartbeats)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=4096)
    await site.start()
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def start() -> None:
        tasks.add(loop.create_task(produce(args.events, args.rate, send, Path(args.times_out))))

    on_start(loop, start)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runner.cleanup(), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["ws", "sse"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--times-out", default="/dev/null")
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    main_coro = serve_ws(args) if args.kind == "ws" else serve_sse(args)
    if args.uvloop:
        import uvloop

        uvloop.run(main_coro)
    else:
        asyncio.run(main_coro)


if __name__ == "__main__":
    main()
