"""Which characters a regular expression cannot match without.

Most pack regexes need one of a few literal characters (``发|到|送``...). If
a message contains none of them the regex cannot match, so the matcher skips
it: a set intersection instead of a regex search, for ~200 patterns a message.
"""

from __future__ import annotations

from typing import Any

try:  # Python 3.11+
    import re._constants as _sre_constants
    import re._parser as _sre_parse
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_C = _sre_constants
_MAX_SET = 64  # larger character classes are not worth a filter
_DIGITS = frozenset("0123456789")


def required_chars(pattern: str) -> frozenset[str] | None:
    """A set of characters one of which every match contains, or None if unknown."""
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception:
        return None
    return _sequence(list(parsed))


# Characters found in most messages filter nothing; a set holding one is a poor choice.
_COMMON = frozenset("的了不是我你有在这个么吗呢吧啊就都也还要能会说没一人好")


def _cost(chars: frozenset[str]) -> int:
    return sum(100 if c in _COMMON else 1 for c in chars)


def _sequence(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    """Best required set over the mandatory items of a sequence: the rarest characters."""
    best: frozenset[str] | None = None
    for op, arg in items:
        found = _item(op, arg)
        if found is not None and (best is None or _cost(found) < _cost(best)):
            best = found
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
