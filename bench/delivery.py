"""Server CPU per delivery, marginal: what one more subscriber costs per delivered result.

The fan-out rows divide the server's whole CPU by the results delivered; ours then also pays for
the job itself (an upstream call and a store commit per result, progress and status events)
while the peers emit from memory. Here the same job (or the same peer producer) runs twice, with
1 subscriber and with N, and the figure is (CPU with N − CPU with 1) ÷ (deliveries with N −
deliveries with 1): the cost of fan-out alone, on both sides, like with like.

Ours publishes with its publish windows (server/live/pace.py, the default) and, in the same run,
without them (``--feed-pause-factor 0``), so the rows show what the windows buy in CPU and what
they cost in latency, each beside the peer.

    python -m bench delivery [--quick]     # N = 300 (--quick) or 1,000; 100 results/s
"""

from __future__ import annotations

import os

from .common import Row, Section, delivered, fmt
from .fanout import ours_alone, peer
from .stack import hub_available


def marginal(
    one: tuple[dict[str, float | None], float], many: tuple[dict[str, float | None], float]
) -> tuple[float | None, str]:
    (s1, cpu1), (sn, cpun) = one, many
    d1, dn = s1.get("deliveries") or 0.0, sn.get("deliveries") or 0.0
    if dn - d1 <= 0:
        return None, "no deliveries"
    per = (cpun - cpu1) / (dn - d1) * 1e6
    return per, (
        f"CPU {cpu1:.2f} s for {d1:,.0f} deliveries (1 subscriber), {cpun:.2f} s for {dn:,.0f}"
    )


async def run(section: Section, *, quick: bool, uvloop: bool) -> None:
    n = 300 if quick else 1000
    rate, events = 100.0, (200 if quick else 1000)
    if not hub_available():
        section.notes.append("Hub not merged: not run")
        return
    section.notes.append(
        f"{events} results at {rate:g}/s; ours on SQLite (the job runs in the measured process), "
        "each peer emitting the same result JSON from memory; each case run with 1 subscriber "
        f"and with {n}, one after the other. Load average at start {os.getloadavg()[0]:.1f}."
    )
    section.notes.append(
        "What remains per delivery is one write (one send() into loopback TCP) per subscriber "
        "per page, on both sides alike (`python -m bench.fanpath`: our own code is under 0.3 µs "
        "of it). Without windows ours publishes a page per store read, one result at 100/s; "
        "with them a feed whose fan-out took long waits twice that (at most 50 ms) before its "
        "next read, so a page holds the results committed meanwhile. With 1 subscriber the "
        "fan-out is too cheap to wait for, so both marginal figures share that run."
    )
    off = ["--feed-pause-factor", "0"]
    for kind in ("sse", "ws"):
        runs = {}
        for count in (1, n):
            mine = await ours_alone(section, kind, count, events, rate, uvloop)
            theirs = await peer(section, kind, count, events, rate, uvloop)
            runs[count] = (mine, theirs)
        plain = await ours_alone(section, kind, n, events, rate, uvloop, extra=off)
        per, note = marginal(runs[1][0], runs[n][0])
        plain_per, plain_note = marginal(runs[1][0], plain)
        peer_per, peer_note = marginal(runs[1][1], runs[n][1])
        section.add(
            Row(
                f"{n} {kind.upper()} subscribers, {rate * n:,.0f}/s offered",
                "server CPU per delivered result, marginal (N subscribers − 1)",
                per,
                "µs",
                goal="≥ 1.3× better than the peer",
                met=None if per is None or peer_per is None else peer_per / per >= 1.3,
                peer=peer_per,
                better="lower",
                note=f"ours: {note}; peer: {peer_note}",
            )
        )
        section.add(
            Row(
                f"{n} {kind.upper()} subscribers, {rate * n:,.0f}/s offered, no windows",
                "server CPU per delivered result, marginal (N subscribers − 1)",
                plain_per,
                "µs",
                peer=peer_per,
                better="lower",
                note=f"ours with {' '.join(off)}: {plain_note}",
            )
        )
        with_w, without, theirs_n = runs[n][0][0], plain[0], runs[n][1][0]
        section.add(
            Row(
                f"{n} {kind.upper()} subscribers, {rate * n:,.0f}/s offered",
                "latency p99 (commit → receipt), with windows",
                with_w.get("p99"),
                "ms",
                peer=theirs_n.get("p99"),
                better="lower",
                note=(
                    f"p50 {fmt(with_w.get('p50'))} ms; without windows p99 "
                    f"{fmt(without.get('p99'))} ms, p50 {fmt(without.get('p50'))} ms; peer p50 "
                    f"{fmt(theirs_n.get('p50'))} ms; delivered: ours {delivered(with_w)}, "
                    f"without windows {delivered(without)}, peer {delivered(theirs_n)}"
                ),
            )
        )
