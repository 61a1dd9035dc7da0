"""Runtime configuration: one frozen dataclass, built from flags over environment over defaults."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, get_type_hints

from server.categories import DEFAULT_CATEGORIES, parse_categories

DEFAULT_STORE_URL = "sqlite:///./data/doccount.db"
DEFAULT_NAVER_BASE_URL = "https://openapi.naver.com/v1/search"
DEFAULT_AD_API_BASE = "https://api.searchad.naver.com"
VOLUME_PROVIDERS = ("off", "naver", "demo")


@dataclass(frozen=True, slots=True)
class NaverKey:
    """One Naver application's credentials. The secret never appears in repr, logs or responses."""

    client_id: str
    client_secret: str = field(repr=False)

    @property
    def label(self) -> str:
        """A short, non-secret name for logs and stats (first 4 characters of the id)."""
        return f"{self.client_id[:4]}…" if len(self.client_id) > 4 else self.client_id


@dataclass(frozen=True, slots=True)
class Option:
    """How one setting is set from outside: its flag, its environment variables and its help.
    The argparse flags (server/flags.py), ``--help`` and the README's configuration table are
    all made from these, so each is written once, here."""

    help: str
    flag: str | None = None
    env: tuple[str, ...] = ()
    # Only `doccount serve` has it (the others: serve and worker).
    serve_only: bool = False
    choices: tuple[str, ...] = ()
    # What the README and --help say the default is, when the value alone would mislead.
    default_text: str | None = None


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    env: str | tuple[str, ...] = (),
    serve_only: bool = False,
    choices: tuple[str, ...] = (),
    default_text: str | None = None,
    repr: bool = True,
) -> Any:
    """A Settings field that can be set from outside."""
    spec = Option(
        help,
        flag,
        (env,) if isinstance(env, str) else env,
        serve_only,
        choices,
        default_text,
    )
    return field(default=default, repr=repr, metadata={"option": spec})


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = option(
        "127.0.0.1", "where `serve` listens", flag="--host", env="DOCCOUNT_HOST", serve_only=True
    )
    port: int = option(
        8080, "the port `serve` listens on", flag="--port", env="DOCCOUNT_PORT", serve_only=True
    )
    store_url: str = option(
        DEFAULT_STORE_URL,
        "`sqlite:///relative.db`, `sqlite:////abs.db` or `redis://host:port/db`",
        flag="--store",
        env="DOCCOUNT_STORE",
    )
    sqlite_synchronous: str = option(
        "full",
        "SQLite: `full` (an acknowledged job survives a power cut) or `normal` (it may not; "
        "bench/durability.py measures the difference)",
        flag="--sqlite-synchronous",
        env="DOCCOUNT_SQLITE_SYNCHRONOUS",
        choices=("full", "normal"),
    )
    provider: str = option(
        "demo",
        "where counts come from",
        flag="--provider",
        env="DOCCOUNT_PROVIDER",
        choices=("naver", "demo"),
        default_text="`naver` if credentials are set, else `demo`",
    )
    naver_keys: tuple[NaverKey, ...] = option(
        (),
        "one key (id and secret), or a pool: `id1:secret1,id2:secret2`",
        env=("NAVER_CLIENT_ID", "NAVER_CLIENT_SECRET", "NAVER_API_KEYS"),
        default_text="unset",
        repr=False,
    )
    naver_base_url: str = option(
        DEFAULT_NAVER_BASE_URL, "upstream base", flag="--naver-base-url", env="NAVER_API_BASE"
    )
    # The API HUB move changes path style and header names: keep all three configurable.
    naver_path_template: str = "{base}/{api}.json"
    naver_id_header: str = "X-Naver-Client-Id"
    naver_secret_header: str = "X-Naver-Client-Secret"
    rate_per_s: float = option(
        10.0, "upstream calls per second, per key", flag="--rate", env="DOCCOUNT_RATE"
    )
    # Monthly search volumes (Naver Search Ad keyword tool).
    volume_provider: str = option(
        "off",
        "where monthly search volumes come from (`off`, `naver`, `demo`)",
        flag="--volume-provider",
        env="DOCCOUNT_VOLUME_PROVIDER",
        choices=VOLUME_PROVIDERS,
        default_text="`naver` with Search Ad credentials, `demo` with the demo provider, "
        "else `off`",
    )
    ad_customer_id: str = option(
        "", "Search Ad (검색광고) API customer id", env="NAVER_AD_CUSTOMER_ID", default_text="unset"
    )
    ad_access_license: str = option(
        "",
        "Search Ad API access license",
        env="NAVER_AD_ACCESS_LICENSE",
        default_text="unset",
        repr=False,
    )
    ad_secret_key: str = option(
        "", "Search Ad API secret key", env="NAVER_AD_SECRET_KEY", default_text="unset", repr=False
    )
    ad_api_base: str = option(
        DEFAULT_AD_API_BASE, "Search Ad API base", flag="--ad-api-base", env="NAVER_AD_API_BASE"
    )
    ad_rate_per_s: float = option(
        2.0,
        "Search Ad calls per second (its own limiter; 5 keywords a call)",
        flag="--ad-rate",
        env="DOCCOUNT_AD_RATE",
    )
    volume_cache_ttl_s: float = option(
        86400.0,
        "a search volume is reused for this long (Naver updates them daily)",
        flag="--volume-cache-ttl-s",
    )
    categories: tuple[str, ...] = option(
        DEFAULT_CATEGORIES,
        "default categories, a comma list",
        flag="--categories",
        env="DOCCOUNT_CATEGORIES",
    )
    api_token: str | None = option(
        None,
        "require `Authorization: Bearer <token>` on `/api/`",
        flag="--api-token",
        env="DOCCOUNT_API_TOKEN",
        repr=False,
    )
    stream_token_ttl_s: float = option(
        3600.0,
        "how long a stream token (job-scoped, for EventSource/WebSocket URLs) stays valid",
        flag="--stream-token-ttl-s",
    )
    allow_token_in_url: bool = option(
        False,
        "accept the API token itself in stream URLs (`?token=`), as before stream tokens; "
        "for one release",
        flag="--allow-token-in-url",
        env="DOCCOUNT_ALLOW_TOKEN_IN_URL",
    )
    cors_origins: tuple[str, ...] = option(
        (),
        "allowed browser origins (repeatable / comma list)",
        flag="--cors-origin",
        env="DOCCOUNT_CORS_ORIGINS",
    )
    allowed_hosts: tuple[str, ...] = option(
        (),
        "`Host` names accepted besides loopback ones (repeatable / comma list); the Host check "
        "is on while `--host` is loopback or when names are given",
        flag="--allowed-host",
        env="DOCCOUNT_ALLOWED_HOSTS",
    )
    trusted_proxies: tuple[str, ...] = option(
        (),
        "proxy addresses or CIDRs (repeatable / comma list) whose `X-Forwarded-For` / "
        "`Forwarded` name the client; other peers' are ignored",
        flag="--trusted-proxy",
        env="DOCCOUNT_TRUSTED_PROXIES",
    )

    # Limits
    max_keywords: int = 1000
    max_keyword_chars: int = 100
    max_body_bytes: int = 256 * 1024
    max_ws_message_bytes: int = 64 * 1024
    # Bytes one SSE/WebSocket connection may have queued or unsent (snapshots included) before
    # it is cut as a slow consumer; and client frames per second on one WebSocket.
    max_stream_backlog_bytes: int = 4 * 1024 * 1024
    ws_frames_per_s: float = 10.0
    max_streams_per_client: int = option(
        64,
        "open SSE + WebSocket streams one client address may hold",
        flag="--max-streams-per-client",
    )
    max_connections: int = option(
        0,
        "open requests (each SSE / WebSocket stream is one) served at once; past it 503 "
        "`too_many_connections`",
        flag="--max-connections",
        default_text="90% of the open-files limit",
    )
    header_timeout_s: float = option(
        10.0,
        "seconds a connection may stay open without sending a whole request head (slowloris, "
        "idle sockets) before it is closed; 0: never",
        flag="--header-timeout-s",
    )
    max_queued_jobs_per_client: int = option(
        20,
        "pending or running jobs one client address may have",
        flag="--max-queued-jobs-per-client",
    )

    # Worker
    run_worker: bool = option(
        True,
        "web node only (distributed mode: run `doccount worker` elsewhere)",
        flag="--no-worker",
        serve_only=True,
        default_text="worker on",
    )
    check_keys: bool = option(
        True,
        "skip the start-up check of the Naver keys (one cheap call per key per start)",
        flag="--no-key-check",
        default_text="check on",
    )
    max_active_jobs: int = option(
        4,
        "jobs counted side by side (they share the rate by priority: high 4 : normal 2 : low 1)",
        flag="--max-active-jobs",
    )
    keyword_concurrency: int = option(
        8,
        "keywords of one job in flight at once (results still commit in order)",
        flag="--keyword-concurrency",
    )
    request_timeout_s: float = 10.0
    retry_attempts: int = 4
    retry_base_s: float = option(
        0.5, "first upstream retry delay; doubles per attempt, with jitter", flag="--retry-base-s"
    )
    retry_max_s: float = 8.0
    storm_retry_s: float = option(
        300.0,
        "a keyword whose quick retries all met a transient fault (429, 5xx, timeout) is set "
        "aside and looked up again later, for at most this long before its error is final "
        "(0: the error is final at once)",
        flag="--storm-retry-s",
    )
    # The first wait before a set-aside keyword is looked up again; doubles per try, capped.
    storm_retry_first_s: float = 2.0
    storm_retry_max_s: float = 30.0
    cache_ttl_s: float = option(
        3600.0, "a (keyword, category) count is reused for this long", flag="--cache-ttl-s"
    )
    job_ttl_s: float = option(86400.0, "finished jobs are deleted after this", flag="--job-ttl-s")
    history_days: float = option(
        400.0,
        "keyword history (every fresh count) is kept this many days; 0 keeps it forever",
        flag="--history-days",
    )
    cleanup_interval_s: float = 60.0
    # How often a node looks for due watchlist runs (a run starts at most this late).
    watch_tick_s: float = 20.0
    progress_interval_s: float = 1.0
    # How often a web node looks for jobs that wait for a worker or stalled, and tells their
    # watchers (server/work/health.py); 0: never (their status JSON still says so).
    health_watch_s: float = 1.0
    lease_s: float = option(
        30.0, "Redis mode: a dead worker's job is taken over after this", flag="--lease-s"
    )

    # Live push
    heartbeat_s: float = 15.0
    ws_deflate: bool = option(
        False,
        "offer WebSocket permessage-deflate; snapshots over 1 KiB then go compressed "
        "(live events never are: RESULTS.md, bytes on the wire)",
        flag="--ws-deflate",
        env="DOCCOUNT_WS_DEFLATE",
        serve_only=True,
    )
    subscriber_queue_max: int = 1024
    sse_retry_ms: int = 2000
    # How long a hub feed's store read blocks; an idle feed nobody watches stops after one.
    feed_block_s: float = 5.0
    feed_pause_factor: float = option(
        2.0,
        "after fanning a page out to many connections, a feed whose pages come close together "
        "waits this many times as long as that took (at most 50 ms) before its next page, so "
        "results committed meanwhile share one write per connection; 0: never wait",
        flag="--feed-pause-factor",
        env="DOCCOUNT_FEED_PAUSE_FACTOR",
        serve_only=True,
    )

    # Webhooks (server/work/webhooks.py): a job's "webhook", or this server-wide URL, is POSTed
    # the job's summary when it ends, signed with the secret.
    webhook_url: str | None = option(
        None,
        "POST every job's summary here when it ends ([docs/webhooks.md](docs/webhooks.md)); "
        "a job's own webhook wins",
        flag="--webhook-url",
        env="DOCCOUNT_WEBHOOK_URL",
    )
    webhook_secret: str | None = option(
        None,
        "HMAC key of the webhook signature; webhooks need it",
        flag="--webhook-secret",
        env="DOCCOUNT_WEBHOOK_SECRET",
        repr=False,
    )
    webhook_allow_private: bool = option(
        False,
        "allow webhook URLs on private and loopback addresses",
        flag="--webhook-allow-private",
        env="DOCCOUNT_WEBHOOK_ALLOW_PRIVATE",
    )
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = option(
        6,
        "deliveries tried per job (backoff from 2 s, doubling) before giving up",
        flag="--webhook-max-attempts",
    )
    webhook_retry_base_s: float = 2.0
    webhook_retry_max_s: float = 300.0
    webhook_poll_s: float = 1.0
    public_url: str | None = option(
        None,
        "the service's address as users reach it (links in webhooks)",
        flag="--public-url",
        env="DOCCOUNT_PUBLIC_URL",
        default_text="`http://HOST:PORT`",
    )

    log_format: str = option(
        "text",
        "`text` (the seed's lines) or `json`",
        flag="--log-format",
        env="DOCCOUNT_LOG_FORMAT",
        choices=("text", "json"),
    )
    log_level: str = "INFO"
    uvloop: bool = option(
        False, "run on uvloop (the benchmarks do)", flag="--uvloop", env="DOCCOUNT_UVLOOP"
    )

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def options() -> list[tuple[Field[Any], Option]]:
    """The settings that can be set from outside, in declaration order."""
    return [(f, f.metadata["option"]) for f in fields(Settings) if "option" in f.metadata]


