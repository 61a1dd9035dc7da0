"""The terminal-job JSON cache: bounds, TTL, and the generation that keeps reads honest."""

from __future__ import annotations

import pytest

from server.store import jsoncache
from server.store.jsoncache import TerminalJsonCache


def test_least_recently_used_goes_first_within_entries_and_chars() -> None:
    cache = TerminalJsonCache(max_entries=2, max_chars=10)
    cache.put("a", "aaa", cache.generation)
    cache.put("b", "bbb", cache.generation)
    assert cache.get("a") == "aaa"  # now b is the oldest
    cache.put("c", "ccc", cache.generation)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("aaa", None, "ccc")
    cache.put("d", "dddddddd", cache.generation)  # 3 + 8 > 10: a goes too
    assert (cache.get("a"), cache.get("c"), cache.get("d")) == (None, None, "dddddddd")
    assert cache.chars == 8 and len(cache) == 1


def test_too_big_an_entry_is_not_kept() -> None:
    cache = TerminalJsonCache(max_entry_chars=4)
    cache.put("a", "12345", cache.generation)
    assert cache.get("a") is None and cache.chars == 0


def test_a_put_after_a_drop_since_the_read_began_is_refused() -> None:
    cache = TerminalJsonCache()
    before = cache.generation
    cache.drop("other")  # a write landed while the read was in flight
    cache.put("a", "stale?", before)
    assert cache.get("a") is None
    cache.put("a", "fresh", cache.generation)
    cache.clear()
    assert cache.get("a") is None and cache.chars == 0


def test_entries_expire_after_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(jsoncache.time, "monotonic", lambda: now[0])
    cache = TerminalJsonCache(ttl_s=1.0)
    cache.put("a", "x", cache.generation)
    now[0] = 100.9
    assert cache.get("a") == "x"
    now[0] = 101.0
    assert cache.get("a") is None and cache.chars == 0
