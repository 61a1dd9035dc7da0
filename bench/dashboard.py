"""The dashboard under a 1,000-keyword job, in a real Chromium (issue 20).

The server runs the demo provider at ``--rate 400`` (see STREAMS: counts only, and with
demo search volumes arriving late); the page (1440×900) gets 1,000 keywords ×
4 categories pasted and started with Ctrl+Enter, while a ``PerformanceObserver`` on
``longtask`` (installed before the page's own scripts) records every main-thread block from
page load. Then: the time to sort the finished job by 합계, the JS heap after a forced GC, and
sorting / filtering 5,000 rows in a second table built by the page's own ``table.js``.

``python -m bench dashboard`` measures this tree's ``web/``. With
``DOCCOUNT_BENCH_BEFORE_WEB=DIR`` (a copy of another revision's ``web/``, e.g.
``git archive main web | tar -x -C /tmp/before``) it measures that one first, through the same
server, serving its files in place of ours, so the two read side by side.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from pathlib import Path
from typing import Any

from .common import Procs, Row, Section
from .stack import sqlite_url, start_server

KEYWORDS = 1000
CATEGORIES = ["blog", "cafe", "news", "web"]
RATE_PER_S = 400
BIG_ROWS = 5000
LOAF_SHOWN = 3  # the longest frames of each run, with what they were spent on
CHROMIUM = os.environ.get("DOCCOUNT_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]

OBSERVE_JS = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
}).observe({ type: 'longtask', buffered: true });
// What a long frame was spent on (Long Animation Frames): each script that ran in it (with its
// own forced style and layout), and the frame's rendering (style, layout, paint) after them.
window.__loafs = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const end = e.startTime + e.duration;
      window.__loafs.push({
        start: e.startTime,
        ms: e.duration,
        renderMs: e.renderStart ? end - e.renderStart : 0,
        styleLayoutMs: e.styleAndLayoutStart ? end - e.styleAndLayoutStart : 0,
        scripts: e.scripts.map((s) => ({
          what: (s.sourceFunctionName || s.invoker || s.invokerType || '?') + ' ' +
            String(s.sourceURL || '').split('/').pop(),
          ms: s.duration,
          forcedMs: s.forcedStyleAndLayoutDuration,
        })),
      });
    }
  }).observe({ type: 'long-animation-frame', buffered: true });
} catch (e) { /* an older browser: no attribution */ }
window.__frames = 0;
const tick = () => { window.__frames++; requestAnimationFrame(tick); };
requestAnimationFrame(tick);
"""
# The keywords go in as a paste would: Playwright's fill types 1,000 lines through the editor,
# which alone blocks the page for seconds (the harness's cost, not the page's).
PASTE_JS = """(text) => {
  const k = document.getElementById('keywords');
  k.value = text;
  k.dispatchEvent(new Event('input', { bubbles: true }));
}"""

# Time from a click to the next frame's end: the handler, then what it left for the frame.
CLICK_TO_FRAME_JS = """async (selector) => {
  const t0 = performance.now();
  document.querySelector(selector).click();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - t0;
}"""

BIG_TABLE_JS = """async ([n, cats]) => {
  const { ResultTable } = await import('/static/table.js');
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  wrap.id = 'bench-wrap';
  wrap.innerHTML = '<table id="bench-table" class="results"><thead></thead><tbody></tbody></table>';
  document.getElementById('results').after(wrap);
  const t = new ResultTable(wrap.querySelector('table'));
  t.setColumns(cats, {});
  const rows = [];
  for (let i = 0; i < n; i++) {
    const counts = {};
    cats.forEach((c, j) => { counts[c] = (i * 7919 + j * 104729) % 1000003; });
    rows.push({ index: i, keyword: '키워드 ' + ((i * 31) % n), counts });
  }
  const t0 = performance.now();
  t.add(rows);
  t.rows();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const addMs = performance.now() - t0;
  window.__benchTable = t;
  return addMs;
}"""

BIG_FILTER_JS = """async () => {
  const t = window.__benchTable;
  if (typeof t.setFilter !== 'function') return null;
  const t0 = performance.now();
  t.setFilter('키워드 12');
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const ms = performance.now() - t0;
  const shown = t.rows().length;
  t.setFilter('');
  return [ms, shown];
}"""