def parse_naver_keys(env: Mapping[str, str]) -> tuple[NaverKey, ...]:
    """Keys from NAVER_API_KEYS (``id1:secret1,id2:secret2``) and/or NAVER_CLIENT_ID/SECRET."""
    keys: list[NaverKey] = []
    pool = env.get("NAVER_API_KEYS", "").strip()
    if pool:
        for part in pool.split(","):
            part = part.strip()
            if not part:
                continue
            cid, sep, secret = part.partition(":")
            if not sep or not cid.strip() or not secret.strip():
                raise ValueError("NAVER_API_KEYS must look like id1:secret1,id2:secret2")
            keys.append(NaverKey(cid.strip(), secret.strip()))
    cid = env.get("NAVER_CLIENT_ID", "").strip()
    secret = env.get("NAVER_CLIENT_SECRET", "").strip()
    if cid and secret and all(k.client_id != cid for k in keys):
        keys.insert(0, NaverKey(cid, secret))
    return tuple(keys)


def parse_text(name: str, raw: str) -> object:
    """A flag's or environment variable's text as the setting ``name`` holds it."""
    kind = _TYPES[name]
    if kind is bool:
        return raw.strip().lower() not in ("", "0", "false", "no", "off")
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    if name == "categories":
        return parse_categories(raw)
    if name in ("cors_origins", "allowed_hosts", "trusted_proxies"):
        return tuple(o.strip() for o in raw.split(",") if o.strip())
    return raw


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Environment over defaults; ``overrides`` (from flags) over both. Unknown names raise.
    An empty variable counts as unset."""
    env = os.environ if env is None else env
    keys = parse_naver_keys(env)
    values: dict[str, object] = {"naver_keys": keys, "provider": "naver" if keys else "demo"}
    for f, opt in options():
        if f.name == "naver_keys":
            continue
        for var in opt.env:
            if env.get(var):
                values[f.name] = parse_text(f.name, env[var])
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "volume_provider" not in values:
        has_ad = all(
            values.get(k) for k in ("ad_customer_id", "ad_access_license", "ad_secret_key")
        )
        demo = values.get("provider") == "demo"
        values["volume_provider"] = "naver" if has_ad else "demo" if demo else "off"
    settings = Settings(**values)  # type: ignore[arg-type]
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    for proxy in settings.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(f"trusted proxy {proxy!r} is not an address or CIDR") from None
    if settings.provider not in ("naver", "demo"):
        raise ValueError(f"unknown provider {settings.provider!r} (naver or demo)")
    if settings.provider == "naver" and not settings.naver_keys:
        raise ValueError(
            "provider naver needs NAVER_CLIENT_ID/NAVER_CLIENT_SECRET or NAVER_API_KEYS"
        )
    if settings.volume_provider not in VOLUME_PROVIDERS:
        raise ValueError(f"unknown volume provider {settings.volume_provider!r} (off, naver, demo)")
    if settings.volume_provider == "naver" and not (
        settings.ad_customer_id and settings.ad_access_license and settings.ad_secret_key
    ):
        raise ValueError(
            "volume provider naver needs NAVER_AD_CUSTOMER_ID, NAVER_AD_ACCESS_LICENSE "
            "and NAVER_AD_SECRET_KEY"
        )
    if settings.ad_rate_per_s <= 0:
        raise ValueError("ad rate must be > 0 calls per second")
    if settings.rate_per_s <= 0:
        raise ValueError("rate must be > 0 calls per second")
    if settings.feed_pause_factor < 0:
        raise ValueError("feed pause factor must be >= 0 (0: feeds never wait)")
    if settings.lease_s <= 0:
        raise ValueError("lease must be > 0 seconds")
    if not settings.store_url.startswith(("sqlite://", "redis://", "rediss://")):
        raise ValueError("store must be a sqlite:// or redis:// URL")
    if settings.history_days < 0:
        raise ValueError("history days must be >= 0 (0 keeps the history forever)")
    if settings.sqlite_synchronous not in ("full", "normal"):
        raise ValueError("sqlite synchronous must be full or normal")
    if settings.log_format not in ("text", "json"):
        raise ValueError("log format must be text or json")
    if settings.header_timeout_s < 0:
        raise ValueError("header timeout must be >= 0 seconds (0: never)")
    if settings.webhook_url is not None:
        if not settings.webhook_url.startswith(("http://", "https://")):
            raise ValueError("webhook URL must be an http:// or https:// URL")
        if not settings.webhook_secret:
            raise ValueError("--webhook-url needs a signing secret (DOCCOUNT_WEBHOOK_SECRET)")
    if settings.webhook_max_attempts < 1:
        raise ValueError("webhook max attempts must be >= 1")


# The settings' types, resolved once (annotations are strings under `from __future__`); a
# `str | None` setting is parsed as a `str`.
_TYPES: dict[str, object] = {
    name: (str if hint == (str | None) else hint) for name, hint in get_type_hints(Settings).items()
}
