"""Encoded JSON of terminal jobs, by job id: what a status poll of a finished job returns.

A terminal job no longer changes (no result, tick or status follows its end), so its
encoded JSON can be served again without reading the store. Bounded by entries and characters
(least recently used first out); the engines drop an entry on every write to its job and
clear the lot on cleanup.

``generation`` closes the race between a read and a write: a reader notes it before
reading, and ``put`` refuses the text if any entry was dropped meanwhile (the write it
may have missed).
"""

from __future__ import annotations

import time
from collections import OrderedDict

MAX_ENTRIES = 1024
MAX_CHARS = 16 * 1024 * 1024
MAX_ENTRY_CHARS = 1024 * 1024


class TerminalJsonCache:
    def __init__(
        self,
        *,
        ttl_s: float | None = None,
        max_entries: int = MAX_ENTRIES,
        max_chars: int = MAX_CHARS,
        max_entry_chars: int = MAX_ENTRY_CHARS,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.max_entry_chars = max_entry_chars
        self.generation = 0
        self.chars = 0
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, job_id: str) -> str | None:
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        text, expires = entry
        if self.ttl_s is not None and time.monotonic() >= expires:
            self._remove(job_id)
            return None
        self._entries.move_to_end(job_id)
        return text

    def put(self, job_id: str, text: str, generation: int) -> None:
        """Keep ``text`` unless an entry was dropped since ``generation`` was read."""
        if generation != self.generation or len(text) > self.max_entry_chars:
            return
        self._remove(job_id)
        expires = 0.0 if self.ttl_s is None else time.monotonic() + self.ttl_s
        self._entries[job_id] = (text, expires)
        self.chars += len(text)
        while len(self._entries) > self.max_entries or self.chars > self.max_chars:
            _, (old, _) = self._entries.popitem(last=False)
            self.chars -= len(old)

    def drop(self, job_id: str) -> None:
        self.generation += 1
        self._remove(job_id)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self.chars = 0

    def _remove(self, job_id: str) -> None:
        entry = self._entries.pop(job_id, None)
        if entry is not None:
            self.chars -= len(entry[0])
