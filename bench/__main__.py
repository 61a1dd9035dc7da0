"""Dispatch: ``python -m bench`` runs every benchmark; ``python -m bench jobtime`` runs one."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import time
import traceback

from . import report
from .common import Burner, Section, raise_nofile

BENCHES: dict[str, str] = {
    "jobtime": "Job time vs the rate-limit bound",
    "fanout": "Fan-out: one job streaming to many subscribers",
    "latency": "Latency at 10,000 deliveries/s on both stores, and where the time goes",
    "idle": "Idle subscribers: memory per connection, drops",
    "hold": "50,000 idle subscribers (SSE + WebSocket) held on this machine",
    "delivery": "Server CPU per delivery, marginal (N subscribers − 1), vs peers",
    "polling": "Polling and submitting",
    "push": "Push (SSE, WebSocket) vs the seed's 2 s polling",
    "wire": "Bytes on the wire, plain and compressed",
    "priority": "Priority: a small job beside a big one vs its weighted share",
    "dashboard": "The dashboard under a 1,000-keyword job (Chromium)",
    "scale": "The stores at 10,000 and 100,000 jobs",
    "durability": "SQLite synchronous=FULL vs NORMAL: submitting and a job's commits",
    "volumes": "A job with search volumes: makespan vs max(counts bound, volume bound)",
}

# Run only when named: they add minutes that `make bench BENCH_ARGS=--quick` (≤ 5 min) has not.
BY_NAME_ONLY = frozenset({"hold", "delivery"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHES, []], help="default: all")
    parser.add_argument("--quick", action="store_true", help="smaller loads, shorter holds")
    parser.add_argument(
        "--no-uvloop",
        dest="uvloop",
        action="store_false",
        help="run our server on the standard asyncio loop (default: --uvloop)",
    )
    parser.add_argument(
        "--busy",
        action="store_true",
        help="keep one core busy with a burner process while each case runs "
        "(figures saved beside the quiet ones, as NAME-busy)",
    )
    args = parser.parse_args(argv)
    names = args.names or [n for n in BENCHES if n not in BY_NAME_ONLY]
    # Idle and fan-out hold tens of thousands of sockets; children inherit this limit.
    raise_nofile(200_000)
    failed = []
    for name in names:
        print(f"== {name}: {BENCHES[name]}", flush=True)
        title = BENCHES[name] + (" (busy: one core burned)" if args.busy else "")
        section = Section(
            name + ("-busy" if args.busy else ""), title, quick=args.quick, busy=args.busy
        )
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        section.load.append(os.getloadavg()[0])
        try:
            with Burner(args.busy):
                asyncio.run(module.run(section, quick=args.quick, uvloop=args.uvloop))
        except Exception:
            traceback.print_exc()
            section.notes.append("The run failed: " + traceback.format_exc(limit=3)[-600:])
            failed.append(name)
        section.seconds = time.monotonic() - started
        section.load.append(os.getloadavg()[0])
        report.save(section)
    path = report.write()
    print(f"wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
