"""The dashboard's source, read as text: a job's state changes in one place only
(JobState.apply in web/jobstate.js), and neither the category list nor the event types are
copied into JavaScript (the page reads both from /api/config)."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"

# an assignment (=, not ==/===) to a job's status, times, queue position, error or cancel flag
STATE_WRITE = re.compile(
    r"(\b(job|j)\.(status|completedAt|startedAt|queuePosition|error)|\.cancelling)\s*=(?!=)"
)
CATEGORY_NAMES = ("'encyc'", '"encyc"', "'kin'", '"kin"')


def modules() -> list[Path]:
    found = sorted(WEB.glob("*.js"))
    assert len(found) > 10, f"the dashboard's modules are missing from {WEB}"
    return found


def test_only_jobstate_writes_a_jobs_status() -> None:
    writers = {
        f"{path.name}:{n}"
        for path in modules()
        if path.name != "jobstate.js"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if STATE_WRITE.search(line)
    }
    assert writers == set()
    assert STATE_WRITE.search((WEB / "jobstate.js").read_text(encoding="utf-8"))


def test_no_category_list_in_javascript() -> None:
    copies = [
        p.name for p in modules() if any(c in p.read_text(encoding="utf-8") for c in CATEGORY_NAMES)
    ]
    assert copies == []


def test_no_event_type_list_in_javascript() -> None:
    """The SSE event names come from /api/config's eventTypes (server/events.py)."""
    lists = [p.name for p in modules() if "'result', 'progress'" in p.read_text(encoding="utf-8")]
    assert lists == []
    assert "setEventTypes(page.config.eventTypes)" in (WEB / "app.js").read_text(encoding="utf-8")


def test_app_js_is_only_the_wiring() -> None:
    assert len((WEB / "app.js").read_text(encoding="utf-8").splitlines()) < 200
