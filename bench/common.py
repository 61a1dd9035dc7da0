"""What every benchmark shares: processes on loopback, ports, memory, and result rows.

The server, the fake upstream, Redis and the peers each run as their own process, started
here with the exact command line that RESULTS.md quotes; the load runs in this process or in
child processes of ours. Every process started here is stopped by the benchmark that started
it (``Procs`` is a context manager), also when the benchmark fails. The process harness and
``free_port`` are the tests' own (tests/support/processes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.processes import REPO, Proc, ProcessGroup

PY = sys.executable
ROOT = REPO
LOG_DIR = Path(tempfile.gettempdir()) / "doccount-bench"
NAVER_KEYS = ("bench-a", "bench-b", "bench-c", "bench-d")


# --- results ------------------------------------------------------------------------------


@dataclass
class Row:
    """One figure. ``better`` says which way is good, so the peer ratio reads as an advantage."""

    case: str
    metric: str
    value: float | None
    unit: str
    goal: str = ""
    met: bool | None = None
    peer: float | None = None
    better: str = "higher"  # or "lower"
    note: str = ""

    @property
    def advantage(self) -> float | None:
        """How many times better than the peer (> 1: ours is ahead)."""
        if self.peer is None or self.value is None or self.peer == 0 or self.value == 0:
            return None
        return self.value / self.peer if self.better == "higher" else self.peer / self.value


@dataclass
class Section:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    quick: bool = False
    # 1-minute load average before and after: the machine may be shared with other work.
    load: list[float] = field(default_factory=list)
    # Run with one core kept busy by a burner process (``--busy``).
    busy: bool = False

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print("  " + format_row(row), flush=True)
        return row

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        rows = [Row(**r) for r in data.pop("rows")]
        return cls(rows=rows, **data)


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def delivered(summary: dict[str, float | None]) -> str:
    """A fan-out run's share of the offered deliveries that arrived, as a percentage."""
    complete = summary.get("complete")
    return "n/a" if complete is None else f"{complete * 100:.1f}%"


def format_row(row: Row) -> str:
    met = {True: "met", False: "MISSED", None: ""}[row.met]
    peer = ""
    if row.peer is not None:
        adv = row.advantage
        peer = f" | peer {fmt(row.peer)} ({fmt(adv)}x)" if adv is not None else " | peer n/a"
    return f"{row.case}: {row.metric} = {fmt(row.value)} {row.unit} {row.goal} {met}{peer}"


# --- processes ----------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc (what the kernel charges it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit (children inherit it); returns what it got."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < wanted:
        # Root may raise the hard limit up to fs.nr_open; anyone else keeps what they have.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
    target = min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Procs(ProcessGroup):
    """The harness the tests use, logging to LOG_DIR, each process in a session of its own,
    and each command line recorded in the section for RESULTS.md."""

    def __init__(self, section: Section | None = None) -> None:
        super().__init__(LOG_DIR, new_session=True)
        self.section = section

    def start(  # type: ignore[override]
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        record: bool = True,
    ) -> Proc:
        proc = super().start(name, argv, env)
        if record and self.section is not None:
            line = proc.command_line()
            if line not in self.section.commands:
                self.section.commands.append(line)
        return proc


async def wait_http(url: str, proc: Proc | None = None, timeout_s: float = 20.0) -> None:
    """Poll until ``url`` answers (any status): the process is listening."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    await resp.read()
                    return
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {timeout_s}s")
            await asyncio.sleep(0.05)


async def wait_port(port: int, proc: Proc | None = None, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {port} did not open in {timeout_s}s") from None
            await asyncio.sleep(0.05)


def patience() -> float:
    """How much longer than on a quiet machine a wait may take: the run queue per core
    (1-minute load average ÷ cores), never less than 1. A bound on a wait is its quiet bound
    times this, so a loaded machine slows a case down instead of failing it; a case that still
    runs out of time says so in its notes (how far it got) rather than raising."""
    cores = os.cpu_count() or 1
    return max(1.0, os.getloadavg()[0] / cores)


BURN = "import time\nwhile True:\n    sum(range(10_000))\n"


class Burner:
    """One process spinning on one core for the length of a ``with`` block (``--busy``): the
    cases then run on what is left, as they would beside another tenant's busy process."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Burner:
        if self.enabled:
            self.proc = subprocess.Popen([PY, "-c", BURN], start_new_session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100), nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]
