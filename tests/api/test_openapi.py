"""The OpenAPI document covers every route, and real responses match it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from server.appkeys import WORKER
from tests.live.test_streams import read_until_terminal
from tests.support.common import base_settings
from tests.support.openapi_check import check_body

TOKEN = "spec-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNDOCUMENTED = {"/", "/static"}  # the dashboard's files


@pytest.fixture
async def client(tmp_path, fake_naver, make_client):
    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, api_token=TOKEN)
    return await make_client(settings)


async def get_spec(client: Any) -> dict[str, Any]:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    spec: dict[str, Any] = await resp.json()
    return spec


async def test_every_route_is_documented(client):
    spec = await get_spec(client)
    assert spec["openapi"] == "3.1.0"
    routes = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if route.method in ("HEAD", "OPTIONS") or path in UNDOCUMENTED:
            continue
        routes.add((route.method.lower(), path))
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert routes <= documented, routes - documented
    assert spec["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}


async def test_limits_in_the_document_are_the_live_ones(tmp_path, fake_naver, make_client):
    client = await make_client(
        replace(base_settings(tmp_path, fake_naver[1]), max_keywords=7, run_worker=False)
    )
    spec = await get_spec(client)
    assert spec["components"]["schemas"]["Submission"]["properties"]["keywords"]["maxItems"] == 7
    assert "security" not in spec  # no token configured


async def call(client: Any, spec: dict[str, Any], method: str, url: str, path: str, **kw: Any):
    resp = await client.request(method, url, **kw)
    body = await resp.json()
    check_body(spec, path, method, resp.status, body)
    return resp.status, body


async def test_real_responses_match_the_document(client, fake_naver):
    fake, _ = fake_naver
    spec = await get_spec(client)
    batch, status = "/api/documents/batch", "/api/documents/status"
    fake.add_fault("400", query="거부")  # one keyword ends with an error, the job goes on
    code, body = await call(
        client, spec, "POST", batch, batch, json={"keywords": ["맥북", "거부"]}, headers=AUTH
    )
    assert code == 200
    job_id = body["jobId"]
    code, body = await call(client, spec, "GET", f"{status}?jobId={job_id}", status, headers=AUTH)
    assert code == 200 and body["job"]["status"] == "pending"
    await client.app[WORKER].run_until_idle()
    code, body = await call(client, spec, "GET", f"{status}?jobId={job_id}", status, headers=AUTH)
    assert body["job"]["status"] == "completed" and body["job"]["results"][1]["error"]
    since = f"{status}?jobId={job_id}&since=1"
    code, body = await call(client, spec, "GET", since, status, headers=AUTH)
    assert code == 200 and body["since"] == "1" and len(body["job"]["results"]) == 2
    jobs = "/api/documents/jobs"
    assert (await call(client, spec, "GET", jobs, jobs, headers=AUTH))[0] == 200
    cancel = "/api/documents/jobs/{job_id}"
    assert (await call(client, spec, "DELETE", f"{jobs}/{job_id}", cancel, headers=AUTH))[0] == 200
    count = "/api/documents/count"
    assert (await call(client, spec, "GET", f"{count}?keyword=맥북", count, headers=AUTH))[0] == 200
    history, keywords = "/api/keywords/history", "/api/keywords"
    code, body = await call(client, spec, "GET", f"{history}?keyword=맥북", history, headers=AUTH)
    assert code == 200 and [s["kind"] for s in body["series"]] == ["blog", "cafe", "news", "web"]
    code, body = await call(client, spec, "GET", f"{keywords}?q=맥", keywords, headers=AUTH)
    assert code == 200 and [k["keyword"] for k in body["keywords"]] == ["맥북"]
    for path in ("/api/config", "/api/stats", "/healthz", "/readyz"):
        assert (await call(client, spec, "GET", path, path, headers=AUTH))[0] == 200

    # Errors
    events, ws = "/api/documents/events", "/api/documents/ws"
    errors = [
        ("POST", batch, batch, {"data": b"{", "headers": AUTH}, 400),
        ("POST", batch, batch, {"json": {"keywords": []}}, 401),
        ("GET", status, status, {"headers": AUTH}, 400),
        ("GET", f"{status}?jobId=batch_1700000000000_{'x' * 22}", status, {"headers": AUTH}, 404),
        ("GET", f"{status}?jobId={job_id}&since=x", status, {"headers": AUTH}, 400),
        ("DELETE", f"{jobs}/nope", cancel, {"headers": AUTH}, 400),
        ("GET", f"{jobs}?limit=0", jobs, {"headers": AUTH}, 400),
        ("GET", count, count, {"headers": AUTH}, 400),
        ("GET", history, history, {"headers": AUTH}, 400),
        ("GET", f"{keywords}?q=", keywords, {"headers": AUTH}, 400),
        ("GET", "/api/stats", "/api/stats", {}, 401),
        ("GET", events, events, {"headers": AUTH}, 400),
        ("GET", f"{events}?jobs=x", events, {"headers": AUTH}, 400),
        ("GET", f"{events}?jobId=batch_1700000000000_{'x' * 22}", events, {"headers": AUTH}, 404),
        ("GET", f"{events}?jobs=all", events, {}, 401),
        ("GET", ws, ws, {"headers": AUTH}, 400),  # not an upgrade
        ("GET", ws, ws, {}, 401),
    ]
    for method, url, path, kw, expected in errors:
        code, body = await call(client, spec, method, url, path, **kw)
        assert code == expected, (url, body)
        assert body["success"] is False


async def test_a_wrong_shape_is_caught():
    spec = {
        "paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/T"}}}}}}}},
        "components": {"schemas": {"T": {"type": "object", "required": ["a"]}}},
    }  # fmt: skip
    check_body(spec, "/x", "GET", 200, {"a": 1})
    with pytest.raises(jsonschema.ValidationError):
        check_body(spec, "/x", "GET", 200, {"b": 1})


async def test_streamed_events_match_the_event_schema(client):
    spec = await get_spec(client)
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/Event", "components": spec["components"]}
    )
    created = await (
        await client.post("/api/documents/batch", json={"keywords": ["맥북"]}, headers=AUTH)
    ).json()
    job_id, stream_token = created["jobId"], created["streamToken"]
    resp = await client.get(f"/api/documents/events?jobId={job_id}&token={stream_token}")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    await client.app[WORKER].run_until_idle()
    events = await read_until_terminal(resp)
    assert [e["type"] for e in events] == ["snapshot", "status", "result", "status"]
    for event in events:
        validator.validate(event)