# Each main-thread task's CPU time, which a loaded machine does not inflate the way it does
# wall time: Chromium's own trace of its top-level tasks (light: no per-call events), between
# two performance.mark()s that also say which thread is the page's.
TRACE_CATEGORIES = "toplevel,blink.user_timing"
TASK_NAMES = ("ThreadControllerImpl::RunTask", "RunTask")


def task_cpu(trace: list[dict[str, Any]]) -> dict[str, Any]:
    marks = {e["name"]: e for e in trace if e.get("name") in ("bench-job-start", "bench-job-end")}
    if len(marks) < 2:
        return {"task_cpu_max_ms": None}
    thread = (marks["bench-job-start"]["pid"], marks["bench-job-start"]["tid"])
    t0, t1 = marks["bench-job-start"]["ts"], marks["bench-job-end"]["ts"]
    tasks = sorted(
        (e for e in trace
         if e.get("ph") == "X" and e.get("name") in TASK_NAMES and "tdur" in e
         and (e["pid"], e["tid"]) == thread and t0 <= e["ts"] <= t1),
        key=lambda e: e["ts"],
    )  # fmt: skip
    top: list[dict[str, Any]] = []
    end = 0
    for e in tasks:  # nested tasks (a task run inside another) count once, in the outer one
        if e["ts"] >= end:
            top.append(e)
            end = e["ts"] + e["dur"]
    cpu = [e["tdur"] / 1000 for e in top]
    longest = max(top, key=lambda e: e["tdur"], default=None)
    return {
        "tasks": len(top),
        "task_cpu_max_ms": max(cpu, default=0.0),
        "task_cpu_max_wall_ms": longest["dur"] / 1000 if longest else 0.0,
        "task_cpu_over_50": sum(1 for c in cpu if c > 50),
        "task_cpu_over_50_sum_ms": sum(c for c in cpu if c > 50),
        # when, in ms from the job's start (the trace's clock is anchored by the start mark)
        "task_cpu_max_at_ms": (longest["ts"] - t0) / 1000 if longest else 0.0,
        "task_cpu_max_end_ms": (longest["ts"] + longest["dur"] - t0) / 1000 if longest else 0.0,
    }


async def metrics(cdp: Any) -> dict[str, float]:
    """Chromium's own counters for the page (Performance.getMetrics): ThreadTime is the main
    thread's CPU time in seconds."""
    got = await cdp.send("Performance.getMetrics")
    return {m["name"]: float(m["value"]) for m in got["metrics"]}


