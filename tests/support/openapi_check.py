"""Validate a real response body against the OpenAPI document the app serves."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator


def response_schema(spec: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = spec["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not documented"
    content = responses[str(status)]["content"]
    media = next(iter(content))
    schema: dict[str, Any] = content[media]["schema"]
    return schema


def check_body(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """Raises jsonschema.ValidationError when ``body`` breaks the documented schema."""
    schema = response_schema(spec, path, method, status)
    # The document's "#/components/..." refs resolve inside this root.
    root = {**schema, "components": spec["components"]}
    Draft202012Validator(root).validate(body)
