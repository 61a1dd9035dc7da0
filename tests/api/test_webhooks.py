"""Webhooks against a receiver app on a free port: one signed POST per ended job, retries then
giving up on a failing receiver, one delivery per job with two nodes on one Redis, and the
address checks (loopback refused unless allowed). Both stores."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.api.app import create_app
from server.codec import loads
from server.settings import Settings
from server.work.webhooks import is_public, payload, sign
from tests.support.common import base_settings, wait_until

SECRET = "whsec-test-secret"
PUBLIC = "https://doccount.example"
DELIVERY_TIMEOUT_S = 30.0  # a loaded machine; deliveries are polled every 20 ms


class Receiver:
    """An app that records every POST and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status, text="ok")

    def by_job(self) -> Counter[str]:
        return Counter(h["X-DocCount-Delivery"] for h, _ in self.posts)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rec.url = str(server.make_url("/hook"))
    yield rec
    await server.close()


def hook_settings(tmp_path: Path, naver: str, store_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store_url": store_url,
        "webhook_secret": SECRET,
        "webhook_allow_private": True,  # the receiver is on loopback
        "webhook_poll_s": 0.02,
        "webhook_retry_base_s": 0.01,
        "webhook_retry_max_s": 0.05,
        "public_url": PUBLIC,
        **overrides,
    }
    return base_settings(tmp_path, naver, **values)


async def start(client_settings: Settings) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(
        TestServer(create_app(client_settings), host="127.0.0.1")
    )
    await client.start_server()
    return client


async def submit(client: TestClient[Any, Any], keywords: list[str], **extra: Any) -> str:
    resp = await client.post("/api/documents/batch", json={"keywords": keywords, **extra})
    body = await resp.json()
    assert resp.status == 200, body
    job_id: str = body["jobId"]
    return job_id


async def job_of(client: TestClient[Any, Any], job_id: str) -> dict[str, Any]:
    resp = await client.get("/api/documents/status", params={"jobId": job_id})
    job: dict[str, Any] = (await resp.json())["job"]
    return job


async def webhook_state(client: TestClient[Any, Any], job_id: str) -> str | None:
    webhook = (await job_of(client, job_id)).get("webhook")
    return None if webhook is None else str(webhook["state"])


