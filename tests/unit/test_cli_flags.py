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
