"""API token, CORS allow-list, and the request limits, each with its exact JSON error."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server.api import security
from server.cli import build_parser, settings_from_args
from server.errors import ApiError
from server.settings import settings_from_env
from tests.support.common import base_settings

TOKEN = "s3cret-api-token"
UNAUTHORIZED = {
    "success": False,
    "error": "인증이 필요합니다: Authorization: Bearer <토큰> 헤더를 보내세요",
    "code": "unauthorized",
}


@pytest.fixture
async def guarded(tmp_path, fake_naver, make_client):
    settings = replace(base_settings(tmp_path, fake_naver[1]), api_token=TOKEN, run_worker=False)
    return await make_client(settings)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong", "not-bearer"],
)
async def test_api_calls_need_the_token(guarded, headers):
    resp = await guarded.get("/api/documents/jobs", headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert await resp.json() == UNAUTHORIZED
    resp = await guarded.post("/api/documents/batch", json={"keywords": ["a"]}, headers=headers)
    assert (resp.status, await resp.json()) == (401, UNAUTHORIZED)


async def test_the_right_token_passes(guarded):
    resp = await guarded.get("/api/documents/jobs", headers={"Authorization": f"bearer {TOKEN}"})
    assert (resp.status, await resp.json()) == (200, {"success": True, "jobs": []})


async def test_query_token_only_for_streams(guarded):
    resp = await guarded.get(f"/api/documents/jobs?token={TOKEN}")
    assert resp.status == 401


async def test_config_docs_and_probes_stay_open(guarded):
    body = await (await guarded.get("/api/config")).json()
    assert body["authRequired"] is True
    for path in ("/api/openapi.json", "/healthz", "/readyz", "/metrics"):
        assert (await guarded.get(path)).status == 200, path
    assert (await guarded.get("/api/stats")).status == 401


async def test_without_a_token_nothing_is_asked(tmp_path, fake_naver, make_client):
    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    assert (await client.get("/api/documents/jobs")).status == 200
    assert (await (await client.get("/api/config")).json())["authRequired"] is False


def test_token_is_compared_in_constant_time(monkeypatch):
    seen: list[tuple[bytes, bytes]] = []

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return a == b

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    assert security.token_matches("abc", "abc") is True
    assert security.token_matches("abc", "abd") is False
    assert security.token_matches("abc", None) is False
    assert seen == [(b"abc", b"abc"), (b"abc", b"abd"), (b"abc", b"")]


# --- CORS ----------------------------------------------------------------------------------

ALLOWED = "https://dash.example"


@pytest.fixture
async def cors_client(tmp_path, fake_naver, make_client):
    settings = replace(
        base_settings(tmp_path, fake_naver[1]), cors_origins=(ALLOWED,), run_worker=False
    )
    return await make_client(settings)


async def test_preflight_from_an_allowed_origin(cors_client):
    resp = await cors_client.options(
        "/api/documents/batch",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, POST, DELETE, OPTIONS"
    assert resp.headers["Access-Control-Allow-Headers"] == (
        "Authorization, Content-Type, Last-Event-ID, Idempotency-Key"
    )
    assert resp.headers["Vary"] == "Origin"


async def test_preflight_from_another_origin_is_refused(cors_client):
    resp = await cors_client.options(
        "/api/documents/batch",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert await resp.json() == {
        "success": False,
        "error": "허용되지 않은 출처(Origin)입니다",
        "code": "origin_not_allowed",
    }


async def test_responses_carry_allow_origin_only_for_listed_origins(cors_client):
    resp = await cors_client.get("/api/documents/jobs", headers={"Origin": ALLOWED})
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert resp.headers["Access-Control-Expose-Headers"] == "Retry-After, Idempotent-Replayed"
    # Errors too: a page must be able to read why it failed.
    resp = await cors_client.get("/api/documents/status", headers={"Origin": ALLOWED})
    assert resp.status == 400 and resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    resp = await cors_client.get("/api/documents/jobs", headers={"Origin": "https://evil.example"})
    assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers


async def test_no_origin_is_allowed_by_default(tmp_path, fake_naver, make_client):
    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    resp = await client.options(
        "/api/documents/jobs", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
    )
    assert resp.status == 403


def test_cors_origins_from_flags_and_environment(monkeypatch):
    env = {"DOCCOUNT_CORS_ORIGINS": "https://a.example, https://b.example,"}
    assert settings_from_env(env).cors_origins == ("https://a.example", "https://b.example")
    monkeypatch.setattr("os.environ", {"DOCCOUNT_API_TOKEN": "tok"})
    args = build_parser().parse_args(
        ["serve", "--cors-origin", "https://a.example", "--cors-origin", "https://c.example"]
    )
    settings = settings_from_args(args)
    assert settings.cors_origins == ("https://a.example", "https://c.example")
    assert settings.api_token == "tok"


# --- limits ----------------------------------------------------------------------------------


async def test_body_too_large_is_413_json(tmp_path, fake_naver, make_client):
    client = await make_client(
        replace(base_settings(tmp_path, fake_naver[1]), max_body_bytes=1024, run_worker=False)
    )
    body = '{"keywords": ["' + "가" * 2000 + '"]}'
    resp = await client.post(
        "/api/documents/batch", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert await resp.json() == {
        "success": False,
        "error": "요청 본문이 너무 큽니다 (최대 1,024 바이트)",
        "code": "body_too_large",
    }


async def test_too_many_keywords_is_400(tmp_path, fake_naver, make_client):
    client = await make_client(
        replace(base_settings(tmp_path, fake_naver[1]), max_keywords=3, run_worker=False)
    )
    resp = await client.post("/api/documents/batch", json={"keywords": ["a", "b", "c", "d"]})
    assert resp.status == 400
    assert await resp.json() == {
        "success": False,
        "error": "키워드는 한 번에 최대 3개까지 가능합니다 (입력: 4개)",
        "code": "too_many_keywords",
    }


async def test_queued_jobs_per_client_is_429_with_retry_after(tmp_path, fake_naver, make_client):
    client = await make_client(
        replace(
            base_settings(tmp_path, fake_naver[1]), max_queued_jobs_per_client=2, run_worker=False
        )
    )
    for _ in range(2):
        assert (await client.post("/api/documents/batch", json={"keywords": ["a"]})).status == 200
    resp = await client.post("/api/documents/batch", json={"keywords": ["a"]})
    assert resp.status == 429 and resp.headers["Retry-After"] == "30"
    assert await resp.json() == {
        "success": False,
        "error": "대기 중인 작업이 너무 많습니다 (최대 2개). 앞선 작업이 끝난 뒤 다시 시도하세요",
        "code": "too_many_jobs",
    }


def test_stream_slots_count_per_client():
    slots = security.StreamSlots(limit=2)
    slots.acquire("1.2.3.4")
    slots.acquire("1.2.3.4")
    slots.acquire("5.6.7.8")
    with pytest.raises(ApiError) as refused:
        slots.acquire("1.2.3.4")
    assert (refused.value.status, refused.value.code) == (429, "too_many_streams")
    assert refused.value.headers == {"Retry-After": "5"}
    slots.release("1.2.3.4")
    slots.acquire("1.2.3.4")
    for _ in range(2):
        slots.release("1.2.3.4")
    slots.release("5.6.7.8")
    assert slots.open_by_client == {} and slots.total() == 0
