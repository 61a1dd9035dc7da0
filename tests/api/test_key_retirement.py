"""A key refused by the upstream comes back: an operator clears retirements (behind the token),
on both stores; and a refusal retires a key only once a second call confirms it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import STORE
from server.settings import NaverKey
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver

TOKEN = "ops-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_an_operator_clears_retired_keys(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        store_url=store_url,
        run_worker=False,
        api_token=TOKEN,
        naver_keys=(NaverKey("test-id", "test-secret"), NaverKey("other-id", "other-secret")),
    )
    client = await make_client(settings)
    registry = client.app[STORE].key_registry()
    await registry.retire("test-id", None, "auth failed (HTTP 401 024)")
    assert set(await registry.retired()) == {"test-id"}
    resp = await client.delete("/api/keys/retired")
    assert resp.status == 401  # behind the token
    resp = await client.delete("/api/keys/retired", headers=AUTH)
    assert (resp.status, await resp.json()) == (200, {"success": True, "cleared": ["test…"]})
    assert await registry.retired() == {}
    # The key counts again.
    resp = await client.get("/api/documents/count?keyword=다시", headers=AUTH)
    assert resp.status == 200


async def test_without_a_token_the_operator_endpoint_is_off(tmp_path, fake_naver, make_client):
    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    resp = await client.delete("/api/keys/retired")
    assert (resp.status, (await resp.json())["code"]) == (403, "admin_disabled")


async def test_one_spurious_401_does_not_stop_every_later_job(tmp_path, fake_naver, make_client):
    fake, base = fake_naver
    client = await make_client(replace(base_settings(tmp_path, base), run_worker=False))
    fake.add_fault("401", times=1)
    resp = await client.get("/api/documents/count?keyword=하나&categories=blog")
    assert resp.status == 200
    assert await client.app[STORE].key_registry().retired() == {}
    resp = await client.get("/api/documents/count?keyword=둘&categories=blog")
    assert resp.status == 200