async def measure(base: str, web_dir: Path | None, throttle: float = 1.0) -> dict[str, Any]:
    from playwright.async_api import Route, async_playwright

    out: dict[str, Any] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        ctx = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="ko-KR")
        page = await ctx.new_page()
        if web_dir is not None:

            async def static(route: Route) -> None:
                name = route.request.url.split("/static/", 1)[1].split("?")[0]
                await route.fulfill(path=str(web_dir / name))

            async def index(route: Route) -> None:
                await route.fulfill(path=str(web_dir / "index.html"))

            await page.route("**/static/**", static)
            await page.route(base + "/", index)
        await page.add_init_script(OBSERVE_JS)
        await page.goto(base + "/")
        await page.wait_for_selector("#cat-list input", timeout=20_000)
        for box in await page.query_selector_all("#cat-list input"):
            value = await box.get_attribute("value")
            if (value in CATEGORIES) != await box.is_checked():
                await box.click()
        await page.evaluate(PASTE_JS, "\n".join(f"벤치 {i:04d}" for i in range(KEYWORDS)))
        await page.wait_for_function(
            "() => document.getElementById('kw-count').textContent.includes('1,000')"
        )
        cdp = await ctx.new_cdp_session(page)
        await cdp.send("Performance.enable")
        if throttle != 1:
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        before = await metrics(cdp)
        frames0 = await page.evaluate("window.__frames")
        trace: list[dict[str, Any]] = []
        traced = asyncio.get_running_loop().create_future()
        cdp.on("Tracing.dataCollected", lambda e: trace.extend(e["value"]))
        cdp.on("Tracing.tracingComplete", lambda e: traced.done() or traced.set_result(None))
        await cdp.send(
            "Tracing.start", {"categories": TRACE_CATEGORIES, "transferMode": "ReportEvents"}
        )
        started = await page.evaluate("performance.mark('bench-job-start').startTime")
        await page.press("#keywords", "Control+Enter")
        await page.wait_for_function(
            "n => document.getElementById('job-status').textContent === '완료'"
            " && document.getElementById('progress-count').textContent === n",
            arg=f"{KEYWORDS:,} / {KEYWORDS:,}",
            timeout=180_000,
            polling=200,
        )
        ended = await page.evaluate("performance.mark('bench-job-end').startTime")
        after = await metrics(cdp)
        await cdp.send("Tracing.end")
        await traced
        out.update(task_cpu(trace))
        out["frames"] = await page.evaluate("window.__frames") - frames0
        if throttle != 1:
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        # every row reached the table (the old table: in the DOM; the new one: aria-rowcount)
        await page.wait_for_function(
            "n => { const t = document.getElementById('result-table');"
            " const c = t.getAttribute('aria-rowcount');"
            " return (c ? +c - 1 : t.querySelectorAll('tbody tr').length) >= n; }",
            arg=KEYWORDS,
            timeout=30_000,
        )
        tasks: list[list[float]] = await page.evaluate("window.__longtasks")
        during = [d for s, d in tasks if started <= s <= ended]
        job_ms = ended - started
        out["job_s"] = job_ms / 1000
        out["longtasks_all"] = len(tasks)
        out["longtasks"] = len(during)
        out["longtask_sum_ms"] = sum(during)
        out["longtask_share"] = sum(during) / job_ms
        out["longtask_max_ms"] = max(during, default=0.0)
        loafs = await page.evaluate("window.__loafs")
        if out.get("task_cpu_max_ms") is not None:
            # the long frame that holds the costliest task, if the task was part of a frame
            a, b = started + out["task_cpu_max_at_ms"], started + out["task_cpu_max_end_ms"]
            out["task_cpu_max_loaf"] = next(
                (f for f in loafs if f["start"] <= b and a <= f["start"] + f["ms"]), None
            )
        out["loafs"] = sorted(
            (f for f in loafs if started <= f["start"] <= ended), key=lambda f: -f["ms"]
        )[:LOAF_SHOWN]
        # CPU time, not wall time: what the page costs, whatever else the machine is running
        out["cpu_s"] = after["ThreadTime"] - before["ThreadTime"]
        out["layouts"] = int(after["LayoutCount"] - before["LayoutCount"])
        out["styles"] = int(after["RecalcStyleCount"] - before["RecalcStyleCount"])
        sorts = []
        for _ in range(3):  # 합계 desc, asc, desc
            sorts.append(
                await page.evaluate(CLICK_TO_FRAME_JS, "#result-table button[data-sort='total']")
            )
        out["sort_ms"] = statistics.median(sorts)
        out["sort_max_ms"] = max(sorts)
        await cdp.send("HeapProfiler.collectGarbage")
        heap = await cdp.send("Runtime.getHeapUsage")
        out["heap_mb"] = heap["usedSize"] / 1e6
        out["dom_nodes"] = await page.evaluate("document.getElementsByTagName('*').length")
        out["big_add_ms"] = await page.evaluate(BIG_TABLE_JS, [BIG_ROWS, CATEGORIES])
        big = []
        for _ in range(3):
            big.append(
                await page.evaluate(CLICK_TO_FRAME_JS, "#bench-table button[data-sort='total']")
            )
        out["big_sort_ms"] = statistics.median(big)
        kw = []
        for _ in range(2):
            kw.append(
                await page.evaluate(CLICK_TO_FRAME_JS, "#bench-table button[data-sort='keyword']")
            )
        out["big_sort_kw_ms"] = statistics.median(kw)
        out["big_filter"] = await page.evaluate(BIG_FILTER_JS)
        await browser.close()
    return out


def frame_text(f: dict[str, Any]) -> str:
    """What one long animation frame was spent on."""
    scripts = sorted(f["scripts"], key=lambda x: -x["ms"])[:2]
    what = "; ".join(
        f"{x['what'].strip()} {x['ms']:.0f} ms"
        + (f" (forced style/layout {x['forcedMs']:.0f})" if x["forcedMs"] >= 1 else "")
        for x in scripts
    )
    return (
        f"{f['ms']:.0f} ms = rendering {f['renderMs']:.0f} (style+layout "
        f"{f['styleLayoutMs']:.0f})" + (f", scripts: {what}" if what else "")
    )


def loaf_note(m: dict[str, Any]) -> str:
    """The longest frames of the job and what each was spent on (Long Animation Frames)."""
    parts = [frame_text(f) for f in m["loafs"]]
    return "longest frames: " + " | ".join(parts) if parts else "no long frame"


