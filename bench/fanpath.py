"""What our own code costs per subscriber on the fan-out path, the socket write left out: the
part of "CPU per delivery" (RESULTS.md) that is ours to trim. Everything else is the one
``transport.write`` (a ``send()``) each delivery takes.

    python -m bench.fanpath                     # 2,000 streams of each transport, 200 pages

Each stream is a real ``SseStream`` / ``WsConnection`` behind a real ``Subscription`` and
``Outbox``, as the hub's feed offers it a page (``Subscription.offer_page``); only the transport
is a stub whose ``write`` does nothing. Printed: µs per subscriber per page, best of 5.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from server.appkeys import SETTINGS
from server.live.hub import Subscription
from server.live.outbox import Delivery, Page
from server.live.sse import SseStream
from server.live.ws import WsConnection
from server.settings import Settings


class StubTransport:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class StubHub:
    capacity = 1000
    backlog_bytes = 1 << 20
    close_timeout_s = 5.0

    def __init__(self) -> None:
        self.delivered: dict[str, int] = {}

    def note_delivered(self, transport: str, count: int = 1) -> None:
        self.delivered[transport] = self.delivered.get(transport, 0) + count


def ws_connection(hub: Any) -> WsConnection:
    """A WsConnection without a request: a stand-in holding what its constructor reads."""
    request: Any = type("R", (), {"app": {SETTINGS: Settings()}, "get": lambda self, key: None})()
    return WsConnection(hub, request, False)


async def run(n: int, pages: int) -> None:
    page = Page([Delivery("1", "result", '{"type": "result", "index": 1}')])
    page.sse_chunk()
    page.ws()
    for kind in ("sse", "ws"):
        hub: Any = StubHub()
        subs = []
        for _ in range(n):
            stream: Any = SseStream(hub, True, b"") if kind == "sse" else ws_connection(hub)
            stream.transport = StubTransport()  # as ``open`` sets it after the hand-over
            sub = Subscription("job", stream.outbox, None)
            if kind == "ws":
                stream.subs["job"] = sub
            subs.append(sub)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(pages):
                for sub in subs:
                    sub.offer_page(page)
            best = min(best, (time.perf_counter() - t0) / (pages * n))
        assert hub.delivered[kind] == 5 * pages * n, "a page did not go straight through"
        print(f"{kind}: {best * 1e6:.3f} µs per subscriber per page (socket write stubbed)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanpath", description=__doc__)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.streams, args.pages))


if __name__ == "__main__":
    main()
