"""Log formats: the seed's plain lines by default, JSON lines on request, secrets masked."""

from __future__ import annotations

import json
import logging

import pytest

from server.cli import build_parser, settings_from_args
from server.logs import configure_logging
from server.settings import NaverKey, Settings


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], level = saved
    root.setLevel(level)


SETTINGS = Settings(naver_keys=(NaverKey("app-id", "naver-secret-value"),), api_token="tok-12345")


def test_text_lines_look_like_the_seed(capsys, restore_root_logging):
    configure_logging(SETTINGS)
    logging.getLogger("doccount.batch").info("[배치] 작업 생성: %s, 키워드 %d개", "batch_1_x", 100)
    line = capsys.readouterr().err.strip()
    assert line.endswith(" INFO [배치] 작업 생성: batch_1_x, 키워드 100개")


def test_json_lines_on_request(capsys, restore_root_logging):
    configure_logging(Settings(log_format="json"))
    logging.getLogger("doccount.batch").warning("[배치] %d/%d 완료: %s", 1, 2, "맥북")
    entry = json.loads(capsys.readouterr().err.strip())
    assert entry["level"] == "warning"
    assert entry["logger"] == "doccount.batch"
    assert entry["message"] == "[배치] 1/2 완료: 맥북"
    assert isinstance(entry["ts"], float)


def test_log_format_flag_and_environment(monkeypatch):
    monkeypatch.setattr("os.environ", {"DOCCOUNT_LOG_FORMAT": "json"})
    assert settings_from_args(build_parser().parse_args(["serve"])).log_format == "json"
    args = build_parser().parse_args(["serve", "--log-format", "text"])
    assert settings_from_args(args).log_format == "text"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_masked_in_every_format(fmt, capsys, restore_root_logging):
    configure_logging(
        Settings(naver_keys=SETTINGS.naver_keys, api_token="tok-12345", log_format=fmt)
    )
    log = logging.getLogger("doccount")
    log.error("leak? %s and %s", "naver-secret-value", "Bearer tok-12345")
    try:
        raise RuntimeError("boom with naver-secret-value")
    except RuntimeError:
        log.exception("with a traceback, token tok-12345")
    err = capsys.readouterr().err
    assert "naver-secret-value" not in err and "tok-12345" not in err
    # Two in the first line, one in the second, two in the traceback (source line, message).
    assert err.count("***") == 5
    assert "RuntimeError: boom with ***" in (err if fmt == "text" else err.replace("\\n", "\n"))
