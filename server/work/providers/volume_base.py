"""Monthly search volumes: what a volume source answers, and the shape results carry.

A volume row is plain JSON, ready to go into a result as ``searchVolume``:
``{"pc": 1230, "pcBelow": false, "mobile": 10, "mobileBelow": true, "total": 1240,
"totalBelow": true, "compIdx": "중간", "source": "naver"}``. Naver answers ``"< 10"`` for a
rare keyword: it is kept as ``10`` with its ``...Below`` flag set, never as 0 and never as a
plain 10, and ``total`` is below when either part is.
"""

from __future__ import annotations

from typing import Any, Protocol

from server.work.providers.base import ProviderError

VolumeRow = dict[str, Any]

BELOW_VALUE = 10  # what "< 10" is counted as in totals and ratios (flagged as such)
COMP_IDX = frozenset({"높음", "중간", "낮음"})


def normalise(keyword: str) -> str:
    """The form Naver matches hint keywords by: no white space, Latin letters upper-cased."""
    return "".join(keyword.split()).upper()


def volume_row(
    pc: int, pc_below: bool, mobile: int, mobile_below: bool, comp_idx: str | None, source: str
) -> VolumeRow:
    return {
        "pc": pc,
        "pcBelow": pc_below,
        "mobile": mobile,
        "mobileBelow": mobile_below,
        "total": pc + mobile,
        "totalBelow": pc_below or mobile_below,
        "compIdx": comp_idx,
        "source": source,
    }


class VolumeAuthError(ProviderError):
    """The Search Ad API refused our credentials or signature (403): no volume can be had.
    The job's volume part fails with this message; its document counts are left alone."""

    code = "volume_auth_failed"


class VolumeProvider(Protocol):
    name: str  # "naver" or "demo": shown as each volume's "source"
    # The provider and its upstream (like a count provider's): a cached row is reused only
    # by the same origin.
    origin: str

    async def lookup(self, hints: list[str]) -> list[tuple[str, VolumeRow]]:
        """One call for up to 5 hint keywords: (relKeyword as answered, row) for the hints
        and their related keywords, hints first. Raises VolumeAuthError, or KeywordError when
        retries ran out."""
        ...

    async def close(self) -> None: ...
