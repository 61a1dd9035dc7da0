"""The hub: the one fan-out point of a web process, between the store's event logs and the live
connections (SSE streams, WebSockets).

Per watched log (a job's, or the jobs feed) one Feed task reads the store (a blocking read) and
offers every event, framed once, to each attached subscription's outbox. Offering never waits:
an outbox that is full belongs to a consumer that cannot keep up, and that connection is cut
(it resumes by id). The worker only ever writes to the store, so nothing here can slow a job.

Catch-up and hand-off. A subscription knows the id of the last event it was given (``last``).
It reads the store itself, at its own pace (waiting for room in its own outbox), until it is at
the end of the log; then it *attaches* to the feed, which succeeds only when ``last`` is the
feed's position or is still in the feed's ring of recent deliveries, in which case the rest of
the ring is queued first. Attaching runs without an await, so no event can be published between
the check and the join: no gap, no duplicate. When the feed is behind the subscription (it is
still reading towards ``last``) the subscription waits for it to advance and tries again; when
there is no feed it starts one at ``last``. Ids are compared only for equality, never ordered,
so this works unchanged on the Redis store, whose ids are opaque stream ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from server.aio import cancel_and_wait
from server.codec import loads
from server.errors import (
    FOREIGN_EVENT_ID,
    JOB_NOT_FOUND,
    SHUTTING_DOWN,
    STORE_LOST_FRAME,
    UNKNOWN_EVENT_ID,
)
from server.events import SNAPSHOT, Event, jobs_json, snapshot_json
from server.live.beat import Heartbeat
from server.live.outbox import Delivery, Outbox, Page
from server.live.pace import Pace
from server.live.wire import error_json
from server.model import JOBS_FEED, TERMINAL
from server.settings import Settings
from server.store.base import Store
from server.work.health import HealthView

log = logging.getLogger("doccount.hub")

# Jobs listed in the first event of the jobs feed.
JOBS_LIST_LIMIT = 50
# A feed that cannot read the store retries after this long (doubling up to the maximum).
RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0
CLOSE_TIMEOUT_S = 5.0


class Stream(Protocol):
    """A live connection, as the hub needs to know it at shutdown."""

    def shutdown(self) -> Awaitable[None]: ...


class Ending(Protocol):
    """A stream that outlives its handler (an SSE stream, handed its connection)."""

    def on_end(self, callback: Callable[[], None]) -> None: ...


@dataclass(slots=True)
class Start:
    """What a new subscription sends first: a snapshot, or the first page after its resume id.
    ``last`` is the position before those deliveries; ``done``: nothing follows them."""

    deliveries: list[Delivery]
    last: str | None
    done: bool = False


class Subscription:
    """One log (``key``: a job id or JOBS_FEED) streamed into one connection's outbox."""

    __slots__ = ("closed", "feed", "key", "last", "outbox", "task")

    def __init__(self, key: str, outbox: Outbox[Subscription], last: str | None) -> None:
        self.key = key
        self.outbox = outbox
        self.last = last  # id of the last event queued for this subscriber (None: log start)
        self.feed: Feed | None = None
        self.task: asyncio.Task[None] | None = None  # catching up, until attached
        self.closed = False

    def offer(self, delivery: Delivery) -> None:
        if self.outbox.offer(self, delivery):
            self.last = delivery.id

    def offer_page(self, page: Page) -> None:
        if self.outbox.write_through(self, page):
            self.last = page.last
            return
        for delivery in page.deliveries:
            self.offer(delivery)

    async def put(self, delivery: Delivery) -> bool:
        if not await self.outbox.put(self, delivery):
            return False
        self.last = delivery.id
        return True


def is_final(key: str, event: Event) -> bool:
    """A job's terminal status event, the last its log will ever hold."""
    return (
        event.type == "status" and key != JOBS_FEED and loads(event.json).get("status") in TERMINAL
    )


