"""The JSON codec of the whole service (orjson), in one place: what is stored, pushed and
answered is encoded here, once."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def splice_results(summary_json: str, result_texts: list[str]) -> str:
    """A job summary's JSON with ``"results"`` appended as its last key, from the results'
    stored JSON texts as they are: the bytes ``dumps({**summary, "results": [...]})`` gives,
    without decoding and re-encoding every result."""
    return summary_json[:-1] + ',"results":[' + ",".join(result_texts) + "]}"
