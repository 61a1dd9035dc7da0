"""What a terminal would show for some output: enough of one to judge a progress bar.

Handles ``\\r`` (to the line's start), ``\\n`` (next line), ``ESC [ K`` (erase to the line's
end) and plain text, which overwrites from the cursor. Any other escape sequence is an error:
the client should not send one.
"""

from __future__ import annotations

import re

ESCAPE = re.compile(r"\x1b\[K")


def screen_lines(text: str) -> list[str]:
    lines: list[list[str]] = [[]]
    col = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\x1b":
            match = ESCAPE.match(text, i)
            if match is None:
                raise ValueError(f"unexpected escape sequence at {i}: {text[i : i + 8]!r}")
            del lines[-1][col:]
            i = match.end()
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append([])
            col = 0
        else:
            line = lines[-1]
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
        i += 1
    return ["".join(line) for line in lines]
