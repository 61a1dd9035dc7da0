"""The error catalogue: one status per code, every entry usable, and nothing built by hand."""

from __future__ import annotations

import re
from pathlib import Path

from server import errors
from server.api.openapi import build_spec
from server.settings import Settings

SERVER = Path(errors.__file__).parent


def test_each_code_has_one_status() -> None:
    status_of: dict[str, int] = {}
    for kind in errors.catalogue():
        assert status_of.setdefault(kind.code, kind.status) == kind.status, kind.code


def test_every_entry_has_a_korean_message_and_a_doc() -> None:
    kinds = list(errors.catalogue())
    assert len(kinds) >= 40
    for kind in kinds:
        assert re.fullmatch(r"[a-z_]+", kind.code), kind
        assert kind.doc and kind.message, kind
        assert kind.message.startswith("{") or re.search(r"[가-힣]", kind.message), kind


def test_raising_an_entry_carries_its_status_code_and_headers() -> None:
    error = errors.TOO_MANY_JOBS(limit=20)
    assert (error.status, error.code, error.headers) == (
        429,
        "too_many_jobs",
        {"Retry-After": "30"},
    )
    assert (
        error.message
        == "대기 중인 작업이 너무 많습니다 (최대 20개). 앞선 작업이 끝난 뒤 다시 시도하세요"
    )
    assert errors.UNAUTHORIZED().headers == {"WWW-Authenticate": "Bearer"}
    assert errors.BODY_TOO_LARGE(limit=262_144).message == (
        "요청 본문이 너무 큽니다 (최대 262,144 바이트)"
    )
    assert errors.HTTP_ERROR(status=418, reason="I'm a teapot").status == 418


def test_no_error_is_built_outside_the_catalogue() -> None:
    """Every ApiError comes from an entry: a message written inline would escape the catalogue
    (and the OpenAPI document's list of codes)."""
    inline = [
        f"{path.relative_to(SERVER)}:{n}"
        for path in SERVER.rglob("*.py")
        if path.name not in ("errors.py", "errorkind.py")
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if "ApiError(" in line
    ]
    assert inline == []


def test_openapi_lists_the_catalogues_codes_per_status() -> None:
    spec = build_spec(Settings())
    responses = spec["paths"]["/api/documents/batch"]["post"]["responses"]
    listed = responses["400"]["content"]["application/json"]["schema"]["allOf"][1]
    codes_400 = listed["properties"]["code"]["enum"]
    assert codes_400 == sorted({k.code for k in errors.catalogue() if k.status == 400})
    assert {"invalid_json", "too_many_keywords", "unknown_category"} <= set(codes_400)
    codes_429 = responses["429"]["content"]["application/json"]["schema"]["allOf"][1]
    assert codes_429["properties"]["code"]["enum"] == [
        "too_many_frames",
        "too_many_jobs",
        "too_many_requests",
        "too_many_streams",
    ]
