"""Credentials never leave: not in responses, errors, metrics, stats, or logs, even with faults."""

from __future__ import annotations

import logging
from dataclasses import replace

from server.appkeys import WORKER
from server.logs import RedactSecrets, secrets_of
from server.settings import NaverKey
from tests.support.common import base_settings
from tests.support.fakeupstream import FAULTS

GOOD_ID, GOOD_SECRET = "test-id", "test-secret"
BAD_ID, BAD_SECRET = "second-app-id", "second-app-secret-value"
TOKEN = "api-token-value-123"
NEVER = (GOOD_SECRET, BAD_SECRET, TOKEN, GOOD_ID, BAD_ID)  # full ids too: only labels go out
SECRETS = (GOOD_SECRET, BAD_SECRET, TOKEN)


async def test_no_credential_in_any_output(tmp_path, fake_naver, make_client, caplog, monkeypatch):
    fake, base = fake_naver
    # An upstream that quotes the secret back in an error message it makes up.
    monkeypatch.setitem(FAULTS, "echo", (418, "X1", f"bad secret {GOOD_SECRET} here"))
    settings = replace(
        base_settings(tmp_path, base),
        naver_keys=(NaverKey(GOOD_ID, GOOD_SECRET), NaverKey(BAD_ID, BAD_SECRET)),
        api_token=TOKEN,
        run_worker=False,
        request_timeout_s=0.2,
    )
    client = await make_client(settings)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    fake.add_fault("500", query="맥북", times=2)
    fake.add_fault("429", query="리뷰", times=1)
    fake.add_fault("reset", query="리뷰", api="blog")
    fake.add_fault("timeout", query="후기", api="news")
    fake.add_fault("echo", query="에코", api="blog", times=10)
    caplog.set_level(logging.DEBUG)

    bodies: list[str] = []

    async def collect(method: str, url: str, **kw: object) -> str:
        resp = await client.request(method, url, **kw)
        text = await resp.text()
        bodies.append(f"{resp.status}\n{dict(resp.headers)}\n{text}")  # not the URL: we sent it
        return text

    await collect("POST", "/api/documents/batch", json={"keywords": ["x"]})  # 401
    await collect("POST", "/api/documents/batch", json={"keywords": ["x"]}, headers={
        "Authorization": f"Bearer {TOKEN}x"})  # fmt: skip
    created = await collect(
        "POST", "/api/documents/batch", json={"keywords": ["맥북", "리뷰", "후기", "에코"]},
        headers=auth,
    )  # fmt: skip
    assert '"success":true' in created
    await client.app[WORKER].run_until_idle()
    job_id = created.split('"jobId":"')[1].split('"')[0]
    status = await collect("GET", f"/api/documents/status?jobId={job_id}", headers=auth)
    assert '"status":"completed"' in status
    assert "bad secret *** here" in status  # the echoed secret was scrubbed, the rest kept
    await collect("GET", "/api/documents/count?keyword=에코", headers=auth)
    for url in ("/api/documents/jobs", "/api/stats", "/api/config", "/api/openapi.json"):
        await collect("GET", url, headers=auth)
    for url in ("/metrics", "/healthz", "/readyz"):
        await collect("GET", url)
    # Streams take a stream token in the query (the API token there is refused, and says so
    # without echoing it); a finished job's stream ends by itself.
    stream_token = created.split('"streamToken":"')[1].split('"')[0]
    await collect("GET", f"/api/documents/events?jobId={job_id}&token={stream_token}")
    await collect("GET", f"/api/documents/events?jobId={job_id}&token={TOKEN}")
    await collect("GET", f"/api/documents/events?jobId={job_id}&token=wrong{TOKEN}")
    ws = await client.ws_connect(f"/api/documents/ws?token={stream_token}")
    await ws.send_str(f'{{"type": "subscribe", "jobId": "{job_id}"}}')
    bodies.append(str((await ws.receive()).data))
    await ws.close()

    assert any("HTTP 418" in b for b in bodies)
    assert len(fake.calls) > 16  # retries and the key that failed auth really happened
    # Our own log lines carry no secret at all. Everything else (aiohttp's access log quotes
    # ?token=, though `doccount serve` turns it off) goes through the handler's redaction.
    for record in caplog.records:
        if record.name.startswith("doccount"):
            for secret in NEVER:
                assert secret not in record.getMessage(), record.getMessage()
    redact = RedactSecrets(secrets_of(settings))
    for record in caplog.records:
        redact.filter(record)
    logged = "\n".join(r.getMessage() + "\n" + (r.exc_text or "") for r in caplog.records)
    assert "retired" in logged  # the bad key was logged about, by label
    for secret in NEVER:
        for body in bodies:
            assert secret not in body, (secret, body[:300])
    for secret in SECRETS:
        assert secret not in logged, secret
