"""Schemathesis against a live server (worker on, fake upstream): no 5xx, nothing off-schema.

Bounded: a fixed number of examples per mode, no example database, streaming endpoints and
the metrics text left out (they are not JSON request/response pairs to fuzz).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.api.openapi import build_spec
from tests.support.common import base_settings
from tests.support.liveserver import LiveServer

TOKEN = "fuzz-token"
SKIPPED_PATHS = ("/api/documents/events", "/api/documents/ws", "/metrics")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = {
    schemathesis.GenerationMode.POSITIVE: 120,
    schemathesis.GenerationMode.NEGATIVE: 80,
}


def fuzz(spec: dict[str, Any], base_url: str, mode: schemathesis.GenerationMode) -> int:
    schema = schemathesis.openapi.from_dict(spec).exclude(
        path_regex="^(" + "|".join(SKIPPED_PATHS) + ")$"
    )
    session = requests.Session()
    calls = 0

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        nonlocal calls
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=10)
        calls += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
    return calls


def test_schemathesis_finds_no_5xx_and_no_off_schema_response(tmp_path: Path) -> None:
    def make_settings(naver_base_url: str):  # type: ignore[no-untyped-def]
        # Small limits keep generated batches cheap; the document carries the same limits.
        return replace(
            base_settings(tmp_path, naver_base_url),
            api_token=TOKEN,
            max_keywords=20,
            max_keyword_chars=30,
            max_queued_jobs_per_client=1000,
        )

    with LiveServer(make_settings) as live:
        spec = build_spec(make_settings(""))
        for mode in EXAMPLES:
            assert fuzz(spec, live.url, mode) >= EXAMPLES[mode] // 2
        # The fuzzing really ran jobs against the upstream.
        assert live.fake.calls
