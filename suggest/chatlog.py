"""Read a shop's chat log, one message at a time: JSONL or CSV, streamed.

A log line is a message with ``text`` and optional ``session``/``buyer``,
``role`` (``buyer`` or ``agent``) and ``time``. CSV files name their columns
in a header; ``columns`` maps a field to the header that holds it (a shop's
export may call the text 内容). A line that cannot be read becomes a
``LogLine`` with ``error`` set, at its place, and reading goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO

from .batch import MAX_LINE_BYTES, OverlongLine, read_lines
from .errors import InputError

FIELDS = ("text", "session", "buyer", "role", "time")
BUYER, AGENT = "buyer", "agent"
_AGENT_ROLES = {"agent", "seller", "staff", "service", "客服", "卖家", "商家"}
_BUYER_ROLES = {"buyer", "customer", "user", "买家", "顾客", "用户", ""}


@dataclass(frozen=True)
class LogLine:
    """One message of the log (or, with ``error`` set, a line that could not be read)."""

    line: int  # physical line number (CSV: the record's first line), from 1
    text: str = ""
    session: str = ""
    role: str = BUYER
    time: str = ""
    error: str | None = None


def parse_columns(pairs: Iterable[str]) -> dict[str, str]:
    """``["text=内容", "session=会话"]`` as a field -> header mapping; raises InputError."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        field, header = field.strip(), header.strip()
        if not sep or not header:
            raise InputError(f"expected FIELD=HEADER (for example text=内容), got {pair!r}")
        if field not in FIELDS:
            raise InputError(f"unknown field {field!r} in {pair!r}: expected one of {', '.join(FIELDS)}")
        mapping[field] = header
    return mapping


def read_log(stream: IO[bytes], fmt: str = "jsonl", columns: Mapping[str, str] | None = None) -> Iterator[LogLine]:
    """The messages of a binary stream, in order; raises InputError for an unusable CSV header."""
    if fmt == "jsonl":
        yield from _jsonl(stream)
    elif fmt == "csv":
        yield from _csv(stream, dict(columns or {}))
    else:
        raise InputError(f"unknown log format {fmt!r}: expected jsonl or csv")


def _role(value: object) -> str | None:
    role = str(value if value is not None else "").strip().lower()
    if role in _AGENT_ROLES:
        return AGENT
    if role in _BUYER_ROLES:
        return BUYER
    return None


def _scalar(value: object) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def _message(line: int, data: Mapping[str, object]) -> LogLine:
    text = data.get("text")
    if not isinstance(text, str):
        return LogLine(line, error='expected a "text" field holding a string')
    role = _role(data.get("role"))
    if role is None:
        return LogLine(line, error=f'expected "role" to be buyer or agent, got {_scalar(data.get("role"))!r}')
    session = _scalar(data.get("session")) or _scalar(data.get("buyer"))
    return LogLine(line, text=text, session=session, role=role, time=_scalar(data.get("time")))


def _jsonl(stream: IO[bytes]) -> Iterator[LogLine]:
    yield from jsonl_messages(enumerate(read_lines(stream), 1))


def jsonl_messages(numbered: Iterable[tuple[int, bytes]]) -> Iterator[LogLine]:
    """The messages of numbered JSONL lines (as ``read_lines`` gives them: overlong ones marked)."""
    for lineno, raw in numbered:
        if isinstance(raw, OverlongLine):
            yield LogLine(lineno, error=f"line is longer than {MAX_LINE_BYTES} bytes")
            continue
        if not raw.strip():
            continue
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield LogLine(lineno, error=f"line is not valid UTF-8 (offset {exc.start})")
            continue
        except (ValueError, RecursionError):
            yield LogLine(lineno, error="line is not JSON")
            continue
        if not isinstance(data, dict):
            yield LogLine(lineno, error='expected a JSON object with "text"')
            continue
        yield _message(lineno, data)


def _csv(stream: IO[bytes], columns: dict[str, str]) -> Iterator[LogLine]:
    # utf-8-sig drops the byte order mark Excel writes; bad bytes become U+FFFD so a
    # broken line is reported below instead of ending the run
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"the CSV header cannot be read: {exc}") from None
    names = [h.strip() for h in header]
    index: dict[str, int] = {}
    for field in FIELDS:
        wanted = columns.get(field, field)
        if wanted in names:
            index[field] = names.index(wanted)
        elif field in columns:
            raise InputError(f"the CSV header has no column {wanted!r} (for {field}); it has: {', '.join(names)}")
    if "text" not in index:
        raise InputError("the CSV header has no text column: name it text, or map it with --column text=HEADER "
                         f"(the header has: {', '.join(names)})")
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield LogLine(line, error=f"CSV record cannot be read: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        values = {field: row[i] for field, i in index.items() if i < len(row)}
        if "text" not in values:
            yield LogLine(line, error="CSV record has no text column")
            continue
        if "\ufffd" in values["text"]:
            yield LogLine(line, error="record is not valid UTF-8")
            continue
        yield _message(line, values)
