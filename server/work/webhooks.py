"""Webhooks: when a job that has one ends, its summary is POSTed to the URL, signed.

- **Who delivers.** Every process on the store runs a ``WebhookSender``; a delivery is taken
  from the store's ledger with a lease (server.store.webhooks), so one node at a time holds it
  and exactly one successful delivery is recorded, whichever node ended the job. The sender is
  its own task: the worker only ends the job and never waits on a receiver.
- **Retries.** A failed attempt (no answer within the timeout, or a status other than 2xx) is
  tried again after a backoff that doubles (``webhook_retry_base_s``, capped, with jitter), up
  to ``webhook_max_attempts``; then the delivery is ``failed``. Every attempt is in the job JSON.
- **Signature.** ``X-DocCount-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` with
  ``webhook_secret``, and the timestamp (Unix seconds) in ``X-DocCount-Timestamp``: receivers
  recompute it and refuse an old timestamp (docs/webhooks.md).
- **Where it may go.** http and https only; a host that resolves to a private, loopback,
  link-local or otherwise non-public address is refused unless ``webhook_allow_private``, at
  submission and again at delivery (the connection uses only the addresses checked then), so
  the service cannot be made to call into its own network.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import random
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from server.aio import cancel_and_wait
from server.codec import dumps
from server.errors import (
    INVALID_WEBHOOK,
    INVALID_WEBHOOK_URL,
    UNKNOWN_WEBHOOK_HOST,
    WEBHOOK_ADDRESS_REFUSED,
    WEBHOOKS_DISABLED,
    ApiError,
)
from server.model import now_ms
from server.settings import Settings
from server.store.base import Store
from server.store.webhooks import DELIVERED, FAILED, PENDING, Delivery, attempt_json

log = logging.getLogger("doccount.webhook")

MAX_URL_CHARS = 2048
RESOLVE_TIMEOUT_S = 5.0
LEASE_SLACK_S = 5.0  # a lease outlasts the attempt's timeout by this much
MAX_IN_FLIGHT = 8  # deliveries at once per process
SIGNATURE_HEADER = "X-DocCount-Signature"
TIMESTAMP_HEADER = "X-DocCount-Timestamp"


class AddressRefused(Exception):
    """The webhook's host is (or resolves to) an address it may not be sent to."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_shape(url: object) -> tuple[str, int]:
    """(host, port) of a well-formed http(s) URL; ApiError 400 ``invalid_webhook`` otherwise."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise INVALID_WEBHOOK_URL()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise INVALID_WEBHOOK_URL() from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise INVALID_WEBHOOK_URL()
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
    )
    return sorted({str(info[4][0]) for info in infos})


async def check_webhook_url(url: object, allow_private: bool) -> str:
    """The URL, checked: http(s), and (unless ``allow_private``) every address its host
    resolves to is public. ApiError 400 otherwise."""
    host, port = url_shape(url)
    assert isinstance(url, str)
    if allow_private:
        return url
    try:
        addresses = await resolve(host, port)
    except (OSError, TimeoutError):
        raise UNKNOWN_WEBHOOK_HOST(host=host) from None
    if not addresses or not all(is_public(a) for a in addresses):
        raise WEBHOOK_ADDRESS_REFUSED()
    return url


async def webhook_of_submission(body: dict[str, Any], settings: Settings) -> str | None:
    """The URL a new job will be delivered to: its own ``webhook.url``, else the server's."""
    raw = body.get("webhook")
    if raw is None:
        return settings.webhook_url
    if not isinstance(raw, dict) or "url" not in raw:
        raise INVALID_WEBHOOK()
    if not settings.webhook_secret:
        raise WEBHOOKS_DISABLED()
    return await check_webhook_url(raw["url"], settings.webhook_allow_private)


TERMINAL_JOB_JSON = re.compile(r'^\{"id":"[^"]*","status":"(completed|failed|cancelled)"')


async def with_webhook(store: Store, settings: Settings, job_id: str, job_json: str) -> str:
    """An ended job's JSON with its webhook delivery (``webhook``: url, state, attempts), when
    it has one. Looked up only where webhooks can exist (a signing secret is set), so a poll on
    a server without them costs no extra read."""
    if not settings.webhook_secret or not TERMINAL_JOB_JSON.match(job_json):
        return job_json
    webhook = await store.webhook_ledger().get(job_id)
    if webhook is None:
        return job_json
    return job_json[:-1] + ',"webhook":' + dumps(webhook) + "}"


# --- what is sent -------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload(job: dict[str, Any], base_url: str) -> dict[str, Any]:
    results = job.get("results") or []
    failures = sum(1 for r in results if r.get("error"))
    quoted = quote(job["id"], safe="")
    return {
        "type": "job.ended",
        "jobId": job["id"],
        "status": job["status"],
        "error": job.get("error"),
        "progress": job["progress"],
        "resultCount": len(results) - failures,
        "failureCount": failures,
        "createdAt": job.get("createdAt"),
        "completedAt": job.get("completedAt"),
        "links": {
            "status": f"{base_url}/api/documents/status?jobId={quoted}",
            "export": f"{base_url}/api/documents/jobs/{quoted}/export?format=csv",
            "events": f"{base_url}/api/documents/events?jobId={quoted}",
        },
    }


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default and keeps only public addresses: the connection goes
    to an address that was checked, not to a second answer of the same name."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if is_public(r["host"])]
        if not allowed:
            raise AddressRefused(f"{host}: 공개 주소가 아닙니다")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def webhook_session(settings: Settings) -> aiohttp.ClientSession:
    resolver = None if settings.webhook_allow_private else GuardedResolver()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT * 2, resolver=resolver),
        headers={"User-Agent": "doccount-webhook/1"},
    )


