"""Issue 11.2 and 11.3: what the service knows about its upstream keys is true across a restart
and before the first job: quota use and retirements are kept in the store (both engines), and a
rejected key is found at start, not by a job that must fail."""

from __future__ import annotations

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
    # bad-key was tried once (401) and retired for good; test-id made the four calls.
    assert by_label["test…"]["callsToday"] == 4
    assert by_label["bad-…"]["callsToday"] == 1
    assert by_label["bad-…"]["retired"] is True
    assert by_label["bad-…"]["retiredUntil"] is None
    assert by_label["bad-…"]["retiredReason"] == "auth failed (HTTP 401 024)"
    assert by_label["test…"]["retired"] is False


def _bad_key() -> tuple[Any, ...]:
    from server.settings import NaverKey

    return (NaverKey("bad-key", "wrong-secret"),)
