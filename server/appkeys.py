"""Everything the app carries, keyed by typed ``web.AppKey``s."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from server.live.hub import Ending, Hub
from server.metrics import Metrics
from server.settings import Settings
from server.store.base import Store
from server.work.counting import KeywordCounter
from server.work.health import HealthView
from server.work.providers.base import Provider
from server.work.shares import WeightedShares
from server.work.volumes import VolumeLookup
from server.work.worker import Worker

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
HTTP = web.AppKey("http", aiohttp.ClientSession)
PROVIDER = web.AppKey("provider", Provider)
COUNTER = web.AppKey("counter", KeywordCounter)
WORKER = web.AppKey("worker", Worker)
WORKER_TASK = web.AppKey("worker_task", asyncio.Task[None])
METRICS = web.AppKey("metrics", Metrics)
HUB = web.AppKey("hub", Hub)

# What a request's stream token lets it watch (a job id, or JOBS_FEED), when it came with one
# (server/api/streamtokens.py); the WebSocket checks every subscription against it.
STREAM_SCOPE = web.RequestKey("stream_scope", str)
# The stream that took over a request's connection (live/sse.py): the stream guard
# (api/security.py) gives the stream's slot back when it ends, not when the handler returns.
HANDED_OVER = web.RequestKey("handed_over", Ending)
SHARES = web.AppKey("shares", WeightedShares)
HEALTH = web.AppKey("health", HealthView)
# Absent when search volumes are off.
VOLUMES = web.AppKey("volumes", VolumeLookup)
