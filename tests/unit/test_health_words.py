"""Issue 11.4 in the CLI: a job nobody counts is shown in words, not with a rate and an ETA."""

from __future__ import annotations

import io

from server.client.output import ProgressBar
from server.client.types import NO_WORKER_TEXT, STALLED_TEXT, health_text


def test_health_text_of_a_job_or_a_progress_event() -> None:
    assert health_text({"status": "pending", "waiting": "no_worker"}) == "작업자 없음"
    assert health_text({"stalled": True, "stalledSinceMs": 1}) == (
        "멈춤, 곧 다른 작업자가 이어받습니다"
    )
    assert health_text({"waiting": None, "stalled": False}) is None
    assert health_text({}) is None


def test_the_bar_says_the_words_instead_of_a_rate_and_time_left() -> None:
    assert ProgressBar.render(15, 100, 0.8) == (
        "[####....................] 15/100  15%  0.8/s  남은 시간 1:46"
    )
    stalled = ProgressBar.render(15, 100, 0.8, STALLED_TEXT)
    assert stalled.endswith("15%  멈춤, 곧 다른 작업자가 이어받습니다")
    assert "/s" not in stalled and "남은 시간" not in stalled
    waiting = ProgressBar.render(0, 3, None, NO_WORKER_TEXT)
    assert waiting.endswith("0/3   0%  작업자 없음")

    err = io.StringIO()
    bar = ProgressBar(err, clock=lambda: 1.0, terminal=True)
    bar.update(2, 10, note=STALLED_TEXT)
    assert "멈춤, 곧 다른 작업자가 이어받습니다" in err.getvalue()
