"""Stored text shown to a model as data: it may not make lines, headers or hidden characters of
its own. Standard library only (the MCP stdio front uses it without the server's layers).

Every character that ends a line for some reader (``\\n``, ``\\r``, ``\\v``, ``\\f``, the
file/group/record separators, NEL, U+2028, U+2029: what ``str.splitlines`` splits on) is a line
break of the content, and each content line is written behind a prefix, so none can start a
line of the surrounding text. Other control characters and invisible format characters
(zero-width spaces, bidirectional overrides, the BOM) are written as visible ``\\u`` escapes,
so nothing in the text is hidden from a reader. The zero-width joiner stays (emoji use it).
"""

from __future__ import annotations

import unicodedata

_KEPT = {"\t", "\u200d"}


def _visible(char: str) -> str:
    if char in _KEPT or unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp"):
        return char
    return f"\\u{ord(char):04x}"


def escape_invisible(text: str) -> str:
    """``text`` with control and invisible format characters (line breaks too) escaped."""
    if text.isprintable():  # the common case, in C
        return text
    return "".join(_visible(char) for char in text)


def content_lines(text: str) -> list[str]:
    """The lines of ``text`` as a reader sees them, each with its invisible characters
    escaped; at least one (an empty text is one empty line)."""
    return [escape_invisible(line) for line in text.splitlines()] or [""]
