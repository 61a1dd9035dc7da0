"""Issue 11.2 and 11.3: what the service knows about its upstream keys is true across a restart
and before the first job: quota use and retirements are kept in the store (both engines), and a
rejected key is found at start, not by a job that must fail."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.appkeys import WORKER
from tests.support.common import base_settings
from tests.support.fakeupstream import FakeNaver


async def stats_keys(client: Any) -> list[dict[str, Any]]:
    body = await (await client.get("/api/stats")).json()
    keys: list[dict[str, Any]] = body["upstream"]["keys"]
    return keys


async def test_calls_today_and_retirements_survive_a_restart(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any, store_url: str
) -> None:
    fake, base = fake_naver
    fake.keys["bad-key"] = "right-secret"
    settings = replace(
        base_settings(tmp_path, base),
        store_url=store_url,
        run_worker=False,
        keyword_concurrency=1,  # one lookup at a time: the bad key is tried exactly once
        naver_keys=(*base_settings(tmp_path, base).naver_keys, *_bad_key()),
    )
    first = await make_client(settings)
    await first.post(
        "/api/documents/batch", json={"keywords": ["a", "b", "c", "d"], "categories": ["blog"]}
    )
    await first.app[WORKER].run_until_idle()
    before = await stats_keys(first)
    await first.close()

    second = await make_client(settings)
    after = await stats_keys(second)
    assert after == before
    by_label = {k["label"]: k for k in after}
    # bad-key was refused (401), called once more to confirm, and retired until its re-check
    # (never for good after one lookup); test-id made the four calls.
    assert by_label["test…"]["callsToday"] == 4
    assert by_label["bad-…"]["callsToday"] == 2
    assert by_label["bad-…"]["retired"] is True
    assert by_label["bad-…"]["retiredUntil"] > int(time.time() * 1000)
    assert by_label["bad-…"]["retiredReason"] == "auth failed (HTTP 401 024)"
    assert by_label["test…"]["retired"] is False


def _bad_key() -> tuple[Any, ...]:
    from server.settings import NaverKey

    return (NaverKey("bad-key", "wrong-secret"),)


async def test_a_rejected_key_is_found_at_start_and_nothing_is_started_without_a_key(
    tmp_path: Path,
    fake_naver: tuple[FakeNaver, str],
    make_client: Any,
    store_url: str,
    caplog: Any,
) -> None:
    """Issue 11.3: one cheap call per key at start; a rejected key is retired and named by its
    label; with none left, /readyz says 503 no_usable_key and a submit is refused the same way
    instead of starting a job that must fail."""
    fake, base = fake_naver
    settings = replace(
        base_settings(tmp_path, base),
        store_url=store_url,
        check_keys=True,
        naver_keys=_bad_key(),
    )
    caplog.set_level("INFO", logger="doccount")
    client = await make_client(settings)
    assert [(c.query, c.api, c.client_id) for c in fake.calls] == [("doccount", "blog", "bad-key")]
    messages = [r.getMessage() for r in caplog.records]
    assert (
        f"provider naver: 1 key(s) (bad-…), rate 1000 calls/s per key, upstream {base}" in messages
    )
    assert "naver key bad-… rejected at start (auth failed (HTTP 401 024)): retired" in messages

    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503
    assert body["code"] == "no_usable_key"
    assert body["checks"] == {"store": "ok", "worker": "ok", "keys": "none_usable"}
    assert body["error"] == (
        "사용 가능한 네이버 API 키가 없습니다: bad-… 사용 중지됨(인증 실패 또는 권한 없음)"
    )

    resp = await client.post("/api/documents/batch", json={"keywords": ["맥북"]})
    assert resp.status == 503
    assert await resp.json() == {"success": False, "error": body["error"], "code": "no_usable_key"}
    jobs = await (await client.get("/api/documents/jobs")).json()
    assert jobs["jobs"] == []
    assert len(fake.calls) == 1


async def test_good_keys_are_checked_once_each_and_no_key_check_skips_it(
    tmp_path: Path, fake_naver: tuple[FakeNaver, str], make_client: Any
) -> None:
    fake, base = fake_naver
    fake.keys["second-id"] = "second-secret"
    from server.settings import NaverKey

    keys = (NaverKey("test-id", "test-secret"), NaverKey("second-id", "second-secret"))
    settings = replace(base_settings(tmp_path, base), check_keys=True, naver_keys=keys)
    client = await make_client(settings)
    assert sorted(c.client_id for c in fake.calls) == ["second-id", "test-id"]
    assert (await client.get("/readyz")).status == 200
    await client.close()
    await make_client(replace(settings, check_keys=False))
    assert len(fake.calls) == 2