def add_rows(section: Section, label: str, m: dict[str, Any], full: bool) -> None:
    case = f"{KEYWORDS:,} kw × {len(CATEGORIES)} cat, demo, --rate {RATE_PER_S}, {label}"
    share = m["longtask_share"] * 100
    section.add(Row(case, "job time (page clock)", m["job_s"], "s", better="lower"))
    section.add(
        Row(case, "long tasks during the job, share of its time", share, "%", "< 10%",
            share < 10, better="lower",
            note=f"{m['longtasks']} long tasks, {m['longtask_sum_ms']:.0f} ms in all "
                 f"({m['longtasks_all']} since page load)")
    )  # fmt: skip
    section.add(
        Row(case, "longest long task", m["longtask_max_ms"], "ms", "< 100 ms",
            m["longtask_max_ms"] < 100, better="lower", note=loaf_note(m))
    )  # fmt: skip
    if m.get("task_cpu_max_ms") is not None:
        section.add(
            Row(case, "longest task in CPU time (Chromium trace)", m["task_cpu_max_ms"], "ms",
                "< 100 ms", m["task_cpu_max_ms"] < 100, better="lower",
                note=f"{m['task_cpu_max_wall_ms']:.0f} ms wall; {m['task_cpu_over_50']} of "
                     f"{m['tasks']:,} tasks over 50 ms of CPU "
                     f"({m['task_cpu_over_50_sum_ms'] / 1000 / m['job_s'] * 100:.1f}% of the job); "
                     f"at {m['task_cpu_max_at_ms'] / 1000:.1f} s into the job"
                     + (f", in the frame {frame_text(m['task_cpu_max_loaf'])}"
                        if m.get("task_cpu_max_loaf") else ""))
        )  # fmt: skip
    section.add(
        Row(case, "main-thread CPU time during the job", m["cpu_s"], "s", better="lower",
            note=f"{m['cpu_s'] / m['job_s'] * 100:.0f}% of the job's time; "
                 f"{m['layouts']:,} layouts, {m['styles']:,} style recalculations")
    )  # fmt: skip
    frames = m["frames"]
    section.add(
        Row(case, "main-thread CPU time per frame drawn", m["cpu_s"] * 1000 / frames if frames
            else None, "ms", better="lower", note=f"{frames:,} frames during the job")
    )  # fmt: skip
    if not full:
        return
    section.add(
        Row(case, "sort 1,000 rows by 합계 (click → next frame)", m["sort_ms"], "ms", "< 100 ms",
            m["sort_ms"] < 100, better="lower", note=f"median of 3, max {m['sort_max_ms']:.0f} ms")
    )  # fmt: skip
    section.add(
        Row(case, "JS heap after the job (after GC)", m["heap_mb"], "MB", "< 50 MB",
            m["heap_mb"] < 50, better="lower", note=f"{m['dom_nodes']:,} DOM elements")
    )  # fmt: skip
    section.add(
        Row(case, f"{BIG_ROWS:,} rows: add to a table (→ next frame)", m["big_add_ms"], "ms",
            better="lower")
    )  # fmt: skip
    section.add(
        Row(case, f"{BIG_ROWS:,} rows: sort by 합계", m["big_sort_ms"], "ms", "< 100 ms",
            m["big_sort_ms"] < 100, better="lower", note="median of 3")
    )  # fmt: skip
    section.add(
        Row(case, f"{BIG_ROWS:,} rows: sort by 키워드 (Korean collation)", m["big_sort_kw_ms"],
            "ms", "< 100 ms", m["big_sort_kw_ms"] < 100, better="lower", note="median of 2")
    )  # fmt: skip
    flt = m["big_filter"]
    section.add(
        Row(case, f"{BIG_ROWS:,} rows: filter by keyword", flt[0] if flt else None, "ms",
            "< 100 ms", (flt[0] < 100) if flt else None, better="lower",
            note=f"{flt[1]:,} rows match" if flt else "no filter in this version")
    )  # fmt: skip


