"""Drive several load-generator processes (bench.loadgen) as one, and merge what they saw."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .common import PY, ROOT, Section


def sources(n: int, block: int = 1) -> list[str]:
    """n source addresses in 127.<block>.0.0/16: each has its own ~28k ephemeral ports, and
    looks like its own client to per-address limits."""
    return [f"127.{block}.{i // 250}.{i % 250 + 1}" for i in range(n)]


@dataclass
class Seen:
    """Merged results of a swarm: counts, and every (event id, receive time) pair."""

    totals: dict[str, int] = field(default_factory=dict)
    receipts: list[tuple[str, float]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, result: dict[str, Any], pairs: array[float]) -> None:
        for k, v in result.items():
            if isinstance(v, int):
                self.totals[k] = self.totals.get(k, 0) + v
        for k, v in result.get("errors", {}).items():
            self.errors[k] = self.errors.get(k, 0) + v
        ids: list[str] = result["ids"]
        self.receipts += [(ids[int(pairs[i])], pairs[i + 1]) for i in range(0, len(pairs), 2)]


class Swarm:
    """``parts`` load generators, each with its own spec; stopped on exit whatever happens."""

    def __init__(self, specs: list[dict[str, Any]], section: Section | None = None) -> None:
        self.specs = specs
        self.section = section
        self.dir = Path(tempfile.mkdtemp(prefix="doccount-swarm-"))
        self.procs: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> Swarm:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for p in self.procs:
            if p.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                await p.wait()

    async def _line(self, p: asyncio.subprocess.Process, prefix: str, timeout_s: float) -> str:
        assert p.stdout is not None
        while True:
            raw = await asyncio.wait_for(p.stdout.readline(), timeout_s)
            if not raw:
                raise RuntimeError(f"load generator exited before {prefix}")
            line = raw.decode().strip()
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    async def start(self, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        """Spawn all, wait until each has its connections open; returns their READY stats."""
        for i, spec in enumerate(self.specs):
            spec = {**spec, "out": str(self.dir / f"part{i}.json")}
            path = self.dir / f"spec{i}.json"
            path.write_text(json.dumps(spec))
            self.procs.append(
                await asyncio.create_subprocess_exec(
                    PY,
                    "-m",
                    "bench.loadgen",
                    str(path),
                    cwd=ROOT,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        if self.section is not None:
            line = "python -m bench.loadgen SPEC.json  # × " + str(len(self.specs))
            if line not in self.section.commands:
                self.section.commands.append(line)
        ready = await asyncio.gather(*(self._line(p, "READY", timeout_s) for p in self.procs))
        return [json.loads(r) for r in ready]

    async def stats(self) -> dict[str, int]:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(b"STATS\n")
        lines = await asyncio.gather(*(self._line(p, "STATS", 30) for p in self.procs))
        out: dict[str, int] = {}
        for line in lines:
            for k, v in json.loads(line).items():
                if isinstance(v, int):
                    out[k] = out.get(k, 0) + v
        return out

    async def finish(self, stop: bool = True, timeout_s: float = 600.0) -> Seen:
        """STOP each (or let them end by themselves) and merge their outputs."""
        for p in self.procs:
            assert p.stdin is not None
            if stop:
                p.stdin.write(b"STOP\n")
        await asyncio.gather(*(self._line(p, "DONE", timeout_s) for p in self.procs))
        seen = Seen()
        for i, p in enumerate(self.procs):
            await p.wait()
            out = self.dir / f"part{i}.json"
            pairs: array[float] = array("d")
            data = out.with_suffix(".bin").read_bytes()
            pairs.frombytes(data)
            seen.add(json.loads(out.read_text()), pairs)
        return seen
