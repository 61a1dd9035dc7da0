"""bench/RESULTS.md: rebuilt from each benchmark's last run (bench/results/<name>.json).

A benchmark run alone updates its own section and keeps the others, so the file always
shows one figure per row, each with the command lines and machine that produced it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .common import ROOT, Row, Section, fmt

RESULTS_DIR = ROOT / "bench" / "results"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
ORDER = [
    "jobtime",
    "fanout",
    "latency",
    "idle",
    "hold",
    "delivery",
    "polling",
    "push",
    "wire",
    "dashboard",
    "priority",
    "scale",
    "durability",
    "volumes",
]


def _cmd(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "n/a"


def machine() -> dict[str, Any]:
    mem_kib = 0
    cpu = platform.processor() or "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {"python": platform.python_version()}
    for dist in ("aiohttp", "aiohttp-sse", "orjson", "uvloop", "websockets", "redis", "hiredis"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    versions["redis-server"] = (
        _cmd(["redis-server", "--version"]) if shutil.which("redis-server") else "not installed"
    )
    versions["wrk"] = _cmd(["wrk", "--version"]) if shutil.which("wrk") else "not installed"
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "versions": versions,
        "commit": _cmd(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def save(section: Section) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = {"section": section.to_json(), "machine": machine(), "argv": sys.argv[1:]}
    (RESULTS_DIR / f"{section.name}.json").write_text(json.dumps(data, indent=1) + "\n")


def _load() -> list[tuple[Section, dict[str, Any], list[str]]]:
    out = []
    for name in [n + suffix for n in ORDER for suffix in ("", "-busy")]:
        path = RESULTS_DIR / f"{name}.json"
        if path.exists():
            data = json.loads(path.read_text())
            out.append((Section.from_json(data["section"]), data["machine"], data["argv"]))
    return out


# Within this of the peer a row reads "level": a 1.01× on a shared machine is not a lead.
LEVEL = 0.05

# What each section's ahead/behind compares (issue 15: like with like), printed once at the top.
BASIS = (
    'How to read "ahead/behind": ours ÷ the peer in the same run, per like unit. Fan-out '
    "and latency rows count `result` events only on both sides, and the peers send our event "
    "mix (a status event as the job starts and ends, a progress event a second, as our worker "
    "does: bench/peers.py), so both pay for the same writes; deliveries/s, latency and server "
    "CPU are per delivered result (ours also pays for the job itself: upstream calls, store "
    "commits; the delivery section cancels that out); deliveries/s "
    'is paced by the offered rate, so within ±5% it reads "level". Idle rows are per held '
    "connection (nothing is delivered). Push rows compare the same job's results delivered "
    "by push and by the seed's 2 s polling: latency per result, bytes per delivered result. "
    "Rows with no peer have nothing to be ahead of."
)


def _met(row: Row) -> str:
    return {True: "✅ met", False: "❌ missed", None: ""}[row.met]


def _peer(row: Row) -> str:
    if row.peer is None:
        return ""
    adv = row.advantage
    if adv is None:
        lead = ""
    elif abs(adv - 1) < LEVEL:
        lead = f" — level ({adv:.2f}×)"
    else:
        lead = f" — ours {adv:.2f}× " + ("ahead" if adv >= 1 else "behind")
    return f"{fmt(row.peer)}{lead}"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| case | metric | ours | unit | goal | | peer (same run) | note |",
        "|---|---|---:|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.case} | {r.metric} | {fmt(r.value)} | {r.unit} | {r.goal} | {_met(r)} "
            f"| {_peer(r)} | {r.note} |"
        )
    return lines


def side_by_side(quiet: Section, busy: Section) -> list[str]:
    """The rows both runs have, quiet beside busy (cases match when they ran the same size)."""
    theirs = {(r.case, r.metric): r for r in busy.rows}
    lines = [
        'Without and with `--busy` (one core burned), side by side. "Without" is only quiet if '
        f"its load average says so: {' → '.join(f'{x:.1f}' for x in quiet.load)} without, "
        f"{' → '.join(f'{x:.1f}' for x in busy.load)} with (the burner adds ~1):",
        "",
        "| case | metric | without --busy | with --busy | unit | with ÷ without |",
        "|---|---|---:|---:|---|---:|",
    ]
    n = 0
    for r in quiet.rows:
        b = theirs.get((r.case, r.metric))
        if b is None:
            continue
        ratio = fmt(b.value / r.value) if b.value and r.value else "n/a"
        lines.append(
            f"| {r.case} | {r.metric} | {fmt(r.value)} | {fmt(b.value)} | {r.unit} | {ratio} |"
        )
        n += 1
    return [*lines, ""] if n else []


def render() -> str:
    loaded = _load()
    out = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench`); each section by its last run "
        "(`python -m bench NAME` re-runs one). Server, upstream, Redis, peers and load "
        "generators are separate processes on loopback, all on this one machine, so the load "
        "generator's CPU is taken from the same 2 cores the server runs on.",
        "",
        BASIS,
        "",
    ]
    by_name = {section.name: section for section, _, _ in loaded}
    for section, mach, argv in loaded:
        v = mach["versions"]
        out += [
            f"## {section.title}",
            "",
            f"Run {mach['date']} at commit `{mach['commit']}`: `python -m bench "
            f"{' '.join(argv)}`{' (quick)' if section.quick else ''}, {section.seconds:.0f} s. "
            f"Machine: {mach['cores']} cores ({mach['cpu']}), {mach['memory_gib']} GiB, "
            f"Linux {mach['kernel']}; Python {v['python']}, aiohttp {v['aiohttp']}, "
            f"orjson {v['orjson']}, uvloop {v['uvloop']}, websockets {v['websockets']}, "
            f"redis-py {v['redis']}, {v['redis-server']}, {v['wrk']}. "
            f"Load average (1 min) before → after: "
            f"{' → '.join(f'{x:.1f}' for x in section.load) or 'n/a'}.",
            "",
            *table(section.rows),
            "",
        ]
        if section.notes:
            out += [*(f"- {n}" for n in section.notes), ""]
        if section.commands:
            out += ["Processes (exact command lines):", "", "```sh"]
            out += section.commands
            out += ["```", ""]
        quiet = by_name.get(section.name.removesuffix("-busy"))
        if section.busy and quiet is not None and quiet is not section:
            out += side_by_side(quiet, section)
    return "\n".join(out)


def write() -> Path:
    RESULTS_MD.write_text(render())
    return RESULTS_MD
