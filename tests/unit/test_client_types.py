"""web/doccount-client.d.ts against the OpenAPI document: every interface that mirrors a schema
has exactly its properties, optional exactly where the schema does not require them, each of
the TypeScript type the schema means; the unions are the schemas' enums. No drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from server.api.openapi import build_spec
from server.settings import Settings

DTS = Path(__file__).resolve().parents[2] / "web" / "doccount-client.d.ts"
SPEC = build_spec(Settings())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
BATCH_OK = SPEC["paths"]["/api/documents/batch"]["post"]["responses"]["200"]["content"][
    "application/json"
]["schema"]

# d.ts interface -> the schema it mirrors (inline ones by their place in a named schema).
MIRRORS: dict[str, Any] = {
    "Progress": SCHEMAS["Progress"],
    "Result": SCHEMAS["Result"],
    "Job": SCHEMAS["Job"],
    "Event": SCHEMAS["Event"],
    "WebhookDelivery": SCHEMAS["WebhookDelivery"],
    "WebhookAttempt": SCHEMAS["WebhookDelivery"]["properties"]["attempts"]["items"],
    "Submission": SCHEMAS["Submission"],
    "WebhookRequest": SCHEMAS["Submission"]["properties"]["webhook"],
    "BatchStarted": BATCH_OK,
    "QuotaPlan": SCHEMAS["QuotaPlan"],
    "PreviousCount": SCHEMAS["PreviousCount"],
    "DailyStats": SCHEMAS["DailyStats"],
    "DayFigures": SCHEMAS["DayFigures"],
    "WindowFigures": SCHEMAS["DailyStats"]["properties"]["total"],
}
# d.ts union alias -> the enum it mirrors.
UNIONS: dict[str, list[str]] = {
    "JobStatus": SCHEMAS["Job"]["properties"]["status"]["enum"],
    "Priority": SCHEMAS["Job"]["properties"]["priority"]["enum"],
    "Category": SCHEMAS["Job"]["properties"]["categories"]["items"]["enum"],
    "EventType": SCHEMAS["Event"]["properties"]["type"]["enum"],
}


def parse_dts(text: str) -> tuple[dict[str, dict[str, tuple[bool, str]]], dict[str, list[str]]]:
    """Interfaces as {name: {property: (optional, type)}} and literal unions as {name: [...]}."""
    text = re.sub(r"/\*\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    interfaces: dict[str, dict[str, tuple[bool, str]]] = {}
    for name, body in re.findall(
        r"export interface (\w+)(?: extends \w+)? \{(.*?)\n\}", text, re.S
    ):
        props: dict[str, tuple[bool, str]] = {}
        for prop, optional, kind in re.findall(r"^\s+(\w+)(\??): (.+?);$", body, re.M):
            props[prop] = (optional == "?", " ".join(kind.split()))
        interfaces[name] = props
    unions: dict[str, list[str]] = {}
    for name, body in re.findall(r"export type (\w+) =(.*?);", text, re.S):
        literals = re.findall(r"'([^']*)'", body)
        if literals:
            unions[name] = literals
    return interfaces, unions


def ts_type(schema: dict[str, Any]) -> str:
    """The TypeScript a schema means, naming what the d.ts names."""
    if "$ref" in schema:
        return str(schema["$ref"].rsplit("/", 1)[1])
    if "anyOf" in schema:
        return " | ".join(ts_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        for alias, values in UNIONS.items():
            if schema["enum"] == values:
                return alias
        return " | ".join(f"'{v}'" for v in schema["enum"])
    for name, mirrored in MIRRORS.items():
        if schema is mirrored:
            return name
    kind = schema.get("type")
    if kind == "array":
        return f"{ts_type(schema['items'])}[]"
    if kind == "object" and "additionalProperties" in schema:
        return f"Record<string, {ts_type(schema['additionalProperties'])}>"
    return {"string": "string", "integer": "number", "number": "number", "boolean": "boolean",
            "null": "null"}[kind]  # fmt: skip


INTERFACES, DTS_UNIONS = parse_dts(DTS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_each_interface_is_its_schema(name: str) -> None:
    schema = MIRRORS[name]
    required = set(schema.get("required", []))
    expected = {
        prop: (prop not in required, ts_type(sub))
        for prop, sub in schema["properties"].items()
        if prop != "success"
    }
    assert INTERFACES[name] == expected


@pytest.mark.parametrize("name", sorted(UNIONS))
def test_each_union_is_its_enum(name: str) -> None:
    assert DTS_UNIONS[name] == UNIONS[name]


def test_the_parser_sees_what_is_there() -> None:
    # A check that cannot pass by parsing nothing.
    assert INTERFACES["Job"]["webhook"] == (True, "WebhookDelivery")
    assert INTERFACES["Result"]["error"] == (False, "string | null")
    assert len(INTERFACES) >= len(MIRRORS) and len(DTS_UNIONS) >= len(UNIONS)


def test_the_types_are_served_beside_the_module() -> None:
    assert (DTS.parent / "doccount-client.js").is_file()
