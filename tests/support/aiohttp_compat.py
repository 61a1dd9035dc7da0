"""Bridges aioresponses 0.7.9 and aiohttp 3.14 until aioresponses catches up.

aiohttp 3.14 made ``stream_writer`` a required keyword of ``ClientResponse.__init__`` and
aioresponses 0.7.9 does not pass it, so every mocked response fails with a TypeError:
https://github.com/pnuckowski/aioresponses/issues/289 (fix proposed in PR #288).
Pass ``response_class=CompatClientResponse`` to every ``m.get(...)``; drop this module
once a fixed aioresponses is released.
"""

from __future__ import annotations

from typing import Any

import aiohttp


class _SentStreamWriter:
    """Stands in for a request that was already fully sent: aiohttp only reads output_size."""

    output_size = 0


class CompatClientResponse(aiohttp.ClientResponse):
    def __init__(self, *args: Any, stream_writer: Any = None, **kwargs: Any) -> None:
        if stream_writer is None:
            stream_writer = _SentStreamWriter()
        super().__init__(*args, stream_writer=stream_writer, **kwargs)
