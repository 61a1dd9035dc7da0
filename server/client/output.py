"""What the command line writes: results (CSV, TSV, JSON lines or a table) and a progress bar.

Results go to stdout, everything else to stderr, so ``doccount submit k.txt --follow > out.csv``
gives a clean file. The bar is drawn only on a terminal (never an escape code into a file), and
when stdout is the same screen the bar's line is cleared before a result is written and drawn
again below it, so a result never starts in the middle of the bar.
"""

from __future__ import annotations

import csv
import io
import re
import time
import unicodedata
from collections.abc import Callable
from typing import Any, TextIO

import orjson

FORMATS = ("csv", "xlsx", "tsv", "jsonl", "table")
# The command line writes these once the job ends, from the server's export: the very table the
# dashboard downloads (Korean headers, volumes, 경쟁률; the CSV with a BOM). The others stream
# result by result (ResultWriter; as a library it still streams CSV too).
EXPORT_FORMATS = ("csv", "xlsx")
WRITER_FORMATS = ("csv", "tsv", "jsonl", "table")
BAR_WIDTH = 24
BAR_MIN_INTERVAL_S = 0.1
CLEAR_LINE = "\r\033[K"  # to the line's start, then erase to its end

# A text cell that a spreadsheet would run as a formula gets a leading apostrophe, like the
# dashboard's export (web/export.js).
FORMULA = re.compile(r"^[=+\-@\t\r]")


def defuse(text: str) -> str:
    return "'" + text if FORMULA.match(text) else text


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def display_width(text: str) -> int:
    """Columns on a terminal: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int, *, right: bool = False) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


class ProgressBar:
    """``[#####.....] 15/100  15%  3.2/s  남은 시간 0:27`` on stderr, redrawn in place.

    Drawn only when stderr is a terminal; otherwise silent, so a log file gets no ``\\r`` and
    no escape codes, only the lines written with ``line``."""

    def __init__(
        self,
        err: TextIO,
        clock: Callable[[], float] = time.monotonic,
        *,
        terminal: bool | None = None,
    ) -> None:
        self.err = err
        self.clock = clock
        self.terminal = is_terminal(err) if terminal is None else terminal
        self.started_s: float | None = None
        self.start_current = 0
        self.last_draw_s = float("-inf")
        self.text = ""  # what is on the screen now ("" = nothing)
        self.last_text = ""

    @staticmethod
    def render(current: int, total: int, rate_per_s: float | None, note: str | None = None) -> str:
        fraction = current / total if total else 1.0
        filled = round(BAR_WIDTH * fraction)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = f"[{bar}] {current}/{total} {fraction:4.0%}"
        if note is not None:  # nobody counts the job: a rate and a time left would be untrue
            text += f"  {note}"
        elif rate_per_s is not None and rate_per_s > 0:
            left_s = round((total - current) / rate_per_s)
            text += f"  {rate_per_s:.1f}/s  남은 시간 {left_s // 60}:{left_s % 60:02d}"
        return text

    def update(
        self, current: int, total: int, *, force: bool = False, note: str | None = None
    ) -> None:
        now = self.clock()
        if self.started_s is None:
            self.started_s, self.start_current = now, current
        if not self.terminal:
            return
        if not force and now - self.last_draw_s < BAR_MIN_INTERVAL_S:
            return
        self.last_draw_s = now
        elapsed_s = now - self.started_s
        done_here = current - self.start_current
        rate = done_here / elapsed_s if elapsed_s > 0 and done_here > 0 else None
        self._draw(self.render(current, total, rate, note))

    def _draw(self, text: str) -> None:
        self.err.write(CLEAR_LINE + text)
        self.err.flush()
        self.text = self.last_text = text

    def clear(self) -> None:
        """Take the bar off the screen (before something else is written on its line)."""
        if self.text:
            self.err.write(CLEAR_LINE)
            self.err.flush()
            self.text = ""

    def restore(self) -> None:
        """Draw the bar again after ``clear``."""
        if self.terminal and self.last_text and not self.text:
            self._draw(self.last_text)

    def line(self, text: str) -> None:
        """A message on its own line; the bar, if drawn, stays below it."""
        had_bar = bool(self.text)
        self.clear()
        self.err.write(text + "\n")
        self.err.flush()
        if had_bar:
            self.restore()

    def finish(self, text: str) -> None:
        """The last line: the bar stays on the screen as it ended, the text below it."""
        if self.text:
            self.err.write("\n")
            self.text = ""
        self.last_text = ""
        self.err.write(text + "\n")
        self.err.flush()


class ResultWriter:
    """Writes each result once, in the order given, in one of ``FORMATS``.

    Text cells of CSV, TSV and the table are defused (a spreadsheet would run ``=...`` as a
    formula). With a bar drawn on the same terminal, the bar is taken off before each result
    and drawn again after it."""

    KEYWORD_COLUMNS = 20
    COUNT_COLUMNS = 10

    def __init__(
        self,
        out: TextIO,
        fmt: str,
        categories: list[str] | None = None,
        bar: ProgressBar | None = None,
    ) -> None:
        if fmt not in WRITER_FORMATS:
            raise ValueError(f"알 수 없는 출력 형식입니다: {fmt}")
        self.out = out
        self.fmt = fmt
        self.categories = categories or []
        # Only when both are one screen does a result risk landing on the bar's line.
        self.bar = bar if bar is not None and bar.terminal and is_terminal(out) else None
        self.written: set[int] = set()
        self.started = False

    def begin(self, job_categories: list[str]) -> None:
        """Columns: the categories asked for, else the job's. Writes the header once."""
        if self.started:
            return
        self.started = True
        self.categories = self.categories or job_categories
        if self.fmt != "jsonl":
            self._emit(self._line(["keyword", *self.categories, "error"]))

    def _line(self, cells: list[Any]) -> str:
        if self.fmt == "csv":
            buf = io.StringIO()
            row = [defuse(c) if isinstance(c, str) else c for c in cells]
            csv.writer(buf, lineterminator="\n").writerow(row)
            return buf.getvalue()
        if self.fmt == "tsv":
            texts = [
                defuse(re.sub(r"[\t\r\n]+", " ", c)) if isinstance(c, str) else str(c)
                for c in cells
            ]
            return "\t".join(texts) + "\n"
        # table: fixed columns, so rows line up as they stream in
        keyword, *counts, error = (
            defuse(re.sub(r"[\t\r\n]+", " ", c)) if isinstance(c, str) else f"{c:,}" for c in cells
        )
        parts = [pad(keyword, self.KEYWORD_COLUMNS)]
        parts += [pad(c, self.COUNT_COLUMNS, right=True) for c in counts]
        return "  ".join([*parts, error]).rstrip() + "\n"

    def _emit(self, text: str) -> None:
        if self.bar is not None:
            self.bar.clear()
        self.out.write(text)
        self.out.flush()
        if self.bar is not None:
            self.bar.restore()

    def write(self, result: dict[str, Any]) -> None:
        index = result.get("index")
        if isinstance(index, int):
            if index in self.written:
                return  # seen before a reconnect: never twice
            self.written.add(index)
        if self.fmt == "jsonl":
            self._emit(orjson.dumps(result).decode() + "\n")
            return
        counts = result.get("counts", {})
        self._emit(
            self._line(
                [
                    result.get("keyword", ""),
                    *(counts.get(c, "") for c in self.categories),
                    result.get("error") or "",
                ]
            )
        )
