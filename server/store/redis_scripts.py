"""Lua scripts of the Redis store: every write a watcher can see is one atomic script.

Why Lua: a job's state, its event log, the queue index and the jobs feed must never disagree
(a snapshot's ``lastEventId`` is exactly the last event it includes), and several web nodes
and workers write concurrently. Each script changes the state *and* appends the events in one
step, so there is no window where another node sees one without the other.

Event ids: a job's log is a Redis Stream whose entries get the explicit id ``<seq>-0``, where
``seq`` is a per-job counter incremented in the same script (``HINCRBY seq``). The public id
is ``"<seq>"``, the same shape the embedded store uses. Because the id is known before the
``XADD``, the event JSON is assembled here with its id inside, stored once, and passed on
as-is by every read on every node: no patching per read or per subscriber. The JSON is built
by concatenating fragments that Python encoded (results, errors, keywords) with the few
numbers this script owns (ids, progress), in the key order of ``server.events.make_event``,
so both engines emit the same bytes.

Job hash fields hold JSON-ready text ("null", numbers, quoted strings) where a field is
spliced into JSON, so the job summary is built here too (``summary``) for the jobs feed.
"""

from __future__ import annotations

from importlib import resources
from string import Template

from server.codec import dumps
from server.model import JOBS_FEED

# Data, not code: each script is a .lua file of the package (lua/), read once at import, so it
# can be read and linted as Lua.
LUA = resources.files(__package__).joinpath("lua")


def _script(name: str) -> str:
    return LUA.joinpath(f"{name}.lua").read_text(encoding="utf-8")


# Shared by all scripts; its placeholders are filled in once, at registration.
PRELUDE = Template(_script("prelude"))
# Each job script's ARGV is described at the top of its file.

CREATE = _script("create")
CLAIM = _script("claim")
RENEW = _script("renew")
RELEASE = _script("release")
RECORD = _script("record")
UPDATE = _script("update")
PROGRESS = _script("progress")
FINISH = _script("finish")
CANCEL = _script("cancel")
GET = _script("get")
SINCE = _script("since")
LIST = _script("list")
FEED = _script("feed")
CLEANUP = _script("cleanup")
ACQUIRE = _script("acquire")
PENALIZE = _script("penalize")
RETIRE = _script("retire")


def with_prelude(body: str, *, prefix: str, event_maxlen: int, feed_maxlen: int) -> str:
    prelude = PRELUDE.substitute(
        prefix=prefix,
        event_maxlen=str(event_maxlen),
        feed_maxlen=str(feed_maxlen),
        feed_id_json=dumps(JOBS_FEED),
    )
    return prelude + body
