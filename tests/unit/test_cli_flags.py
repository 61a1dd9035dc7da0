"""The serve flags added for benchmarking: --uvloop and the per-client caps."""

from __future__ import annotations

import asyncio

import pytest

from server.cli import build_parser, new_event_loop, settings_from_args


def test_max_queued_jobs_per_client_flag_reaches_settings() -> None:
    args = build_parser().parse_args(["serve", "--max-queued-jobs-per-client", "5000"])
    assert settings_from_args(args).max_queued_jobs_per_client == 5000


def test_max_streams_per_client_flag_reaches_settings() -> None:
    args = build_parser().parse_args(["serve", "--max-streams-per-client", "20000"])
    assert settings_from_args(args).max_streams_per_client == 20000
    assert settings_from_args(build_parser().parse_args(["serve"])).max_streams_per_client == 64


def test_uvloop_flag_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCCOUNT_UVLOOP", raising=False)

    def uvloop(*argv: str) -> bool:
        return settings_from_args(build_parser().parse_args(argv)).uvloop

    assert uvloop("serve") is False
    assert uvloop("serve", "--uvloop") is True
    monkeypatch.setenv("DOCCOUNT_UVLOOP", "1")
    assert uvloop("worker") is True
    monkeypatch.setenv("DOCCOUNT_UVLOOP", "0")
    assert uvloop("worker") is False


def test_new_event_loop_picks_uvloop_only_when_asked() -> None:
    import uvloop  # a dev dependency: --uvloop must be testable wherever the tests run

    plain = new_event_loop(False)
    fast = new_event_loop(True)
    try:
        assert not isinstance(plain, uvloop.Loop)
        assert isinstance(fast, uvloop.Loop)
        assert fast.run_until_complete(asyncio.sleep(0, "ok")) == "ok"
    finally:
        plain.close()
        fast.close()


def test_search_ad_settings_from_env_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NAVER_CLIENT_ID", "NAVER_CLIENT_SECRET", "NAVER_API_KEYS", "DOCCOUNT_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    plain = settings_from_args(build_parser().parse_args(["serve"]))
    assert plain.volume_provider == "demo"  # the demo provider brings demo volumes
    assert plain.ad_rate_per_s == 2.0 and plain.volume_cache_ttl_s == 86400.0
    assert plain.ad_api_base == "https://api.searchad.naver.com"
    monkeypatch.setenv("NAVER_AD_CUSTOMER_ID", "123")
    monkeypatch.setenv("NAVER_AD_ACCESS_LICENSE", "lic-8d2f")
    monkeypatch.setenv("NAVER_AD_SECRET_KEY", "sek-4c1a")
    monkeypatch.setenv("NAVER_AD_API_BASE", "http://127.0.0.1:9000")
    args = build_parser().parse_args(["serve", "--ad-rate", "5", "--volume-cache-ttl-s", "60"])
    s = settings_from_args(args)
    assert (s.volume_provider, s.ad_customer_id, s.ad_access_license, s.ad_secret_key) == (
        "naver",
        "123",
        "lic-8d2f",
        "sek-4c1a",
    )
    assert (s.ad_api_base, s.ad_rate_per_s, s.volume_cache_ttl_s) == (
        "http://127.0.0.1:9000",
        5.0,
        60.0,
    )
    assert "sek-4c1a" not in repr(s) and "lic-8d2f" not in repr(s)
    args = build_parser().parse_args(
        ["serve", "--ad-api-base", "http://x", "--volume-provider", "off"]
    )
    s = settings_from_args(args)
    assert (s.ad_api_base, s.volume_provider) == ("http://x", "off")


def test_naver_counts_without_ad_credentials_have_no_volumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NAVER_AD_CUSTOMER_ID", "NAVER_AD_ACCESS_LICENSE", "NAVER_AD_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NAVER_CLIENT_ID", "id")
    monkeypatch.setenv("NAVER_CLIENT_SECRET", "secret")
    assert settings_from_args(build_parser().parse_args(["serve"])).volume_provider == "off"
    with pytest.raises(ValueError):
        settings_from_args(build_parser().parse_args(["serve", "--volume-provider", "naver"]))
