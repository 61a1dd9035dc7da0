"""Keyword history: what an observation is, how a keyword is normalised, and how a Korean
search query is matched (prefix, contains, or initial consonants: ``ㅋㅍ`` finds 캠핑).

An observation is one fresh count (never a cache hit): a keyword, a kind (a category such as
``blog``, or a search-volume kind), its value, the provider that answered, and when.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

HANGUL_FIRST = 0xAC00
HANGUL_LAST = 0xD7A3
SYLLABLES_PER_INITIAL = 588  # 21 vowels x 28 finals
# The initial consonants as a keyboard types them (compatibility jamo), in Unicode order.
INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
INITIAL_SET = frozenset(INITIALS)

# The search-volume kinds an observation may have besides the document categories: a keyword's
# monthly searches (Search Ad API) on PC, on mobile, and both. A "< 10" part is a bound, not a
# figure: it is not kept (nor a total that includes one).
VOLUME_KINDS: dict[str, str] = {
    "volumePc": "PC 검색량",
    "volumeMobile": "모바일 검색량",
    "volumeTotal": "월간 검색량",
}
# Each kind's figure in a volume row (server/work/providers/volume_base.py) and its "< 10" flag.
VOLUME_FIELDS: dict[str, tuple[str, str]] = {
    "volumePc": ("pc", "pcBelow"),
    "volumeMobile": ("mobile", "mobileBelow"),
    "volumeTotal": ("total", "totalBelow"),
}

SEARCH_LIMIT_MAX = 100
SERIES_LIMIT_MAX = 5000
# A contains-search reads at most this many keywords that share the query's first two
# characters: its cost stays bounded however many keywords were ever counted.
CONTAINS_CANDIDATES_MAX = 5000


@dataclass(frozen=True, slots=True)
class Observation:
    kind: str
    value: int
    provider: str
    observed_ms: int

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "value": self.value,
            "provider": self.provider,
            "observedAt": self.observed_ms,
        }


def volume_observations(row: dict[str, Any]) -> list[tuple[str, int]]:
    """(kind, value) of a volume row's exact figures, in VOLUME_KINDS order."""
    out = []
    for kind, (field, below) in VOLUME_FIELDS.items():
        value = row.get(field)
        if isinstance(value, int) and not row.get(below):
            out.append((kind, value))
    return out


class UnknownKindError(ValueError):
    def __init__(self, names: list[str], categories: list[str]) -> None:
        offered = [*categories, *VOLUME_KINDS]
        super().__init__(
            "알 수 없는 카테고리 또는 검색량 종류: "
            + ", ".join(names)
            + " (가능: "
            + ", ".join(offered)
            + ")"
        )


def normalise(keyword: str) -> str:
    """The history's key: NFC (a decomposed 한글 typed on macOS is the same keyword; not NFKC,
    which would turn a typed ㅋ into a conjoining jamo), lower case (the upstream's search is
    case-blind), white space folded."""
    return " ".join(unicodedata.normalize("NFC", keyword).lower().split())


def initials(text: str) -> str:
    """Each Hangul syllable's initial consonant; other characters as they are."""
    out = []
    for ch in text:
        code = ord(ch)
        if HANGUL_FIRST <= code <= HANGUL_LAST:
            out.append(INITIALS[(code - HANGUL_FIRST) // SYLLABLES_PER_INITIAL])
        else:
            out.append(ch)
    return "".join(out)


def is_initials_query(query: str) -> bool:
    """``ㅋㅍ ㅇㅈ``: initial consonants only (spaces allowed), matched against initials."""
    letters = query.replace(" ", "")
    return bool(letters) and all(ch in INITIAL_SET for ch in letters)


def bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def previous_of(
    recent: dict[str, list[Observation]], kinds: tuple[str, ...], cached_at: dict[str, int]
) -> dict[str, Any]:
    """Each kind's last observation before this result's: for a fresh count the newest stored
    one (read before this count was stored); for a cached count (``cached_at``: when the
    upstream said it) the newest one older than that."""
    out: dict[str, Any] = {}
    for kind in kinds:
        series = recent.get(kind, [])
        if kind in cached_at:
            series = [o for o in series if o.observed_ms < cached_at[kind]]
        if series:
            out[kind] = {"value": series[0].value, "observedAt": series[0].observed_ms}
    return out
