"""One log line per event, ``coursehub.<event> key=value ...``, safe to grep and to parse even
when a value came from an LMS: no value can end the line or pass for another field."""

from __future__ import annotations

import re
from typing import Any

# A value written bare: printable, and nothing a reader would take for a separator or a quote.
_BARE = re.compile(r"[^\s\"'=\\]+")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FIELD = re.compile(r'([a-z_][a-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)')
_UNESCAPE = re.compile(r"\\(U[0-9a-fA-F]{8}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)")


def quote(value: Any) -> str:
    """``value`` as one token: bare when plain, else in double quotes with backslash escapes;
    every non-printable character (newlines, U+2028, ANSI escapes) becomes an escape."""
    if value is None:
        return "-"
    text = str(value)
    if not text:
        return '""'
    if _BARE.fullmatch(text) and text.isprintable():
        return text
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif not char.isprintable() and char != " ":
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def logline(event: str, **fields: Any) -> str:
    """``coursehub.<event> k=v ...`` with the fields in the order given (``None`` is ``-``)."""
    assert re.fullmatch(r"[a-z][a-z0-9_.-]*", event), event
    parts = [f"coursehub.{event}"]
    for key, value in fields.items():
        parts.append(f"{key}={quote(value)}")
    return " ".join(parts)


def duration_ms(started: float, now: float) -> int:
    """Milliseconds between two ``time.perf_counter()`` readings, rounded."""
    return round((now - started) * 1000)


def parse(line: str) -> tuple[str, dict[str, str]]:
    """The event and fields of a line made by ``logline`` (anything before ``coursehub.`` is
    the logger's prefix): the inverse of ``logline`` for tests and for admins' scripts."""
    start = line.index("coursehub.")
    event, _, rest = line[start + len("coursehub."):].partition(" ")
    fields = {}
    for key, raw in _FIELD.findall(rest):
        if raw.startswith('"'):
            raw = _UNESCAPE.sub(_unescape, raw[1:-1])
        fields[key] = raw
    return event, fields


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    if code[0] in "Uux" and len(code) > 1:
        return chr(int(code[1:], 16))
    return {"n": "\n", "r": "\r", "t": "\t"}.get(code, code)