# The stream: counts only, 1,000 keywords × 4 categories at 400 calls/s (100 result
# events a second, ~10 s). The demo provider would otherwise also look up demo search volumes
# at the Search Ad rate (--ad-rate 2, five keywords a call: a 100 s job); at --ad-rate 10
# volumes come at half the counts' pace, so about half the rows get a second, late `result`
# event that updates them in place.
STREAMS: list[tuple[str, list[str]]] = [
    ("counts only (--volume-provider off)", ["--volume-provider", "off"]),
    ("with demo volumes (--ad-rate 10)", ["--volume-provider", "demo", "--ad-rate", "10"]),
]
THROTTLE = float(os.environ.get("DOCCOUNT_BENCH_CPU_THROTTLE") or 2)


async def run(section: Section, quick: bool = False, uvloop: bool = True) -> None:
    before = os.environ.get("DOCCOUNT_BENCH_BEFORE_WEB")
    # (label, web dir or None for this tree's, stream, CPU throttling, every figure or not)
    runs: list[tuple[str, Path | None, int, float, bool]] = []
    if before:
        old = "before (web/ of " + os.environ.get("DOCCOUNT_BENCH_BEFORE_LABEL", before) + ")"
        runs += [(old, Path(before), 0, 1.0, True)]
        if not quick:
            runs += [(old, Path(before), 1, 1.0, False)]
    runs += [("this commit", None, 0, 1.0, True)]
    if not quick:
        runs += [("this commit", None, 1, 1.0, False)]
    if THROTTLE != 1:
        runs += [("this commit", None, 0, THROTTLE, False)]
    with Procs(section) as procs:
        for label, web_dir, stream, throttle, full in runs:
            store_url, _ = sqlite_url("dashboard")
            server = await start_server(
                procs, store_url=store_url, upstream=None, rate=RATE_PER_S, uvloop=uvloop,
                name="server-dashboard", extra=STREAMS[stream][1],
            )  # fmt: skip
            m = await measure(server.base, web_dir, throttle)
            procs.stop(server.proc)
            slow = f", CPU ×{throttle:g} (CDP throttling)" if throttle != 1 else ""
            add_rows(section, f"{STREAMS[stream][0]}, {label}{slow}", m, full)
    if before:
        section.notes.append(
            "The before rows: `DOCCOUNT_BENCH_BEFORE_WEB=DIR python -m bench dashboard`, DIR "
            "holding `git archive <before> web`, served by the same server in place of web/."
        )
    section.notes.append(
        "What the long tasks were (issue 20, attributed with a Chromium trace of main b31aacf's "
        "page and the Long Animation Frame entries above): not script — the page's own scripts "
        "were under 1 ms a frame — but the frames' style recalculation, 40–60 ms a frame in "
        "the job's first seconds. Every new row flashed (a 1.2 s background animation on each of "
        "its cells, run on the main thread) and all of a short table's rows are in the DOM, so "
        "~100 rows × 9 cells were restyled on every frame; `tr:nth-last-child(2)` restyled every "
        "row whenever one was added before the bottom spacer; at 101 rows the table turned into "
        "a window by re-inserting the rows in view (restyled whole, ~50 ms of script and style). "
        "Cut: at most 8 rows flash per 1.2 s, the last-row border is a class, rows in view stay "
        "put (only rows leaving or entering the window are touched), the job list writes its "
        "progress text in place instead of rebuilding its item, and while a job streams its "
        "header is drawn at most every 100 ms (the table still takes rows every frame). A late "
        "search volume (a second `result` for a row) is applied with the frame's other rows, in "
        "one pass with at most one sort."
    )
    section.notes.append(
        "Chromium headless (Debian's), viewport 1440×900. Long tasks are wall time, so a loaded "
        "machine inflates them (the load average is in the heading); the main thread's CPU time "
        "(Chromium's ThreadTime) is what the page itself costs, and per frame drawn it holds "
        "best under load. Long tasks from a PerformanceObserver installed before the page's "
        "scripts; what the longest frames were spent on from Long Animation Frame entries "
        "(scripts by function and file, with the style and layout they forced; the frame's "
        "rendering after them). The job is timed on the page's clock from Ctrl+Enter to 완료 "
        "with 1,000 / 1,000. Sorting: click on the header to the end of the next frame. "
        f"The {BIG_ROWS:,}-row figures use a second table built by the page's table.js. "
        f"The CPU ×{THROTTLE:g} row slows the page's CPU with CDP "
        "`Emulation.setCPUThrottlingRate` during the job (`DOCCOUNT_BENCH_CPU_THROTTLE`, 1: off): "
        "a stand-in for a slower or busier machine."
    )
