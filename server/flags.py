"""The service's flags and the README's configuration table, both made from the Options declared
on Settings (server/settings.py).

``python -m server.flags`` prints the table; ``python -m server.flags --write README.md``
replaces the one between the README's markers (a test fails when they differ).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import Field
from pathlib import Path
from typing import Any

from server.settings import Option, Settings, options, parse_text, settings_from_env

BEGIN = "<!-- flags: made by `python -m server.flags --write README.md`; do not edit by hand -->"
END = "<!-- /flags -->"
# Flags given once per value (each may also be a comma list).
REPEATABLE = ("cors_origins", "allowed_hosts", "trusted_proxies")


def default_text(f: Field[Any], opt: Option) -> str:
    if opt.default_text is not None:
        return opt.default_text
    value = f.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`" if value else "none"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _parser_for(name: str) -> Any:
    def parse(raw: str) -> object:
        try:
            return parse_text(name, raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in its error message
    return parse


def add_service_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """Every flag ``command`` (serve or worker) takes. Defaults stay None in the namespace, so
    that an unset flag leaves the environment's value (settings_from_env) in place."""
    for f, opt in options():
        if opt.flag is None or (opt.serve_only and command != "serve"):
            continue
        env = f"; env {', '.join(opt.env)}" if opt.env else ""
        help_text = f"{opt.help} (default: {default_text(f, opt).replace('`', '')}{env})"
        help_text = help_text.replace("%", "%%")
        if f.type == "bool":
            action = "store_false" if f.default else "store_true"
            parser.add_argument(opt.flag, dest=f.name, action=action, default=None, help=help_text)
        elif f.name in REPEATABLE:
            parser.add_argument(opt.flag, dest=f.name, action="append", help=help_text)
        else:
            parser.add_argument(
                opt.flag,
                dest=f.name,
                type=_parser_for(f.name),
                choices=opt.choices or None,
                metavar=None if opt.choices else opt.flag.lstrip("-").upper().replace("-", "_"),
                help=help_text,
            )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags over environment over defaults. Raises ValueError on a bad combination."""
    overrides = {
        k: v for k, v in vars(args).items() if v is not None and k in Settings.__dataclass_fields__
    }
    for name in REPEATABLE:
        if name in overrides:
            # Repeatable, and each may be a comma list like the environment's.
            values: list[str] = []
            for raw in overrides[name]:
                values.extend(o.strip() for o in raw.split(",") if o.strip())
            overrides[name] = tuple(values)
    return settings_from_env(**overrides)


def markdown_table() -> str:
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for f, opt in options():
        flag = f"`{opt.flag}`" if opt.flag else ""
        if opt.serve_only and opt.flag:
            flag += " (serve)"
        env = ", ".join(f"`{v}`" for v in opt.env)
        rows.append(f"| {flag} | {env} | {default_text(f, opt)} | {opt.help} |")
    return "\n".join(rows) + "\n"


def readme_table(readme: str) -> str:
    """The table between the README's markers."""
    start = readme.index(BEGIN) + len(BEGIN) + 1
    return readme[start : readme.index(END, start)]


def write_readme(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    old = readme_table(text)
    start = text.index(BEGIN) + len(BEGIN) + 1
    path.write_text(text[:start] + markdown_table() + text[start + len(old) :], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.flags", description=__doc__)
    parser.add_argument("--write", type=Path, metavar="README", help="update this file's table")
    args = parser.parse_args(argv)
    if args.write is not None:
        write_readme(args.write)
    else:
        sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
