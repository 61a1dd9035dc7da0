"""Prometheus metrics, one registry per app (tests build many apps in one process).

Hot paths pay for a counter increment at most. Figures that already exist elsewhere are read at
scrape time instead of being mirrored: the provider's call counters (``NaverProvider.stats``)
by a collector, the store's job figures by ``refresh`` just before rendering.

Open streams are counted by the stream guard middleware around each SSE/WebSocket handler;
events delivered and slow subscribers cut off are the hub's own counters, read at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from server.store.base import Store
from server.work.counting import KeywordCounter
from server.work.providers.base import Provider, RateLimiter

TRANSPORTS = ("sse", "ws")

# One keyword = one call per category, paced by the limiter: tens of ms to tens of seconds.
KEYWORD_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WAIT_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ProviderCollector(Collector):
    """Upstream calls by (category, outcome) and retries, read from the provider's own stats
    at scrape time. The demo provider has no upstream and exports nothing here."""

    def __init__(self, provider: Callable[[], Provider | None]) -> None:
        self._provider = provider

    def describe(self) -> list[Metric]:
        return []  # unknown until the provider exists; skips the registry's trial collect

    def collect(self) -> Iterator[Metric]:
        stats: Any = getattr(self._provider(), "stats", None)
        if stats is None:
            return
        calls = CounterMetricFamily(
            "doccount_upstream_calls",
            "Upstream (Naver) calls by category and outcome (ok, 429, 5xx, timeout, auth, other)",
            labels=["category", "outcome"],
        )
        for (category, outcome), n in sorted(stats.calls.items()):
            calls.add_metric([category, outcome], n)
        yield calls
        yield CounterMetricFamily(
            "doccount_upstream_retries", "Upstream calls retried after a transient failure",
            value=stats.retries,
        )  # fmt: skip


class HubCollector(Collector):
    """Events delivered and slow subscribers cut off, by transport, from the hub's counters."""

    def __init__(self, hub: Callable[[], object | None]) -> None:
        self._hub = hub

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        hub: Any = self._hub()
        delivered: dict[str, int] = getattr(hub, "delivered_by_transport", {})
        cut: dict[str, int] = getattr(hub, "cut_by_transport", {})
        sent = CounterMetricFamily(
            "doccount_events_delivered", "Events written to subscribers", labels=["transport"]
        )
        slow = CounterMetricFamily(
            "doccount_slow_subscribers_cut",
            "Subscribers cut off because they could not keep up (they resume by id)",
            labels=["transport"],
        )
        for transport in TRANSPORTS:
            sent.add_metric([transport], delivered.get(transport, 0))
            slow.add_metric([transport], cut.get(transport, 0))
        yield sent
        yield slow


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs = Gauge("doccount_jobs", "Jobs in the store by status", ["status"], registry=r)
        self.queue_depth = Gauge("doccount_queue_depth", "Jobs waiting for a worker", registry=r)
        self.keyword_seconds = Histogram(
            "doccount_keyword_seconds",
            "Time to count one keyword across its categories (cache, limiter, upstream)",
            buckets=KEYWORD_BUCKETS_S,
            registry=r,
        )
        self.cache_hits = Counter(
            "doccount_cache_hits", "Counts served from the cache", ["category"], registry=r
        )
        self.ratelimit_wait_seconds = Histogram(
            "doccount_ratelimit_wait_seconds",
            "Time an upstream call waited for the rate limiter",
            buckets=WAIT_BUCKETS_S,
            registry=r,
        )
        self.subscribers = Gauge(
            "doccount_subscribers", "Open live subscribers by transport", ["transport"], registry=r
        )
        for transport in TRANSPORTS:  # present from the first scrape, at zero
            self.subscribers.labels(transport)
        self.closed_connections = Counter(
            "doccount_connections_closed",
            "Connections closed before they sent a whole request head: no_request_head (past "
            "--header-timeout-s), over_capacity (past --max-connections open connections)",
            ["reason"],
            registry=r,
        )
        for reason in ("no_request_head", "over_capacity"):
            self.closed_connections.labels(reason)

    def connections_closed(self, reason: str, n: int) -> None:
        self.closed_connections.labels(reason).inc(n)

    # --- for the stream guard, around each open stream -----------------------------------

    def subscriber_opened(self, transport: str) -> None:
        self.subscribers.labels(transport).inc()

    def subscriber_closed(self, transport: str) -> None:
        self.subscribers.labels(transport).dec()

    # --- wiring -------------------------------------------------------------------------

    def watch_provider(self, provider: Callable[[], Provider | None]) -> None:
        self.registry.register(ProviderCollector(provider))

    def watch_hub(self, hub: Callable[[], object | None]) -> None:
        self.registry.register(HubCollector(hub))

    async def refresh(self, store: Store) -> None:
        """Copy the store's job figures into the gauges (before rendering a scrape)."""
        stats = await store.job_stats()
        for status, n in stats["byStatus"].items():
            self.jobs.labels(status).set(n)
        self.queue_depth.set(stats["queueDepth"])

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MeteredLimiter:
    """The store's limiter, timing each wait (``acquire`` already returns it)."""

    def __init__(self, inner: RateLimiter, metrics: Metrics) -> None:
        self._inner = inner
        self._wait_s = metrics.ratelimit_wait_seconds

    async def acquire(self, key: str) -> float:
        waited_s = await self._inner.acquire(key)
        self._wait_s.observe(waited_s)
        return waited_s

    async def penalize(self, key: str, delay_s: float) -> None:
        await self._inner.penalize(key, delay_s)


class MeteredCounter(KeywordCounter):
    """KeywordCounter that times each keyword and counts the categories the cache served."""

    def __init__(self, store: Store, provider: Provider, metrics: Metrics) -> None:
        super().__init__(store, provider)
        self._metrics = metrics

    async def count(
        self, keyword: str, categories: tuple[str, ...], *, final: bool = True
    ) -> dict[str, Any]:
        started_s = time.perf_counter()
        result = await super().count(keyword, categories, final=final)
        self._metrics.keyword_seconds.observe(time.perf_counter() - started_s)
        for category in result["cached"]:
            self._metrics.cache_hits.labels(category).inc()
        return result
