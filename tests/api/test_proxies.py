"""--trusted-proxy: the client's address from X-Forwarded-For / Forwarded, only when the peer is
a trusted proxy, read from the right so a client cannot pick its own address."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from server.api.proxies import client_of
from server.settings import settings_from_env
from tests.support.common import base_settings

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("peer", "chain", "client"),
    [
        ("10.0.0.5", ["203.0.113.7"], "203.0.113.7"),
        ("10.0.0.5", ["198.51.100.1", "203.0.113.7"], "203.0.113.7"),  # the left one is a claim
        ("10.0.0.5", ["203.0.113.7", "10.0.0.9"], "203.0.113.7"),  # two proxies
        ("10.0.0.5", ["[2001:db8::1]:4711"], "2001:db8::1"),
        ("10.0.0.5", ['"203.0.113.7:80"'], "203.0.113.7"),
        ("10.0.0.5", ["unknown", "203.0.113.7"], "203.0.113.7"),
        ("10.0.0.5", ["203.0.113.7", "garbage"], None),
        ("10.0.0.5", [], None),
        ("10.0.0.5", ["10.0.0.9"], "10.0.0.9"),  # only proxies: the farthest one seen
        ("::1", ["203.0.113.7"], "203.0.113.7"),
        ("198.51.100.9", ["203.0.113.7"], None),  # not a proxy of ours: headers ignored
    ],
)
def test_client_of(peer, chain, client):
    assert client_of(peer, chain, TRUSTED) == client


def test_no_trusted_proxies_no_forwarded_addresses():
    assert client_of("10.0.0.5", ["203.0.113.7"], ()) is None


async def queue_full_after(client, headers, n: int) -> int:
    statuses = []
    for _ in range(n):
        resp = await client.post("/api/documents/batch", json={"keywords": ["a"]}, headers=headers)
        statuses.append(resp.status)
    return statuses.index(429) if 429 in statuses else -1


async def test_limits_apply_per_forwarded_client(tmp_path, fake_naver, make_client):
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        max_queued_jobs_per_client=2,
        trusted_proxies=("127.0.0.1/32",),
    )
    client = await make_client(settings)
    a = {"X-Forwarded-For": "203.0.113.1"}
    b = {"Forwarded": 'for="203.0.113.2:1234";proto=https'}
    assert await queue_full_after(client, a, 3) == 2
    assert await queue_full_after(client, b, 3) == 2
    # A client behind the proxy claiming to be someone else is still itself.
    spoof = {"X-Forwarded-For": "203.0.113.9, 203.0.113.1"}
    assert await queue_full_after(client, spoof, 1) == 0


async def test_untrusted_peers_headers_are_ignored(tmp_path, fake_naver, make_client):
    settings = replace(
        base_settings(tmp_path, fake_naver[1]),
        run_worker=False,
        max_queued_jobs_per_client=1,
        trusted_proxies=("10.0.0.0/8",),
    )
    client = await make_client(settings)
    assert await queue_full_after(client, {"X-Forwarded-For": "203.0.113.1"}, 1) == -1
    assert await queue_full_after(client, {"X-Forwarded-For": "203.0.113.2"}, 1) == 0


def test_trusted_proxies_must_be_addresses():
    env = {"DOCCOUNT_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}
    assert settings_from_env(env).trusted_proxies == ("10.0.0.0/8", "::1")
    with pytest.raises(ValueError, match="not an address or CIDR"):
        settings_from_env({"DOCCOUNT_TRUSTED_PROXIES": "proxy.local"})
