"""Cross-site requests (403 cross_origin) and DNS rebinding (421 host_not_allowed): what a
foreign page's browser sends is refused; what curl, scripts and the page's own fetch send passes."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest

from server.api.origins import host_check_on, hostname_of
from server.cli import build_parser, settings_from_args
from server.settings import Settings, settings_from_env
from tests.support.common import base_settings

CROSS_ORIGIN = {
    "success": False,
    "error": "다른 사이트에서 보낸 요청은 받지 않습니다. 대시보드에서 직접 요청하거나, "
    "다른 출처를 허용하려면 --cors-origin 으로 등록하세요",
    "code": "cross_origin",
}
HOST_NOT_ALLOWED = {
    "success": False,
    "error": "허용되지 않은 호스트 이름입니다. 이 이름으로 접속하려면 --allowed-host 로 등록하세요",
    "code": "host_not_allowed",
}
BATCH = "/api/documents/batch"
ALLOWED = "https://dash.example"


@pytest.fixture
async def client(tmp_path, fake_naver, make_client):
    settings = replace(
        base_settings(tmp_path, fake_naver[1]), run_worker=False, cors_origins=(ALLOWED,)
    )
    return await make_client(settings)


def own(client) -> str:
    return f"http://{client.server.host}:{client.server.port}"


async def jobs_listed(client) -> int:
    return len((await (await client.get("/api/documents/jobs")).json())["jobs"])


FOREIGN = [
    {"Origin": "http://127.0.0.1:1"},  # another port of the same machine
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # a sandboxed frame
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # another port: same site, not same origin
    {"Referer": "https://evil.example/page.html"},
]


@pytest.mark.parametrize(
    "headers", FOREIGN, ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items())
)
async def test_foreign_pages_cannot_submit(client, headers):
    # The no-cors shapes a page can send without a preflight: text/plain and a form.
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        resp = await client.post(
            BATCH,
            data='{"keywords": ["a"]}',
            headers={**headers, "Content-Type": content_type},
        )
        assert (resp.status, await resp.json()) == (403, CROSS_ORIGIN)
    assert await jobs_listed(client) == 0


async def test_foreign_pages_cannot_count_cancel_or_open_a_websocket(client, fake_naver):
    fake, _ = fake_naver
    evil = {"Origin": "https://evil.example"}
    resp = await client.get(
        "/api/documents/count?keyword=a", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert (resp.status, await resp.json()) == (403, CROSS_ORIGIN)
    resp = await client.delete("/api/documents/jobs/batch_1_abc", headers=evil)
    assert (resp.status, await resp.json()) == (403, CROSS_ORIGIN)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/api/documents/ws", headers=evil)
    assert refused.value.status == 403
    assert fake.calls == []


async def test_own_page_allowed_origins_and_non_browsers_pass(client):
    for headers in (
        {},  # curl, scripts
        {"Origin": own(client)},  # the seed's same-origin fetch
        {"Origin": ALLOWED},
        {"Sec-Fetch-Site": "same-origin", "Referer": own(client) + "/"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
    ):
        resp = await client.post(BATCH, json={"keywords": ["a"]}, headers=headers)
        assert resp.status == 200, headers
    assert await jobs_listed(client) == 5


async def test_reading_stays_open_to_any_page(client):
    # Reads spend nothing and CORS already keeps their bodies from foreign pages.
    resp = await client.get("/api/documents/jobs", headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status == 200


# --- DNS rebinding ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["attacker.example:8080", "attacker.example", "10.0.0.1", ""])
async def test_foreign_host_names_are_refused_on_loopback(client, host):
    for path in ("/", "/api/documents/jobs", "/healthz"):
        resp = await client.get(path, headers={"Host": host})
        assert (resp.status, await resp.json()) == (421, HOST_NOT_ALLOWED)


@pytest.mark.parametrize(
    "host", ["localhost:8080", "127.0.0.1", "127.0.0.2:1", "[::1]:8080", "LOCALHOST"]
)
async def test_loopback_host_names_pass(client, host):
    resp = await client.get("/api/documents/jobs", headers={"Host": host})
    assert resp.status == 200


async def test_allowed_host_is_accepted_and_counts_as_own_origin(tmp_path, fake_naver, make_client):
    settings = replace(
        base_settings(tmp_path, fake_naver[1]), run_worker=False, allowed_hosts=("doc.example",)
    )
    client = await make_client(settings)
    resp = await client.post(
        BATCH,
        json={"keywords": ["a"]},
        headers={"Host": "doc.example", "Origin": "https://doc.example"},
    )
    assert resp.status == 200
    resp = await client.get("/", headers={"Host": "other.example"})
    assert resp.status == 421


async def test_rebound_websocket_origin_is_not_own(client):
    # A rebound page's Origin equals the Host it sends; the Host check refuses it first.
    headers = {"Host": "attacker.example:8080", "Origin": "http://attacker.example:8080"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/api/documents/ws", headers=headers)
    assert refused.value.status == 421


async def test_public_listener_without_allowed_hosts_checks_no_host(
    tmp_path, fake_naver, make_client
):
    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, host="0.0.0.0")
    client = await make_client(settings)
    resp = await client.get("/api/documents/jobs", headers={"Host": "doc.example:8080"})
    assert resp.status == 200
    # ...but the origin check still holds: another site is still another site.
    resp = await client.post(
        BATCH,
        json={"keywords": ["a"]},
        headers={"Host": "doc.example:8080", "Origin": "http://evil.example:8080"},
    )
    assert resp.status == 403


def test_host_check_switches_on_for_loopback_or_named_hosts():
    assert host_check_on(Settings(host="127.0.0.1"))
    assert host_check_on(Settings(host="localhost"))
    assert host_check_on(Settings(host="::1"))
    assert not host_check_on(Settings(host="0.0.0.0"))
    assert host_check_on(Settings(host="0.0.0.0", allowed_hosts=("a.example",)))
    assert hostname_of("[::1]:80") == "::1"
    assert hostname_of("Doc.Example.:443") == "doc.example"
    assert hostname_of("") is None
    assert hostname_of("[bad") is None


def test_allowed_hosts_from_flags_and_environment():
    env = {"DOCCOUNT_ALLOWED_HOSTS": "a.example, b.example,"}
    assert settings_from_env(env).allowed_hosts == ("a.example", "b.example")
    args = build_parser().parse_args(["serve", "--allowed-host", "c.example"])
    assert settings_from_args(args).allowed_hosts == ("c.example",)
