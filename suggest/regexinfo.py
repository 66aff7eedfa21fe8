"""Which strings a regular expression cannot match without.

Most pack regexes need one of a few literal strings (``发货|发出|送到``...). If
a message contains none of them the regex cannot match, so the matcher skips
it: a dictionary look-up and a substring test instead of a regex search, for
some two hundred patterns a message.
"""

from __future__ import annotations

import re._constants as _C  # Python 3.11+ (the project's floor)
import re._parser as _sre_parse
from typing import Any

_MAX_SET = 64  # larger alternatives are not worth a filter
_DIGITS = frozenset("0123456789")
# Characters found in most messages filter nothing on their own.
_COMMON = frozenset("的了不是我你有在这个么吗呢吧啊就都也还要能会说没一人好")


def required_strings(pattern: str) -> frozenset[str] | None:
    """A set of strings one of which every match contains, or None if unknown."""
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception:
        return None
    return _sequence(list(parsed))


def _cost(strings: frozenset[str]) -> int:
    """How often such a requirement is met by chance (lower is a better filter)."""
    return sum(1 if len(s) > 1 else (100 if s in _COMMON else 5) for s in strings)


def _better(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _cost(a) <= _cost(b) else b


def _sequence(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    """Best requirement over the mandatory items of a sequence, literal runs included."""
    best: frozenset[str] | None = None
    run = ""
    for op, arg in items:
        if op is _C.LITERAL:
            run += chr(arg)
            continue
        if run:
            best = _better(best, frozenset([run]))
            run = ""
        best = _better(best, _item(op, arg))
    if run:
        best = _better(best, frozenset([run]))
    return best


def _item(op: Any, arg: Any) -> frozenset[str] | None:
    if op is _C.LITERAL:
        return frozenset(chr(arg))
    if op is _C.IN:
        return _char_class(arg)
    if op is _C.SUBPATTERN:
        return _sequence(list(arg[-1]))
    if op is _C.BRANCH:
        union: set[str] = set()
        for branch in arg[1]:
            found = _sequence(list(branch))
            if found is None:
                return None
            union |= found
        return frozenset(union) if len(union) <= _MAX_SET else None
    if op in (_C.MAX_REPEAT, _C.MIN_REPEAT) or op is getattr(_C, "POSSESSIVE_REPEAT", None):
        low, _high, sub = arg
        return _sequence(list(sub)) if low >= 1 else None
    return None  # anchors, lookarounds, any-char, categories: no requirement we can use


def _char_class(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    chars: set[str] = set()
    for op, arg in items:
        if op is _C.LITERAL:
            chars.add(chr(arg))
        elif op is _C.RANGE:
            low, high = arg
            if high - low > _MAX_SET:
                return None
            chars.update(chr(c) for c in range(low, high + 1))
        elif op is _C.CATEGORY and arg is _C.CATEGORY_DIGIT:
            chars |= _DIGITS
        else:
            return None  # negated classes, \s, \w ...
        if len(chars) > _MAX_SET:
            return None
    return frozenset(chars)
