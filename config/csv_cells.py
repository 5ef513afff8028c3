"""CSV cells a spreadsheet would run as a formula get a leading apostrophe: the rule of every CSV
Querent writes, server-side here and in the chat page's download (`toCsv` in static/querent/util.js).

The rule, exactly as the chat page applies it: a *text* value that starts with `=`, `+`, `-`, `@`, a
tab or a carriage return is written as `'` + the text, unless the text reads as a number
(`toNumber`: after trimming, an optional leading currency sign `$€£¥`, thousands commas and a
trailing `%` dropped, `[-+]?digits[.digits][e±digits]` with a finite value). Numbers, booleans
and empty cells are never changed, and an escaped text no longer starts with one of those
characters, so escaping twice changes nothing.

Two writers use it:
- `safe_cell(value)` for cells written by Python's csv module (one value at a time);
- `escaping_writer(write, encoding)` / `escape_pg_csv_row(row, encoding)` for PostgreSQL's own
  `COPY ... (FORMAT csv)` output, where types are gone: a row is rewritten only when a field may
  start with one of those characters (regex screens per row, no parsing otherwise), and then only
  the fields that need it gain the apostrophe; quoting, NULLs and every other byte stay as the
  server wrote them.
"""

from __future__ import annotations

import math
import re

FORMULA_START = frozenset("=+-@\t\r")

# JavaScript's String.prototype.trim(): WhiteSpace and LineTerminator code points.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_TRIM = re.compile(f"^[{_JS_SPACE}]+|[{_JS_SPACE}]+$")
_CURRENCY = re.compile("^[$€£¥]")
_NUMBER = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def is_numeric_text(text: str) -> bool:
    """The chat page's `toNumber(text) !== null` for a string."""
    text = _TRIM.sub("", text)
    text = _CURRENCY.sub("", text, count=1).replace(",", "").removesuffix("%")
    if not _NUMBER.fullmatch(text):
        return False
    return math.isfinite(float(text))


def needs_escape(text: str) -> bool:
    return bool(text) and text[0] in FORMULA_START and not is_numeric_text(text)


def escape_text(text: str) -> str:
    return "'" + text if needs_escape(text) else text


def safe_cell(value):
    """A cell for Python's csv writer: text that would run as a formula gets its apostrophe."""
    if isinstance(value, str) and value and value[0] in FORMULA_START and not is_numeric_text(value):
        return "'" + value
    return value


# --- PostgreSQL's CSV, one row at a time ------------------------------------------------------

# A field may start with a formula character: at the row's start or after a comma, maybe inside
# quotes. A superset (a comma inside a quoted value matches too); the parse below is exact. A sign
# followed by a short plain number up to the field's end is skipped here: that field is a number
# (finite: at most 15+15 digits and a 2-digit exponent), which the rule leaves alone, and negative
# numbers are common enough that parsing their rows would cost more than the export. The row's
# start and the commas are searched apart: one pattern with `(?:^|,)` ran 3x slower.
# In any client encoding PostgreSQL offers, an ASCII character is always its single ASCII byte,
# so this never misses one.
_FIELD_START = rb'"?(?:[=@\t\r]|[-+](?![0-9]{1,15}(?:\.[0-9]{0,15})?(?:[eE][-+]?[0-9]{1,2})?(?:,|\r?\n|\Z)))'
_FIRST_MAY_BE_FORMULA = re.compile(_FIELD_START).match
_NEXT_MAY_BE_FORMULA = re.compile(b"," + _FIELD_START).search
_SCREEN = re.compile(rb',[-+=@\t\r"]').search  # the cheap first look: a comma then a character of interest
_STARTS = frozenset(b'"=@\t\r-+')  # first bytes that make the row's first field worth a look


def _may_need_escape(row) -> bool:
    return bool(_FIRST_MAY_BE_FORMULA(row) or (_SCREEN(row) and _NEXT_MAY_BE_FORMULA(row)))


def escape_pg_csv_row(row: bytes | memoryview, encoding: str = "utf-8") -> bytes | memoryview:
    """One row of `COPY ... TO STDOUT WITH (FORMAT csv)` (delimiter `,`, quote `"`, header
    included) with `'` added in front of every field that needs it. Returns `row` itself when no
    field does."""
    if not _may_need_escape(row):
        return row
    text = bytes(row).decode(encoding, "surrogateescape")  # libpq hands rows over as memoryviews
    escaped = _escape_csv_line(text)
    return row if escaped is None else escaped.encode(encoding, "surrogateescape")


def _escape_csv_line(text: str) -> str | None:
    """The line with its formula fields escaped, or None when nothing changed."""
    end = len(text) - (2 if text.endswith("\r\n") else 1 if text.endswith("\n") else 0)
    body, newline = text[:end], text[end:]
    out: list[str] = []
    changed = False
    i = 0
    while True:
        if body.startswith('"', i):  # quoted: runs to the quote not followed by another
            j = i + 1
            while True:
                k = body.find('"', j)
                if k < 0:  # not the server's CSV: leave the row alone rather than guess
                    return None
                if body.startswith('"', k + 1):
                    j = k + 2
                    continue
                break
            raw, value, i = body[i:k + 1], body[i + 1:k].replace('""', '"'), k + 1
            if needs_escape(value):
                raw, changed = "\"'" + raw[1:], True
        else:
            k = body.find(",", i)
            k = len(body) if k < 0 else k
            raw, i = body[i:k], k
            if needs_escape(raw):
                raw, changed = "'" + raw, True
        out.append(raw)
        if i >= len(body):
            break
        if body[i] != ",":
            return None
        i += 1
        if i == len(body):  # a trailing comma: an empty last field
            out.append("")
            break
    return ",".join(out) + newline if changed else None


def escaping_writer(write, encoding: str = "utf-8"):
    """`write` for PostgreSQL CSV rows, passed on one at a time as they come, each escaped on its
    way when it needs it (see escape_pg_csv_row). A row with nothing to escape costs two cheap
    regex calls (about 0.3 us; one search per batch of rows measured no faster in Python's re)."""
    first, screen, following, starts = _FIRST_MAY_BE_FORMULA, _SCREEN, _NEXT_MAY_BE_FORMULA, _STARTS

    def write_row(row) -> None:
        if (row[0] in starts and first(row)) or (screen(row) and following(row)):
            row = escape_pg_csv_row(row, encoding)
        write(row)

    return write_row
