"""Store engines, chosen by URL and imported only when used."""

from __future__ import annotations

from ..settings import Settings
from .base import Store

__all__ = ["Store", "store_from_url"]


def store_from_url(url: str, settings: Settings) -> Store:
    if url.startswith("sqlite://"):
        from .sqlite import SqliteStore

        return SqliteStore(url, settings)
    if url.startswith(("redis://", "rediss://")):
        from .redis import RedisStore  # type: ignore[import-not-found,unused-ignore]

        store: Store = RedisStore(url, settings)
        return store
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:// or redis://")
