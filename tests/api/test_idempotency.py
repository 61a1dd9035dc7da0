"""Idempotency-Key on submissions, on both stores: a retried POST gets the first job back."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.appkeys import STORE
from server.model import JobSpec, new_job_id, now_ms
from server.store.base import IDEMPOTENCY_WINDOW_MS
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver

BATCH = "/api/documents/batch"


@pytest.fixture
async def client(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> Any:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]), store_url=store_url, run_worker=False
    )
    return await make_client(settings)


async def post(client: Any, key: str | None, keywords: list[str]) -> tuple[int, Any, Any]:
    headers = {} if key is None else {"Idempotency-Key": key}
    resp = await client.post(BATCH, json={"keywords": keywords}, headers=headers)
    return resp.status, await resp.json(), resp.headers


async def jobs_listed(client: Any) -> int:
    return len((await (await client.get("/api/documents/jobs")).json())["jobs"])


async def test_a_retry_with_the_same_key_returns_the_first_job(client):
    status, first, headers = await post(client, "order-42", ["a"])
    assert status == 200 and "Idempotent-Replayed" not in headers
    status, again, headers = await post(client, "order-42", ["a"])
    assert status == 200 and again == first and headers["Idempotent-Replayed"] == "true"
    status, other, _ = await post(client, "order-43", ["a"])
    assert status == 200 and other["jobId"] != first["jobId"]
    status, plain, _ = await post(client, None, ["a"])
    assert status == 200 and plain["jobId"] not in (first["jobId"], other["jobId"])
    assert await jobs_listed(client) == 3


async def test_concurrent_retries_make_one_job(client):
    results = await asyncio.gather(*(post(client, "burst", ["a"]) for _ in range(20)))
    assert {r[0] for r in results} == {200}
    assert len({r[1]["jobId"] for r in results}) == 1
    assert await jobs_listed(client) == 1


async def test_the_key_is_per_client(client):
    store = client.app[STORE]

    def spec(client_addr: str, created: int) -> JobSpec:
        return JobSpec(new_job_id(created), ("a",), ("blog",), 1, created, "naver", client_addr)

    old = now_ms() - IDEMPOTENCY_WINDOW_MS - 1000
    first = spec("10.0.0.1", old)
    assert await store.create_job(first, idempotency_key="k") == first.id
    other_client = spec("10.0.0.2", old)
    assert await store.create_job(other_client, idempotency_key="k") == other_client.id
    inside = spec("10.0.0.1", old + 500)
    assert await store.create_job(inside, idempotency_key="k") == first.id


async def test_a_replay_is_not_refused_by_the_queue_cap(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        store_url=store_url,
        run_worker=False,
        max_queued_jobs_per_client=1,
    )
    client = await make_client(settings)
    status, first, _ = await post(client, "k", ["a"])
    assert status == 200
    assert (await post(client, None, ["b"]))[0] == 429
    status, again, _ = await post(client, "k", ["a"])
    assert (status, again["jobId"]) == (200, first["jobId"])


@pytest.mark.parametrize("key", ["", "x" * 129, "has space", "한글"])
async def test_a_malformed_key_is_400(client, key):
    status, body, _ = await post(client, key, ["a"])
    assert (status, body["code"]) == (400, "invalid_idempotency_key")
    assert await jobs_listed(client) == 0
