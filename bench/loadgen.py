"""One load-generator process: opens its share of subscriber connections and records receipts.

    python -m bench.loadgen SPEC.json

Talks to the orchestrator over stdin/stdout lines: prints ``READY {...}`` once its
connections are open, answers ``STATS`` with ``STATS {...}``, and on ``STOP`` (or stdin closed,
or its deadline, or when every stream has ended if ``until_closed``) closes everything, writes
``out`` (JSON) and ``out.bin`` (receipts: flat float64 pairs of id index and time) and prints
``DONE``. The deadline makes it stop by itself whatever happens to the orchestrator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from .clients import SseClient, Stats, WsClient, _Base, connect


def snapshot(stats: Stats, protos: list[_Base]) -> dict[str, Any]:
    return {
        "connected": stats.connected,
        "started": stats.started,
        "failed": stats.failed,
        "open": sum(1 for p in protos if not p.done.done()),
        "closedByServer": stats.closed_by_server,
        "heartbeats": stats.heartbeats,
        "deliveries": stats.receipts.count,
        "bytesIn": stats.bytes_in,
        "bytesOut": stats.bytes_out,
        "errors": stats.errors,
    }


async def run(spec: dict[str, Any]) -> None:
    deadline = time.monotonic() + float(spec["max_s"])
    stats = Stats(record=bool(spec.get("record", True)))
    host, port, path = spec["host"], int(spec["port"]), spec["path"]
    sources: list[str] = spec.get("sources") or ["127.0.0.1"]
    first = spec.get("first_message")
    factory: Any
    if spec["kind"] == "sse":
        factory = partial(SseClient, stats=stats, host=host, path=path, headers=spec["headers"])
    else:
        factory = partial(
            WsClient,
            stats=stats,
            host=host,
            path=path,
            first_message=first.encode() if first else None,
        )
    count = int(spec["count"])
    protos: list[_Base] = []
    batch = int(spec.get("batch", 250))
    for start in range(0, count, batch):
        opened = await asyncio.gather(
            *(
                connect(factory, host, port, sources[i % len(sources)])
                for i in range(start, min(count, start + batch))
            )
        )
        protos += [p for p in opened if p is not None]
    # Wait (bounded) for the handshakes to complete before saying READY; with ``wait_first``,
    # for every connection's first event too (our snapshot: a subscriber whose subscribe is
    # still being served when the job starts would get its first results inside its snapshot,
    # not as deliveries).
    settle = time.monotonic() + 10 + (count / 100 if spec.get("wait_first") else 0)

    def settled() -> bool:
        handshakes = stats.connected + stats.failed >= len(protos)
        firsts = not spec.get("wait_first") or stats.started + stats.failed >= len(protos)
        return handshakes and firsts

    while not settled() and time.monotonic() < settle:
        await asyncio.sleep(0.02)
    stats.failed += count - len(protos)
    print("READY " + json.dumps(snapshot(stats, protos)), flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def commands() -> None:
        while True:
            line = (await reader.readline()).strip()
            if line == b"STATS":
                print("STATS " + json.dumps(snapshot(stats, protos)), flush=True)
            elif line in (b"STOP", b""):
                return

    async def all_closed() -> None:
        if protos:
            await asyncio.wait([p.done for p in protos])
        else:
            await asyncio.sleep(float(spec["max_s"]))

    waiters = [asyncio.create_task(commands())]
    if spec.get("until_closed"):
        waiters.append(asyncio.create_task(all_closed()))
    await asyncio.wait(
        waiters, timeout=max(0.0, deadline - time.monotonic()), return_when="FIRST_COMPLETED"
    )
    for task in waiters:
        task.cancel()
    final = snapshot(stats, protos)  # before our own closing counts anything
    for p in protos:
        p.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(p.done for p in protos)), 5)
    out = Path(spec["out"])
    receipts = stats.receipts
    ids = [k.decode(errors="replace") for k in receipts.ids]
    out.write_text(json.dumps({**final, "ids": ids}))
    with out.with_suffix(".bin").open("wb") as f:
        receipts.seen.tofile(f)
    print("DONE", flush=True)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop

        uvloop.run(run(spec))
    except ImportError:
        asyncio.run(run(spec))


if __name__ == "__main__":
    main()
