"""Server CPU per delivery, marginal: what one more subscriber costs per delivered result.

The fan-out rows divide the server's whole CPU by the results delivered; ours then also pays for
the job itself (an upstream call and a store commit per result, progress and status events)
while the peers emit from memory. Here the same job (or the same peer producer) runs twice, with
1 subscriber and with N, and the figure is (CPU with N − CPU with 1) ÷ (deliveries with N −
deliveries with 1): the cost of fan-out alone, on both sides, like with like.

    python -m bench delivery [--quick]     # N = 300 (--quick) or 1,000; 100 results/s
"""

from __future__ import annotations

import os

from .common import Row, Section
from .fanout import ours, peer
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
        "per page, on both sides alike; ours publishes a page per store read, one result at "
        "100/s. Fewer writes per delivery need more results per page (a publish window), which "
        "trades latency."
    )
    for kind in ("sse", "ws"):
        runs = {}
        for count in (1, n):
            mine = await ours(
                section,
                store="sqlite",
                n_sse=count if kind == "sse" else 0,
                n_ws=count if kind == "ws" else 0,
                events=events,
                rate=rate,
                uvloop=uvloop,
            )
            theirs = await peer(section, kind, count, events, rate, uvloop)
            runs[count] = (mine, theirs)
        per, note = marginal(runs[1][0], runs[n][0])
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