# --- the sender ---------------------------------------------------------------------------


class WebhookSender:
    def __init__(
        self, store: Store, settings: Settings, session: aiohttp.ClientSession, node_id: str
    ) -> None:
        self.store = store
        self.ledger = store.webhook_ledger()
        self.settings = settings
        self.session = session
        self.node_id = node_id
        self.lease_ms = round((settings.webhook_timeout_s + LEASE_SLACK_S) * 1000)
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        # Set before the cancel: a cancel that redis-py's claim swallowed (server/aio.py) must
        # not leave the loop polling for ever; it ends at its next turn.
        self.stopping = False

    async def run(self) -> None:
        last_cleanup_s = time.monotonic()
        try:
            while not self.stopping:
                await self._slots.acquire()
                try:
                    delivery = await self.ledger.claim(self.node_id, now_ms(), self.lease_ms)
                except Exception as exc:
                    log.warning("[웹훅] 전달 대기열을 읽지 못했습니다: %s", exc)
                    delivery = None
                if delivery is None:
                    self._slots.release()
                    if time.monotonic() - last_cleanup_s > self.settings.cleanup_interval_s:
                        last_cleanup_s = time.monotonic()
                        with contextlib.suppress(Exception):
                            await self.ledger.cleanup(now_ms())
                    await asyncio.sleep(self.settings.webhook_poll_s)
                    continue
                task = asyncio.create_task(self._deliver_then_release(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver_then_release(self, delivery: Delivery) -> None:
        try:
            await self.deliver(delivery)
        except Exception:
            log.exception("[웹훅] 전달 중 오류: %s", delivery.job_id)
        finally:
            self._slots.release()

    def backoff_s(self, attempt: int) -> float:
        """Wait before attempt ``attempt + 1``: doubling, capped, with jitter (0.5x to 1x)."""
        base: float = self.settings.webhook_retry_base_s * 2 ** (attempt - 1)
        return min(self.settings.webhook_retry_max_s, base) * random.uniform(0.5, 1.0)

    async def deliver(self, delivery: Delivery) -> None:
        attempt = delivery.attempts + 1
        job = await self.store.get_job(delivery.job_id)
        if job is None:  # cleaned up while waiting: nothing left to tell
            await self.ledger.record(
                delivery.job_id,
                self.node_id,
                attempt_json(now_ms(), None, "작업이 삭제되었습니다", False),
                FAILED,
                0,
            )
            return
        body = dumps(payload(job, self.settings.base_url)).encode()
        timestamp = int(time.time())
        secret = self.settings.webhook_secret or ""
        headers = {
            "Content-Type": "application/json",
            "X-DocCount-Event": "job.ended",
            "X-DocCount-Delivery": delivery.job_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        status: int | None = None
        error: str | None = None
        refused = False
        started = now_ms()
        try:
            host, _ = url_shape(delivery.url)
            if not self.settings.webhook_allow_private and _is_ip(host) and not is_public(host):
                raise AddressRefused(f"{host}: 공개 주소가 아닙니다")
            async with self.session.post(
                delivery.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s),
                allow_redirects=False,  # a redirect could lead anywhere, past the address check
            ) as resp:
                status = resp.status
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
        except AddressRefused as exc:
            error, refused = f"내부망 주소라 보내지 않았습니다 ({exc})", True
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, AddressRefused)
            error = f"연결 실패: {exc.os_error}" if refused else f"연결 실패: {exc}"
        except (aiohttp.ClientError, TimeoutError, OSError, ApiError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ok = error is None
        if ok:
            state, next_ms = DELIVERED, 0
        elif refused or attempt >= self.settings.webhook_max_attempts:
            state, next_ms = FAILED, 0
        else:
            state, next_ms = PENDING, now_ms() + round(self.backoff_s(attempt) * 1000)
        recorded = await self.ledger.record(
            delivery.job_id,
            self.node_id,
            attempt_json(started, status, error, ok),
            state,
            next_ms,
        )
        if not recorded:
            log.warning("[웹훅] 임대가 만료되어 기록하지 못했습니다: %s", delivery.job_id)
        elif ok:
            log.info("[웹훅] 전달 완료: %s (HTTP %s)", delivery.job_id, status)
        else:
            log.warning(
                "[웹훅] 전달 실패 %d/%d: %s (%s)%s",
                attempt,
                self.settings.webhook_max_attempts,
                delivery.job_id,
                error,
                " - 포기" if state == FAILED else "",
            )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


@contextlib.asynccontextmanager
async def delivering(store: Store, settings: Settings) -> AsyncIterator[WebhookSender]:
    """A webhook sender at work for the life of the block: every process on the store (web
    node or worker) runs one; the ledger's leases make one node deliver each job."""
    session = webhook_session(settings)
    node_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    sender = WebhookSender(store, settings, session, node_id)
    task = asyncio.create_task(sender.run(), name="webhooks")
    try:
        yield sender
    finally:
        sender.stopping = True
        await cancel_and_wait([task])
        await session.close()
