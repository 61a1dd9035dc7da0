"""Store engines, chosen by URL and imported only when used."""

from __future__ import annotations

from server.settings import Settings
from server.store.base import Store

__all__ = ["Store", "store_from_url"]


def store_from_url(url: str, settings: Settings) -> Store:
    if url.startswith("sqlite://"):
        from server.store.sqlite import SqliteStore

        return SqliteStore(url, settings)
    if url.startswith(("redis://", "rediss://")):
        from server.store.redis import RedisStore  # type: ignore[import-not-found,unused-ignore]

        store: Store = RedisStore(url, settings)
        return store
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:// or redis://")
