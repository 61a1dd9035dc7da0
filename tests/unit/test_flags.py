"""Each setting is declared once (server/settings.py); the flags, --help and the README's
configuration table are made from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import flags
from server.cli import build_parser
from server.settings import Settings, options, settings_from_env

README = Path(__file__).resolve().parents[2] / "README.md"

# A value for each setting that is not its default, as typed on a command line.
SAMPLES: dict[str, tuple[str, object]] = {
    "host": ("0.0.0.0", "0.0.0.0"),
    "port": ("9090", 9090),
    "store_url": ("redis://h:6379/1", "redis://h:6379/1"),
    "sqlite_synchronous": ("normal", "normal"),
    "provider": ("demo", "demo"),
    "naver_base_url": ("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"),
    "rate_per_s": ("2.5", 2.5),
    "categories": ("kin,blog", ("kin", "blog")),
    "api_token": ("s3cret", "s3cret"),
    "cors_origins": (
        "https://a.example,https://b.example",
        ("https://a.example", "https://b.example"),
    ),
    "allowed_hosts": ("a.example,b.example", ("a.example", "b.example")),
    "trusted_proxies": ("10.0.0.0/8,::1", ("10.0.0.0/8", "::1")),
    "max_streams_per_client": ("7", 7),
    "max_connections": ("500", 500),
    "header_timeout_s": ("2.5", 2.5),
    "max_queued_jobs_per_client": ("3", 3),
    "max_active_jobs": ("2", 2),
    "keyword_concurrency": ("5", 5),
    "retry_base_s": ("0.25", 0.25),
    "storm_retry_s": ("90", 90.0),
    "cache_ttl_s": ("60", 60.0),
    "job_ttl_s": ("120", 120.0),
    "history_days": ("30", 30.0),
    "lease_s": ("9", 9.0),
    "log_format": ("json", "json"),
    "uvloop": ("1", True),
    "ad_api_base": ("http://127.0.0.1:9", "http://127.0.0.1:9"),
    "ad_rate_per_s": ("5", 5.0),
    "volume_cache_ttl_s": ("60", 60.0),
    "ws_deflate": ("1", True),
    "feed_pause_factor": ("0.5", 0.5),
    "check_keys": ("", False),  # --no-key-check, a switch
    "webhook_url": ("https://hooks.example/doccount", "https://hooks.example/doccount"),
    "webhook_secret": ("whsec", "whsec"),
    "webhook_allow_private": ("1", True),
    "webhook_max_attempts": ("2", 2),
    "public_url": ("https://doccount.example", "https://doccount.example"),
    "stream_token_ttl_s": ("60", 60.0),
    "allow_token_in_url": ("1", True),
}
# Settings that are only valid with another one: the webhook URL needs its signing secret.
COMPANIONS: dict[str, tuple[str, str, str]] = {
    "webhook_url": ("--webhook-secret", "DOCCOUNT_WEBHOOK_SECRET", "whsec"),
}


def test_the_readme_table_is_the_settings() -> None:
    """On failure: python -m server.flags --write README.md"""
    assert flags.readme_table(README.read_text(encoding="utf-8")) == flags.markdown_table()


def test_every_option_has_a_sample_here() -> None:
    settable = {f.name for f, opt in options() if opt.flag or opt.env} - {
        "naver_keys",
        "run_worker",
        # Its default depends on the credentials and the provider; the Search Ad credentials
        # have no flag: test_cli_flags covers them.
        "volume_provider",
        "ad_customer_id",
        "ad_access_license",
        "ad_secret_key",
    }
    assert settable == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_flag_reaches_its_setting(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for _, opt in options():
        for var in opt.env:
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NAVER_API_KEYS", "id:secret")  # so that the provider would be naver
    opt = dict((f.name, o) for f, o in options())[name]
    text, value = SAMPLES[name]
    assert opt.flag is not None
    switch = isinstance(value, bool)  # --uvloop, --no-key-check, --webhook-allow-private, ...
    argv = ["serve", opt.flag] if switch else ["serve", opt.flag, text]
    if name in COMPANIONS:
        argv += [COMPANIONS[name][0], COMPANIONS[name][2]]
    settings = flags.settings_from_args(build_parser().parse_args(argv))
    unset = flags.settings_from_args(build_parser().parse_args(["serve"]))
    assert getattr(settings, name) == value != getattr(unset, name)


@pytest.mark.parametrize(
    "name", sorted(n for n in SAMPLES if dict((f.name, o) for f, o in options())[n].env)
)
def test_each_environment_variable_reaches_its_setting(name: str) -> None:
    (var,) = dict((f.name, o) for f, o in options())[name].env
    text, value = SAMPLES[name]
    extra = {COMPANIONS[name][1]: COMPANIONS[name][2]} if name in COMPANIONS else {}
    assert getattr(settings_from_env({var: text, **extra}), name) == value
    # An empty variable is unset: the default holds.
    default = Settings.__dataclass_fields__[name].default
    assert getattr(settings_from_env({var: ""}), name) == default


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCCOUNT_RATE", "3")
    args = build_parser().parse_args(["worker", "--rate", "4"])
    assert flags.settings_from_args(args).rate_per_s == 4.0
    assert flags.settings_from_args(build_parser().parse_args(["worker"])).rate_per_s == 3.0


def test_serve_only_flags_are_not_on_the_worker() -> None:
    worker = build_parser().parse_args(["worker"])
    assert not {"host", "port", "run_worker"} & {k for k, v in vars(worker).items()}
    serve = build_parser().parse_args(["serve", "--no-worker"])
    assert flags.settings_from_args(serve).run_worker is False


def test_help_shows_defaults_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 10; env DOCCOUNT_RATE)" in out
    assert "(default: sqlite:///./data/doccount.db; env DOCCOUNT_STORE)" in out
    assert "(default: 20)" in out


def test_a_bad_flag_value_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--categories", "blog,nope"])
    assert exited.value.code == 2
    assert "--categories" in capsys.readouterr().err