class Feed:
    """The one reader of one log in this process, and its attached subscriptions."""

    def __init__(self, hub: Hub, key: str, position: str | None) -> None:
        self.hub = hub
        self.key = key
        self.position = position  # id of the last event published (None: log start)
        self.ring: deque[Delivery] = deque(maxlen=hub.ring_size)
        self.subs: set[Subscription] = set()
        self.running = True
        self._advanced = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"feed {key}")

    def try_attach(self, sub: Subscription) -> bool:
        """Join ``sub`` if the feed can continue exactly after ``sub.last``. No await inside:
        nothing can be published between the check and the join."""
        if not self.running:
            return False
        tail: list[Delivery] = []
        if sub.last != self.position:
            for i in range(len(self.ring) - 1, -1, -1):
                if self.ring[i].id == sub.last:
                    tail = [self.ring[j] for j in range(i + 1, len(self.ring))]
                    break
            else:
                return False
        if len(sub.outbox) + len(tail) > sub.outbox.catch_up_limit:
            # Attaching must leave the live headroom free (a healthy subscriber is never cut
            # for its backlog): it reads them from the store instead, waiting for room.
            return False
        for delivery in tail:
            sub.offer(delivery)
        self.subs.add(sub)
        sub.feed = self
        return True

    async def wait_advanced(self, timeout_s: float) -> None:
        signal = self._advanced
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(signal.wait(), timeout_s)

    def _advance(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()

    def _publish(self, events: list[Event]) -> None:
        deliveries = []
        for event in events:
            delivery = Delivery.of(event, is_final(self.key, event))
            self.ring.append(delivery)
            self.position = event.id
            deliveries.append(delivery)
            if delivery.final:
                break  # the log holds nothing after it
        page = Page(deliveries)
        subs = self.subs
        for sub in subs:
            sub.offer_page(page)
        if page.final:
            # Every subscription ends with this event.
            for sub in subs:
                sub.feed = None
            subs.clear()
            self.running = False
        self._advance()

    async def _job_lost(self) -> bool:
        """A job's log that stays quiet may belong to a job that is gone (Redis restarted
        without persistence, the file replaced): its watchers would wait for ever. They get
        ``job_not_found`` and their subscriptions end."""
        if self.key == JOBS_FEED or not self.subs:
            return False
        if await self.hub.store.get_job(self.key, with_results=False) is not None:
            return False
        log.warning("feed %s: the job is gone from the store; ending its subscriptions", self.key)
        end = Delivery.end(error_json(JOB_NOT_FOUND(), self.key))
        for sub in list(self.subs):
            sub.outbox.end(sub, end.json)
            sub.feed = None
        self.subs.clear()
        self.running = False
        return True

    async def _run(self) -> None:
        hub = self.hub
        retry_s = RETRY_MIN_S
        try:
            while self.running:
                reading = hub.pace.clock()
                try:
                    page = await hub.store.read_events(
                        self.key, self.position, limit=hub.page_size, block_s=hub.block_s
                    )
                except Exception as exc:
                    log.warning("feed %s: store read failed (%s); retrying", self.key, exc)
                    await asyncio.sleep(retry_s)
                    retry_s = min(retry_s * 2, RETRY_MAX_S)
                    continue
                retry_s = RETRY_MIN_S
                if page.gap:
                    # The log was trimmed past our position: everyone restarts from the store,
                    # where they meet the gap themselves and get a snapshot saying so.
                    self.running = False
                    for sub in list(self.subs):
                        hub.restart(sub)
                    break
                pause_s = 0.0
                if page.events:
                    started = hub.pace.clock()
                    self._publish(page.events)
                    pause_s = hub.pace.after(hub.pace.clock() - started, started - reading)
                elif await self._job_lost():
                    break
                # Nobody watches: stop. An idle feed lingers one blocking read (block_s), so a
                # subscriber who reconnects right away finds it still there.
                if not self.subs:
                    break
                if pause_s > 0.0:
                    await hub.pace.wait(pause_s)
        finally:
            self.running = False
            hub.feed_stopped(self)
            # Only cancellation (hub closing) leaves subscribers here; should anything else,
            # they go back to the store rather than wait on a feed that is gone.
            for sub in list(self.subs):
                if hub.closing:
                    sub.feed = None
                else:
                    hub.restart(sub)
            self.subs.clear()
            self._advance()


class Hub:
    def __init__(self, store: Store, settings: Settings, health: HealthView | None = None) -> None:
        self.store = store
        self.health = health
        self.capacity = max(2, settings.subscriber_queue_max)
        # Bytes one connection may have queued or unsent before it is cut (outbox.py).
        self.backlog_bytes = settings.max_stream_backlog_bytes
        # One published page must fit in a healthy subscriber's outbox with room to spare.
        self.page_size = max(1, min(256, self.capacity // 4))
        # A tail longer than the catch-up limit never attaches, so a longer ring would be waste.
        self.ring_size = max(2 * self.page_size, self.capacity // 2)
        self.block_s = settings.feed_block_s
        self.pace = Pace(settings.feed_pause_factor)  # feeds' publish windows (pace.py)
        # A connection that is cut or shut down gets this long to close politely (its peer may
        # first have to read what is already buffered); then it is aborted.
        self.close_timeout_s = CLOSE_TIMEOUT_S
        self._feeds: dict[str, Feed] = {}
        self._streams: set[Stream] = set()
        self.heartbeat = Heartbeat(settings.heartbeat_s)  # every stream's (beat.py)
        self.closing = False
        self.cut_total = 0  # slow consumers cut off since start
        # By transport ("sse", "ws"); the metrics read them at scrape time.
        self.cut_by_transport: dict[str, int] = {}
        self.delivered_by_transport: dict[str, int] = {}

    # --- connections ----------------------------------------------------------------------

    def track(self, stream: Stream) -> None:
        self._streams.add(stream)

    def untrack(self, stream: Stream) -> None:
        self._streams.discard(stream)

    def handed_over(self) -> int:
        """Open streams (SSE and WebSocket): each is in the heartbeat, and aiohttp no longer
        counts their connections."""
        return len(self.heartbeat.members)

    def streams(self) -> list[Stream]:
        """The open live connections."""
        return list(self._streams)

    def note_cut(self, transport: str | None = None) -> None:
        self.cut_total += 1
        if transport is not None:
            self.cut_by_transport[transport] = self.cut_by_transport.get(transport, 0) + 1

    def note_delivered(self, transport: str, count: int = 1) -> None:
        by = self.delivered_by_transport
        by[transport] = by.get(transport, 0) + count

    def stats(self) -> dict[str, int]:
        return {
            "streams": len(self._streams),
            "feeds": len(self._feeds),
            "subscribers": sum(len(f.subs) for f in self._feeds.values()),
            "slowConsumersCut": self.cut_total,
        }

    def feed(self, key: str) -> Feed | None:
        return self._feeds.get(key)

    # --- subscribing ----------------------------------------------------------------------

    async def open(self, key: str, resume: str | None) -> Start:
        """Check a subscription before any stream starts (ApiError: 404 unknown job, 400 bad id)
        and load what it sends first."""
        if self.closing:
            raise SHUTTING_DOWN()
        final = False
        if key == JOBS_FEED:
            if resume is None:
                return Start([await self._jobs_snapshot()], None)
            end = await self.store.last_event_id(JOBS_FEED)
        else:
            job = await self.store.get_job(key, with_results=resume is None)
            if job is None:
                raise JOB_NOT_FOUND()
            final = job["status"] in TERMINAL
            if resume is None:
                await self._annotate([job])
                snapshot = Delivery(job["lastEventId"], SNAPSHOT, snapshot_json(job), final)
                return Start([snapshot], None)
            end = job["lastEventId"]
            if resume == end and final:
                return Start([], resume, done=True)  # it has seen the whole story
        try:
            page = await self.store.read_events(key, resume, limit=self.page_size)
        except ValueError:
            raise UNKNOWN_EVENT_ID() from None
        if page.gap:
            return Start([await self._resync(key)], resume)
        # Nothing after it, yet it is not the end the log had a moment before: an id this log
        # never held (made up, or from another job). Following it would wait forever.
        if not page.events and resume != end:
            raise FOREIGN_EVENT_ID()
        return Start([Delivery.of(e, is_final(key, e)) for e in page.events], resume)

    def subscribe(self, sub: Subscription, start: Start) -> None:
        """Send ``start``, then catch up and go live, in a task of the subscription's own."""
        sub.task = asyncio.create_task(self._follow(sub, start), name=f"follow {sub.key}")

    def restart(self, sub: Subscription) -> None:
        """Detach ``sub`` from its feed and let it catch up from the store again."""
        if sub.feed is not None:
            sub.feed.subs.discard(sub)
            sub.feed = None
        if not sub.closed:
            self.subscribe(sub, Start([], sub.last))

    def leave(self, sub: Subscription) -> None:
        sub.closed = True
        if sub.feed is not None:
            sub.feed.subs.discard(sub)
            sub.feed = None
        if sub.task is not None and not sub.task.done():
            sub.task.cancel()

    async def _follow(self, sub: Subscription, start: Start) -> None:
        # The first deliveries (a snapshot: a whole job) are queued, then let go: callers keep
        # ``start`` for the connection's lifetime.
        deliveries, start.deliveries = start.deliveries, []
        try:
            for delivery in deliveries:
                if not await sub.put(delivery) or delivery.final:
                    return
            del deliveries
            if start.done:
                sub.outbox.end(sub)
                return
            await self._catch_up(sub)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscription to %s failed; ending it", sub.key)
            sub.outbox.end(
                sub,
                error_json(STORE_LOST_FRAME(), None if sub.key == JOBS_FEED else sub.key),
            )
        finally:
            # Attached (or done): a finished task need not stay on every idle connection.
            if sub.task is asyncio.current_task():
                sub.task = None

    async def _catch_up(self, sub: Subscription) -> None:
        key = sub.key
        while not sub.closed:
            feed = self._feeds.get(key)
            if feed is not None and feed.try_attach(sub):
                return
            page = await self.store.read_events(key, sub.last, limit=self.page_size)
            if sub.closed:
                return
            if page.gap:
                snapshot = await self._resync(key)
                if not await sub.put(snapshot) or snapshot.final:
                    return
                continue
            if page.events:
                for event in page.events:
                    delivery = Delivery.of(event, is_final(key, event))
                    if not await sub.put(delivery) or delivery.final:
                        return
                continue
            # At the end of the log as it was a moment ago.
            feed = self._feeds.get(key)
            if feed is None:
                if self.closing:
                    return  # no new feeds while shutting down; the stream is being closed
                if key != JOBS_FEED and (over := await self._log_over(sub)) is not None:
                    sub.outbox.end(sub, over)
                    return
                feed = self._feeds.get(key)  # another subscriber may have started one meanwhile
                if feed is None:
                    feed = self._feeds[key] = Feed(self, key, sub.last)
            if feed.try_attach(sub):
                return
            # The feed is still reading towards us. The timeout only bounds a race the SQLite
            # store cannot produce (the feed overtaking us out of the ring in one step).
            await feed.wait_advanced(self.block_s)

    async def _log_over(self, sub: Subscription) -> str | None:
        """None while the log goes on; "" when the job is over with nothing after ``sub.last``;
        the ``job_not_found`` frame when it is gone (the feed that found it gone may have
        stopped while ``sub`` was catching up: a silent end would leave it without the frame).
        Status first, then the log: a job over before the read cannot grow after it."""
        job = await self.store.get_job(sub.key, with_results=False)
        if job is None:
            return error_json(JOB_NOT_FOUND(), sub.key)
        if job["status"] not in TERMINAL:
            return None
        page = await self.store.read_events(sub.key, sub.last, limit=1)
        return "" if not page.events and not page.gap else None

    def feed_stopped(self, feed: Feed) -> None:
        if self._feeds.get(feed.key) is feed:
            del self._feeds[feed.key]

    # --- snapshots ------------------------------------------------------------------------

    async def _resync(self, key: str) -> Delivery:
        """The log no longer reaches back to where a subscriber was: a snapshot marked gap."""
        if key == JOBS_FEED:
            return await self._jobs_snapshot(gap=True)
        job = await self.store.get_job(key)
        if job is None:
            return Delivery.end(error_json(JOB_NOT_FOUND(), key))
        await self._annotate([job])
        return Delivery(
            job["lastEventId"],
            SNAPSHOT,
            snapshot_json(job, gap=True),
            job["status"] in TERMINAL,
        )

    async def _jobs_snapshot(self, gap: bool = False) -> Delivery:
        """The jobs list and the feed id it is current as of. Listing and the feed's end are two
        reads: retry until the end did not move around the listing; failing that, the id read
        before the listing is still safe (a later event may repeat what the list shows, never
        skip)."""
        end = await self.store.last_event_id(JOBS_FEED)
        jobs = await self.store.list_jobs(JOBS_LIST_LIMIT)
        for _ in range(3):
            after = await self.store.last_event_id(JOBS_FEED)
            if after == end:
                break
            end = after
            jobs = await self.store.list_jobs(JOBS_LIST_LIMIT)
        await self._annotate(jobs)
        return Delivery(end, "jobs", jobs_json(jobs, end, gap=gap))

    async def _annotate(self, jobs: list[dict[str, Any]]) -> None:
        """Snapshots say what the status JSON says of a job nobody counts (health.py)."""
        if self.health is not None:
            await self.health.annotate(jobs)

    # --- lifetime -------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Close every live connection cleanly (app.on_shutdown)."""
        self.closing = True
        streams = list(self._streams)
        await asyncio.gather(*(s.shutdown() for s in streams), return_exceptions=True)

    async def close(self) -> None:
        self.closing = True  # cancelled feeds must not hand their subscribers back to the store
        self.heartbeat.close()
        await cancel_and_wait([feed.task for feed in self._feeds.values()])
