"""The document categories we count, and the upstream search API each one maps to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Category:
    name: str  # our name, as in the JSON contract
    api: str  # naver-api.md "{api}"
    label_ko: str  # what the dashboard shows


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in (
        Category("blog", "blog", "블로그"),
        Category("cafe", "cafearticle", "카페"),
        Category("news", "news", "뉴스"),
        Category("web", "webkr", "웹문서"),
        Category("kin", "kin", "지식iN"),
        Category("book", "book", "책"),
        Category("encyc", "encyc", "백과사전"),
        Category("shop", "shop", "쇼핑"),
        Category("image", "image", "이미지"),
        Category("doc", "doc", "전문자료"),
    )
}
# `local` is left out on purpose: its display and total are capped (naver-api.md), not a count.

DEFAULT_CATEGORIES: tuple[str, ...] = ("blog", "cafe", "news", "web")


class UnknownCategoryError(ValueError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(
            "알 수 없는 카테고리: " + ", ".join(names) + " (가능: " + ", ".join(CATEGORIES) + ")"
        )
        self.names = names


def parse_categories(raw: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate and de-duplicate, keeping order. Accepts upstream api names as aliases."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    by_api = {c.api: c.name for c in CATEGORIES.values()}
    out: list[str] = []
    unknown: list[str] = []
    for item in items:
        name = item.strip().lower() if isinstance(item, str) else ""
        name = by_api.get(name, name)
        if name not in CATEGORIES:
            unknown.append(str(item))
        elif name not in out:
            out.append(name)
    if unknown:
        raise UnknownCategoryError(unknown)
    if not out:
        raise UnknownCategoryError(["(비어 있음)"])
    return tuple(out)
