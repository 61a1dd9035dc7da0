"""--max-connections: past that many open requests (streams included), 503 at once; the probes
still answer."""

from __future__ import annotations

from dataclasses import replace

from server.api.capacity import OPEN_REQUESTS
from tests.support.common import base_settings, wait_until


async def test_past_the_cap_requests_get_503_and_probes_still_answer(
    tmp_path, fake_naver, make_client
):
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        max_connections=2,
        heartbeat_s=0.05,
    )
    client = await make_client(settings)
    streams = [await client.get("/api/documents/events?jobs=all") for _ in range(2)]
    assert [s.status for s in streams] == [200, 200]
    resp = await client.get("/api/documents/jobs")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "5" and resp.headers["Connection"] == "close"
    assert await resp.json() == {
        "success": False,
        "error": "서버가 처리할 수 있는 연결 수(최대 2개)를 넘었습니다. 잠시 후 다시 시도하세요",
        "code": "too_many_connections",
    }
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(probe)).status == 200, probe
    streams[0].close()
    gauge = client.app[OPEN_REQUESTS]
    await wait_until(lambda: gauge.open == 1)
    assert (await client.get("/api/documents/jobs")).status == 200
    streams[1].close()
    await wait_until(lambda: gauge.open == 0)


async def test_the_default_cap_follows_the_open_files_limit(tmp_path, fake_naver, make_client):
    import resource

    client = await make_client(replace(base_settings(tmp_path, fake_naver[1]), run_worker=False))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert client.app[OPEN_REQUESTS].limit == max(64, int(soft * 0.9))


async def test_the_refusal_closes_its_connection(tmp_path, fake_naver, make_client):
    """The 503 frees its file descriptor: the server hangs up after it, rather than keep the
    connection for a next request (a "Connection: close" header alone did not)."""
    import asyncio

    settings = replace(base_settings(tmp_path, fake_naver[1]), run_worker=False, max_connections=1)
    client = await make_client(settings)
    stream = await client.get("/api/documents/events?jobs=all")
    assert stream.status == 200
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /api/documents/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)  # to the server's EOF
    writer.close()
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert b'"code":"too_many_connections"' in answer.replace(b" ", b"")
    stream.close()
