"""JobState.apply (web/jobstate.js), the one function that changes a job on the page, run in
the browser on a sequence of events like a stream delivers them (duplicates included)."""

from __future__ import annotations

from tests.browser.test_dashboard import Dash, Serve, browser, dash, serve  # noqa: F401 (fixtures)

APPLY_JS = r"""async () => {
  const { JobState } = await import('/static/jobstate.js');
  const s = new JobState('j');
  const r = (index) => ({ index, keyword: 'k' + index, counts: { blog: index } });
  const seen = [];
  const step = (ev) => {
    const o = s.apply(ev);
    seen.push([ev.type, o.handled, o.reset, o.added.map((x) => x.index), o.statusFrom,
               s.status, s.lastEventId]);
  };
  step({ type: 'summary', job: { status: 'pending', categories: ['blog'],
                                progress: { current: 0, total: 3 }, queuePosition: 2 } });
  step({ type: 'queue', queuePosition: 1 });
  const queued = s.job.queuePosition;
  step({ type: 'snapshot', id: '5',
         job: { status: 'pending', categories: ['blog'], results: [] } });
  step({ type: 'status', id: '6', status: 'processing' });
  step({ type: 'result', id: '7', result: r(0), progress: { current: 1, total: 3 } });
  step({ type: 'result', id: '7', result: r(0), progress: { current: 1, total: 3 } });
  step({ type: 'progress', id: '8', progress: { current: 1, total: 3 },
         ratePerSec: 2, etaMs: 1000 });
  step({ type: 'cancelling' });
  step({ type: 'result', id: '9', result: r(1), progress: { current: 2, total: 3 } });
  step({ type: 'status', id: '10', status: 'cancelled', progress: { current: 2, total: 3 } });
  const completedAt = s.job.completedAt;
  step({ type: 'status', id: '11', status: 'processing' });
  step({ type: 'poll', job: { status: 'processing', lastEventId: '3', results: [r(0), r(1)] } });
  step({ type: 'mystery', id: '99' });
  return { seen, queued, completedAt: typeof completedAt, started: typeof s.job.startedAt,
           cancelling: s.cancelling, rows: [...s.results.keys()], queueAfter: s.job.queuePosition };
}"""


async def test_apply_is_the_one_way_a_job_changes(serve: Serve, dash: Dash) -> None:  # noqa: F811
    page = await dash.page(await serve())
    out = await page.evaluate(APPLY_JS)
    # [type, handled, reset, added, statusFrom, status, lastEventId]
    assert out["seen"] == [
        ["summary", True, True, [], None, "pending", None],
        ["queue", True, False, [], None, "pending", None],
        ["snapshot", True, False, [], None, "pending", "5"],
        ["status", True, False, [], "pending", "processing", "6"],
        ["result", True, False, [0], None, "processing", "7"],
        ["result", True, False, [], None, "processing", "7"],  # the same event again: no row
        ["progress", True, False, [], None, "processing", "8"],
        ["cancelling", True, False, [], None, "processing", "8"],
        ["result", True, False, [1], None, "processing", "9"],
        ["status", True, False, [], "processing", "cancelled", "10"],
        ["status", True, False, [], None, "cancelled", "11"],  # never back from a final status
        ["poll", True, False, [], None, "cancelled", "11"],  # an older id never moves back
        ["mystery", False, False, [], None, "cancelled", "11"],
    ]
    assert out["queued"] == 1 and out["queueAfter"] is None
    assert out["completedAt"] == "number" and out["started"] == "number"
    assert out["cancelling"] is True and out["rows"] == [0, 1]
