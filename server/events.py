"""Event payloads of a job's log, and their one-time encoding.

Every pushed thing is an Event: its JSON is encoded once, when it is appended, and that text is
what SSE, WebSocket and the hub pass on, whatever the number of subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.codec import dumps

# The event types a client receives: the SSE event name, and "type" in every event's JSON.
SNAPSHOT = "snapshot"  # a job as it stands (synthesised per subscriber, not in the log)
STATUS = "status"
PROGRESS = "progress"
RESULT = "result"
JOB = "job"  # the jobs feed: one job's summary changed
JOBS = "jobs"  # the jobs feed's first event: recent jobs
EVENT_TYPES: tuple[str, ...] = (SNAPSHOT, STATUS, PROGRESS, RESULT, JOB, JOBS)


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    json: str  # the complete event, "id" included


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Event]
    # The log no longer reaches back to the id asked for: the reader must start from a snapshot.
    gap: bool = False


# SQLite integers are signed 64-bit: a larger id could never have been issued.
MAX_SEQ = 2**63 - 1


def parse_seq(event_id: str | None) -> int:
    """Both engines number a log's events "1", "2", ... (Redis stream id "<seq>-0"): the
    sequence number of a resume id, 0 for "from the start". ValueError for anything else."""
    if event_id is None or event_id == "":
        return 0
    try:
        seq = int(event_id)
    except ValueError:
        raise ValueError(f"bad event id {event_id!r}") from None
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"bad event id {event_id!r}")
    return seq


def make_event(event_id: str, job_id: str, type_: str, body: dict[str, Any]) -> Event:
    payload = {"id": event_id, "jobId": job_id, "type": type_, **body}
    return Event(event_id, type_, dumps(payload))


def progress_body(current: int, total: int) -> dict[str, Any]:
    return {"progress": {"current": current, "total": total}}


def status_body(status: str, error: str | None, current: int, total: int) -> dict[str, Any]:
    return {"status": status, "error": error, **progress_body(current, total)}


def result_body(result: dict[str, Any], current: int, total: int) -> dict[str, Any]:
    return {**progress_body(current, total), "result": result}


def snapshot_json(job: dict[str, Any], *, gap: bool = False) -> str:
    """A snapshot is synthesised per subscriber (it is not in the log); its id is the job's
    lastEventId, so resuming from it continues exactly after what it shows."""
    payload: dict[str, Any] = {
        "id": job["lastEventId"],
        "jobId": job["id"],
        "type": SNAPSHOT,
        "job": job,
    }
    if gap:
        payload["gap"] = True
    return dumps(payload)


def jobs_json(jobs: list[dict[str, Any]], feed_id: str | None, *, gap: bool = False) -> str:
    """The first event of the jobs feed: recent job summaries, current as of feed event
    ``feed_id``, so that resuming from it continues exactly after what they show."""
    payload: dict[str, Any] = {"id": feed_id, "type": JOBS, "jobs": jobs}
    if gap:
        payload["gap"] = True
    return dumps(payload)