def verify(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What a receiver does (docs/webhooks.md): recompute the signature, check the age."""
    timestamp = headers["X-DocCount-Timestamp"]
    expected = (
        "sha256="
        + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    assert hmac.compare_digest(headers["X-DocCount-Signature"], expected)
    assert abs(time.time() - int(timestamp)) < 300
    data: dict[str, Any] = loads(body)
    return data


@pytest.mark.parametrize("store_url", ["sqlite", "redis"], indirect=True)
async def test_one_signed_post_per_ended_job(tmp_path, fake_naver, store_url, receiver):
    settings = hook_settings(tmp_path, fake_naver[1], store_url, webhook_url=receiver.url)
    client = await start(settings)
    try:
        own = await submit(client, ["맥북", "아이폰"], webhook={"url": receiver.url + "?k=s"})
        server_wide = await submit(client, ["리뷰"])  # no webhook of its own: --webhook-url
        for job_id in (own, server_wide):
            await wait_until(
                lambda j=job_id: _is(webhook_state(client, j), "delivered"), DELIVERY_TIMEOUT_S
            )
        job = await job_of(client, own)
    finally:
        await client.close()
    assert receiver.by_job() == Counter({own: 1, server_wide: 1})
    headers, body = next((h, b) for h, b in receiver.posts if h["X-DocCount-Delivery"] == own)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-DocCount-Event"] == "job.ended"
    data = verify(headers, body)
    assert data == {
        "type": "job.ended",
        "jobId": own,
        "status": "completed",
        "error": None,
        "progress": {"current": 2, "total": 2},
        "resultCount": 2,
        "failureCount": 0,
        "createdAt": job["createdAt"],
        "completedAt": job["completedAt"],
        "links": {
            "status": f"{PUBLIC}/api/documents/status?jobId={own}",
            "export": f"{PUBLIC}/api/documents/jobs/{own}/export?format=csv",
            "events": f"{PUBLIC}/api/documents/events?jobId={own}",
        },
    }
    webhook = job["webhook"]
    assert webhook["url"] == receiver.url  # the query (it may hold a secret) is not shown
    assert webhook["state"] == "delivered"
    (attempt,) = webhook["attempts"]
    assert (attempt["ok"], attempt["status"], attempt["error"]) == (True, 200, None)


async def _is(value: Any, expected: str) -> bool:
    return await value == expected


@pytest.mark.parametrize("store_url", ["sqlite", "redis"], indirect=True)
async def test_a_failing_receiver_is_retried_then_given_up(tmp_path, fake_naver, store_url):
    rec = Receiver(status=500)
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    settings = hook_settings(tmp_path, fake_naver[1], store_url, webhook_max_attempts=3)
    client = await start(settings)
    try:
        job_id = await submit(client, ["맥북"], webhook={"url": str(server.make_url("/hook"))})
        await wait_until(lambda: _is(webhook_state(client, job_id), "failed"), DELIVERY_TIMEOUT_S)
        webhook = (await job_of(client, job_id))["webhook"]
    finally:
        await client.close()
        await server.close()
    assert [(a["ok"], a["status"], a["error"]) for a in webhook["attempts"]] == [
        (False, 500, "HTTP 500")
    ] * 3
    times = [a["at"] for a in webhook["attempts"]]
    assert times == sorted(times)
    assert rec.by_job() == Counter({job_id: 3})
    for headers, body in rec.posts:
        verify(headers, body)  # every retry is signed afresh


async def test_two_nodes_on_one_redis_deliver_each_job_once(tmp_path, fake_naver, redis_url):
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    settings = hook_settings(
        tmp_path, fake_naver[1], redis_url, webhook_url=str(server.make_url("/hook"))
    )
    # Both nodes run a webhook sender; one counts (a web node with --no-worker delivers too).
    nodes = [await start(settings), await start(replace(settings, run_worker=False))]
    try:
        ids = [await submit(nodes[i % 2], [f"키워드{i}"]) for i in range(6)]
        for job_id in ids:
            await wait_until(
                lambda j=job_id: _is(webhook_state(nodes[0], j), "delivered"), DELIVERY_TIMEOUT_S
            )
        states = [(await job_of(nodes[1], j))["webhook"] for j in ids]
    finally:
        for node in nodes:
            await node.close()
        await server.close()
    assert rec.by_job() == Counter({job_id: 1 for job_id in ids})
    assert all(len(s["attempts"]) == 1 and s["attempts"][0]["ok"] for s in states)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:9/hook", "webhook_address_refused"),
        ("http://localhost:9/hook", "webhook_address_refused"),
        ("http://[::1]:9/hook", "webhook_address_refused"),
        ("http://10.1.2.3/hook", "webhook_address_refused"),
        ("http://169.254.169.254/latest/meta-data", "webhook_address_refused"),
        ("ftp://example.com/hook", "invalid_webhook"),
        ("not a url", "invalid_webhook"),
        (42, "invalid_webhook"),
    ],
)
async def test_private_addresses_and_bad_urls_are_refused(tmp_path, fake_naver, url, code):
    settings = base_settings(tmp_path, fake_naver[1], webhook_secret=SECRET)
    client = await start(settings)
    try:
        resp = await client.post(
            "/api/documents/batch", json={"keywords": ["맥북"], "webhook": {"url": url}}
        )
        body = await resp.json()
    finally:
        await client.close()
    assert (resp.status, body["success"], body["code"]) == (400, False, code)


async def test_webhooks_need_a_signing_secret(tmp_path, fake_naver):
    client = await start(base_settings(tmp_path, fake_naver[1]))
    try:
        resp = await client.post(
            "/api/documents/batch",
            json={"keywords": ["맥북"], "webhook": {"url": "https://example.com/hook"}},
        )
        body = await resp.json()
    finally:
        await client.close()
    assert (resp.status, body["code"]) == (400, "webhooks_disabled")


def test_signature_and_addresses() -> None:
    body = b'{"a":1}'
    assert sign("k", 1700000000, body) == (
        "sha256=" + hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    )
    assert [is_public(a) for a in ("8.8.8.8", "127.0.0.1", "10.0.0.1", "::ffff:127.0.0.1")] == [
        True,
        False,
        False,
        False,
    ]
    assert [is_public(a) for a in ("100.64.0.1", "fe80::1", "2606:4700::1111", "0.0.0.0")] == [
        False,
        False,
        True,
        False,
    ]
    job = {
        "id": "batch_1_x",
        "status": "failed",
        "error": "e",
        "progress": {"current": 1, "total": 2},
    }
    assert payload({**job, "results": [{"error": "x"}]}, "http://h")["failureCount"] == 1
