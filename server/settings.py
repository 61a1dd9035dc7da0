"""Runtime configuration: one frozen dataclass, built from flags over environment over defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

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
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    store_url: str = DEFAULT_STORE_URL
    provider: str = "demo"
    naver_keys: tuple[NaverKey, ...] = field(default=(), repr=False)
    naver_base_url: str = DEFAULT_NAVER_BASE_URL
    # The API HUB move changes path style and header names: keep all three configurable.
    naver_path_template: str = "{base}/{api}.json"
    naver_id_header: str = "X-Naver-Client-Id"
    naver_secret_header: str = "X-Naver-Client-Secret"
    rate_per_s: float = 10.0
    # Monthly search volumes (Naver Search Ad keyword tool): "off", "naver" or "demo".
    volume_provider: str = "off"
    ad_customer_id: str = ""
    ad_access_license: str = field(default="", repr=False)
    ad_secret_key: str = field(default="", repr=False)
    ad_api_base: str = DEFAULT_AD_API_BASE
    ad_rate_per_s: float = 2.0  # its own speed limit, separate from the search API's
    volume_cache_ttl_s: float = 86400.0  # Naver updates volumes daily
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    api_token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()

    # Limits
    max_keywords: int = 1000
    max_keyword_chars: int = 100
    max_body_bytes: int = 256 * 1024
    max_ws_message_bytes: int = 64 * 1024
    max_streams_per_client: int = 64
    max_queued_jobs_per_client: int = 20

    # Worker
    run_worker: bool = True
    max_active_jobs: int = 4
    keyword_concurrency: int = 8
    request_timeout_s: float = 10.0
    retry_attempts: int = 4
    retry_base_s: float = 0.5
    retry_max_s: float = 8.0
    cache_ttl_s: float = 3600.0
    job_ttl_s: float = 86400.0
    cleanup_interval_s: float = 60.0
    progress_interval_s: float = 1.0
    lease_s: float = 30.0

    # Live push
    heartbeat_s: float = 15.0
    subscriber_queue_max: int = 1024
    sse_retry_ms: int = 2000
    # How long a hub feed's store read blocks; an idle feed nobody watches stops after one.
    feed_block_s: float = 5.0

    log_format: str = "text"
    log_level: str = "INFO"


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


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    return float(raw) if raw not in (None, "") else default


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Environment over defaults; ``overrides`` (from flags) over both. Unknown names raise."""
    env = os.environ if env is None else env
    keys = parse_naver_keys(env)
    provider = env.get("DOCCOUNT_PROVIDER") or ("naver" if keys else "demo")
    cats_raw = env.get("DOCCOUNT_CATEGORIES")
    ad_customer = env.get("NAVER_AD_CUSTOMER_ID", "").strip()
    ad_license = env.get("NAVER_AD_ACCESS_LICENSE", "").strip()
    ad_secret = env.get("NAVER_AD_SECRET_KEY", "").strip()
    has_ad = bool(ad_customer and ad_license and ad_secret)
    volume_provider = env.get("DOCCOUNT_VOLUME_PROVIDER") or (
        "naver" if has_ad else "demo" if provider == "demo" else "off"
    )
    values: dict[str, object] = {
        "host": env.get("DOCCOUNT_HOST") or "127.0.0.1",
        "port": int(env.get("DOCCOUNT_PORT") or 8080),
        "store_url": env.get("DOCCOUNT_STORE") or DEFAULT_STORE_URL,
        "provider": provider,
        "naver_keys": keys,
        "naver_base_url": env.get("NAVER_API_BASE") or DEFAULT_NAVER_BASE_URL,
        "rate_per_s": _env_float(env, "DOCCOUNT_RATE", 10.0),
        "volume_provider": volume_provider,
        "ad_customer_id": ad_customer,
        "ad_access_license": ad_license,
        "ad_secret_key": ad_secret,
        "ad_api_base": env.get("NAVER_AD_API_BASE") or DEFAULT_AD_API_BASE,
        "ad_rate_per_s": _env_float(env, "DOCCOUNT_AD_RATE", 2.0),
        "categories": parse_categories(cats_raw) if cats_raw else DEFAULT_CATEGORIES,
        "api_token": env.get("DOCCOUNT_API_TOKEN") or None,
        "cors_origins": tuple(
            o.strip() for o in env.get("DOCCOUNT_CORS_ORIGINS", "").split(",") if o.strip()
        ),
        "log_format": env.get("DOCCOUNT_LOG_FORMAT") or "text",
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)  # type: ignore[arg-type]
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
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
    if not settings.store_url.startswith(("sqlite://", "redis://", "rediss://")):
        raise ValueError("store must be a sqlite:// or redis:// URL")
    if settings.log_format not in ("text", "json"):
        raise ValueError("log format must be text or json")
