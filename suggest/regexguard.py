"""Reject pack regexes that do not compile or can backtrack catastrophically.

Python's ``re`` has no timeout, so one bad pattern in a shop's pack could hang
every caller on a long message. Each pattern is checked once, at load time,
for the two shapes that make a backtracking matcher slow:

1. **A repeated part that can match the same text in more than one way**:
   exponential. ``(a+)+``, ``(\\d*)*``, ``(a|aa)+``, ``(a|ab|b)+``, ``(a?)+``,
   ``(a{1,10}){1,10}``. Found as a choice point inside the repeated part
   (an alternative, or "one more or stop" of an inner repeat) where both ways
   can take the same next character. ``(\\d+,)+`` or ``(ab?)+`` are fine: each
   character decides the way.
2. **Long repeats in a row that can take the same characters**: polynomial,
   seconds on a 2,000-character message. ``\\d+.*\\d+``, ``.*没.*付``. A required
   character that the earlier repeat cannot take ends the run (``\\d+件.*`` is
   fine); bounded repeats such as ``.{0,20}`` keep the cost small.

Possessive repeats never backtrack into earlier iterations. The check
over-approximates: a refused pattern can always be rewritten (bound a repeat,
or make alternatives start with different characters).
"""

from __future__ import annotations

import re
import re._constants as _c  # Python 3.11+ (the project's floor)
import re._parser as _sre_parse
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

MAX_PATTERN_LENGTH = 500
_AMBIGUOUS_LOOP = 5  # an ambiguous part repeated this often already costs 2**5 and more per start
_INPUT = 2000  # normalize.MAX_INPUT_CHARS: the longest text a pattern ever runs on
_BUDGET = 2 * 10**7  # backtracking steps allowed on the longest, worst input (~0.1-0.5 s)

_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT}
_POSSESSIVE = getattr(_c, "POSSESSIVE_REPEAT", None)
_ATOMIC = getattr(_c, "ATOMIC_GROUP", None)
_CHAR_OPS = {_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN}
_ZERO_WIDTH = {_c.AT, _c.ASSERT, _c.ASSERT_NOT}

# Characters tried when asking "can these two classes take the same character?",
# on top of every literal and range end the classes name.
_PROBES = frozenset(
    "abcxyzABCXYZ0159_ -.,!?#@/\\\t\n\r\x0b\x0c"
    "中包邮码货你好的吗了，。！？、：；（）【】《》～…０９ＡＺａｚ　"
    "éßЖжαΩ٣مあアカ한글😀☃\u00a0\u2003\ue000\U00020000"
)


@lru_cache(maxsize=4096)  # packs are re-validated on every reload; the answer never changes
def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is unsafe or invalid, or None when it is fine."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"expected a regular expression of at most {MAX_PATTERN_LENGTH} characters, got {len(pattern)}"
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        return f"expected a regular expression that compiles, got an error: {exc}"
    try:
        parsed = _sre_parse.parse(pattern)
        items = list(parsed)
        return _Checker(parsed.state.flags, items).problem(items)
    except RecursionError:
        return "expected a regular expression of modest nesting, got one too deeply nested to check"


# -- character sets ---------------------------------------------------------------
# A set of characters is a frozenset over a finite universe: the probes plus every
# literal and range end the pattern names. Two classes that share any character
# share one of these (two ranges share the larger low end, for example), so
# overlap tests are plain set intersections.

_Chars = frozenset[str]
_EMPTY: _Chars = frozenset()
_CATEGORY = {
    "CATEGORY_DIGIT": re.compile(r"\d"), "CATEGORY_NOT_DIGIT": re.compile(r"\D"),
    "CATEGORY_SPACE": re.compile(r"\s"), "CATEGORY_NOT_SPACE": re.compile(r"\S"),
    "CATEGORY_WORD": re.compile(r"\w"), "CATEGORY_NOT_WORD": re.compile(r"\W"),
    "CATEGORY_LINEBREAK": re.compile(r"\n"), "CATEGORY_NOT_LINEBREAK": re.compile(r"[^\n]"),
}


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda ch: pattern.match(ch) is not None


def _universe(items: Iterable[Any], out: set[str]) -> set[str]:
    """Every literal and range end named anywhere in a parsed pattern."""
    for op, arg in items:
        if op is _c.LITERAL or op is _c.NOT_LITERAL:
            out.add(chr(arg))
        elif op is _c.RANGE:
            low, high = arg
            out.update(chr(x) for x in (low, high, min(low + 1, high)))
        elif op is _c.IN:
            _universe(arg, out)
        elif op in _REPEATS or op == _POSSESSIVE:
            _universe(arg[2], out)
        else:
            for child in _children(op, arg):
                _universe(child, out)
    return out


class _Checker:
    def __init__(self, flags: int, items: list[Any]) -> None:
        self.fold = bool(flags & re.IGNORECASE)
        self.dotall = bool(flags & re.DOTALL)
        universe = _universe(items, set(_PROBES))
        if self.fold:
            universe |= {c.lower() for c in universe} | {c.upper() for c in universe}
        self.universe: _Chars = frozenset(c for c in universe if len(c) == 1)
        self._memo: dict[int, _Chars] = {}

    def _class(self, items: Sequence[tuple[Any, Any]]) -> _Chars:
        """The set a parsed ``[...]`` class stands for."""
        negate = False
        literals: set[str] = set()
        ranges: list[tuple[int, int]] = []
        tests: list[Callable[[str], bool]] = []
        for op, arg in items:
            if op is _c.NEGATE:
                negate = True
            elif op is _c.LITERAL:
                literals.add(chr(arg))
            elif op is _c.RANGE:
                ranges.append(arg)
            elif op is _c.CATEGORY and str(arg) in _CATEGORY:
                tests.append(_matches(_CATEGORY[str(arg)]))
            else:  # anything unexpected: assume it can match anything
                tests.append(lambda ch: True)
        if not (negate or ranges or tests or self.fold):
            return frozenset(literals)  # the common [发到送]: no probing needed

        def one(ch: str) -> bool:
            code = ord(ch)
            return (ch in literals or any(lo <= code <= hi for lo, hi in ranges)
                    or any(test(ch) for test in tests))

        def member(ch: str) -> bool:
            found = one(ch) or (self.fold and any(
                one(v) for v in (ch.lower(), ch.upper()) if len(v) == 1))
            return found != negate

        return frozenset(c for c in self.universe if member(c))

    def problem(self, items: list[Any]) -> str | None:
        ambiguous = self._ambiguous_loop(items)
        if ambiguous:
            return (f"expected a regular expression whose repeated parts match a text in one way only, "
                    f"got {ambiguous}: it can backtrack catastrophically on a long message")
        if self._overlapping_runs(items, []) is None:
            return ("expected a regular expression without long repeats in a row that can take the same "
                    "characters, got one (such as '.*x.*' or '\\d+.*\\d+') that backtracks for seconds "
                    "on a long message; bound them, for example '.{0,20}'")
        return None

    # shape 1: ambiguous repeated parts ------------------------------------------

    def _ambiguous_loop(self, items: Iterable[Any]) -> str | None:
        for op, arg in items:
            if op in _REPEATS:
                _low, high, sub = arg
                sub = list(sub)
                if high is _c.MAXREPEAT or high >= _AMBIGUOUS_LOOP:
                    first, nullable = self._first_seq(sub)
                    if nullable:
                        return "a repeated part that can match nothing (such as '(a?)+' or '(a*)*')"
                    found = self._conflict(sub, first)
                    if found:
                        return found
                found = self._ambiguous_loop(sub)
            elif op == _POSSESSIVE:
                found = self._ambiguous_loop(arg[2])  # only its body can backtrack
            else:
                found = None
                for child in _children(op, arg):
                    found = found or self._ambiguous_loop(child)
            if found:
                return found
        return None

    def _conflict(self, items: list[Any], follow: _Chars) -> str | None:
        """A choice point in ``items`` (followed by ``follow``) where two ways take one character."""
        for index, (op, arg) in enumerate(items):
            rest, rest_nullable = self._first_seq(items[index + 1:])
            after = rest | follow if rest_nullable else rest
            if op is _c.BRANCH:
                firsts = []
                empties = 0
                for branch in arg[1]:
                    first, nullable = self._first_seq(list(branch))
                    empties += nullable
                    firsts.append(first | after if nullable else first)
                overlapping = empties > 1 or any(
                    not one.isdisjoint(other) for i, one in enumerate(firsts) for other in firsts[i + 1:])
                if overlapping:
                    return ("a repeated part with alternatives that can start with the same character "
                            "(such as '(a|aa)+'; write 'a|b' so each starts differently, as 'aa?' for 'a|aa')")
                for branch in arg[1]:
                    found = self._conflict(list(branch), after)
                    if found:
                        return found
            elif op in _REPEATS:
                low, high, sub = arg
                sub = list(sub)
                more, _ = self._first_seq(sub)
                if low != high and not more.isdisjoint(after):
                    return ("a repeat inside a repeated part that can take the same characters as what "
                            "follows it (such as '(a+)+' or '(x+x+)+')")
                found = self._conflict(sub, more | after)
                if found:
                    return found
            elif op is _c.SUBPATTERN:
                found = self._conflict(list(arg[-1]), after)
                if found:
                    return found
        return None

    def _first_seq(self, items: Sequence[Any]) -> tuple[_Chars, bool]:
        """Characters a sequence can start with, and whether it can match nothing."""
        out = _EMPTY
        for op, arg in items:
            first, nullable = self._first(op, arg)
            out = out | first
            if not nullable:
                return out, False
        return out, True

    def _first(self, op: Any, arg: Any) -> tuple[_Chars, bool]:
        if op in _CHAR_OPS:
            return self._chars(op, arg), False
        if op in _REPEATS or op == _POSSESSIVE:
            low, _high, sub = arg
            first, nullable = self._first_seq(list(sub))
            return first, nullable or low == 0
        if op is _c.SUBPATTERN:
            return self._first_seq(list(arg[-1]))
        if op == _ATOMIC:
            return self._first_seq(list(arg))
        if op is _c.BRANCH:
            out, any_null = _EMPTY, False
            for branch in arg[1]:
                first, nullable = self._first_seq(list(branch))
                out, any_null = out | first, any_null or nullable
            return out, any_null
        if op in _ZERO_WIDTH:
            return _EMPTY, True
        return self.universe, True  # back references, conditionals: anything, maybe nothing

    def _chars(self, op: Any, arg: Any) -> _Chars:
        if op is _c.LITERAL or op is _c.NOT_LITERAL:
            want = chr(arg)
            same = frozenset(c for c in (want, want.lower(), want.upper()) if len(c) == 1) \
                if self.fold else frozenset(want)
            return self.universe - same if op is _c.NOT_LITERAL else same
        if op is _c.ANY:
            return self.universe if self.dotall else self.universe - {"\n"}
        key = id(arg)
        if key not in self._memo:
            self._memo[key] = self._class(arg)
        return self._memo[key]

    def _all_chars(self, items: Iterable[Any]) -> _Chars:
        """Every character a piece of pattern can take, anywhere in it."""
        out = _EMPTY
        for op, arg in items:
            if op in _CHAR_OPS:
                out = out | self._chars(op, arg)
            elif op in _ZERO_WIDTH:
                continue
            elif op in _REPEATS or op == _POSSESSIVE:
                out = out | self._all_chars(arg[2])
            else:
                kids = list(_children(op, arg))
                if not kids:  # a back reference: could be anything
                    out = out | self.universe
                for child in kids:
                    out = out | self._all_chars(child)
        return out

    # shape 2: repeats in a row that can take the same characters ----------------

    def _overlapping_runs(self, items: Iterable[Any], before: list[tuple[_Chars, int]]
                          ) -> list[tuple[_Chars, int]] | None:
        """Walk a sequence, keeping the repeats that may still give characters back.

        Each entry is (characters, ways): how many ways the repeats so far can
        split the text among themselves. A repeat that can take what an earlier
        one takes multiplies its ways. Work is only wasted where the match can
        fail (a required character, an anchor), so the cost, the longest input
        times the ways, is checked there. Returns the entries after the
        sequence, or None when the cost passes the budget.
        """
        live = list(before)
        for op, arg in items:
            if op in _REPEATS:
                low, high, sub = arg
                top = _INPUT if high is _c.MAXREPEAT else min(int(high), _INPUT)
                own: list[tuple[_Chars, int]] = []
                if low != high:
                    chars = self._all_chars(sub)
                    ways = min(top - low + 1, _INPUT)
                    ways *= max((w for c, w in live if not c.isdisjoint(chars)), default=1)
                    own = [(chars, min(ways, _BUDGET))]
                # walk the body once per iteration (up to 3): '(?:.*,){3}' is three '.*' in a row
                inner: list[tuple[_Chars, int]] | None = live
                for _ in range(min(3, max(1, top))):
                    inner = self._overlapping_runs(sub, inner or [])
                    if inner is None:
                        return None
                live = _merge(live, inner or []) if low == 0 else (inner or [])
                live = [*live, *own]
            elif op in (_POSSESSIVE, _ATOMIC):
                # gives nothing back, but can fail; and ends the earlier runs where
                # it needs a character they cannot take
                if not self._affordable(live):
                    return None
                first, nullable = self._first(op, arg)
                if not nullable:
                    live = [(c, w) for c, w in live if not c.isdisjoint(first)]
            elif op is _c.SUBPATTERN:
                walked = self._overlapping_runs(arg[-1], live)
                if walked is None:
                    return None
                live = walked
            elif op is _c.BRANCH:
                merged: list[tuple[_Chars, int]] = []
                for branch in arg[1]:
                    walked = self._overlapping_runs(branch, live)
                    if walked is None:
                        return None
                    merged = _merge(merged, walked)
                live = merged
            elif op in _CHAR_OPS:
                if not self._affordable(live):
                    return None
                # a required character that a repeat cannot take fixes where that repeat ends
                chars = self._chars(op, arg)
                live = [(c, w) for c, w in live if not c.isdisjoint(chars)]
            elif op in (_c.ASSERT, _c.ASSERT_NOT):
                if not self._affordable(live) or self._overlapping_runs(arg[1], []) is None:
                    return None
            elif not self._affordable(live):  # anchors, back references: places that can fail
                return None
        return live

    @staticmethod
    def _affordable(live: list[tuple[_Chars, int]]) -> bool:
        return _INPUT * max((w for _, w in live), default=1) <= _BUDGET


def _merge(one: list[tuple[_Chars, int]], two: list[tuple[_Chars, int]]) -> list[tuple[_Chars, int]]:
    out = list(one)
    for item in two:
        if not any(item is kept for kept in out):
            out.append(item)
    return out


def _children(op: Any, arg: Any) -> Iterable[Any]:
    """The sub-sequences of a node that is not a repeat."""
    if op is _c.SUBPATTERN:
        yield arg[-1]
    elif op is _c.BRANCH:
        yield from arg[1]
    elif op in (_c.ASSERT, _c.ASSERT_NOT):
        yield arg[1]
    elif op == _ATOMIC:
        yield arg
    elif op is _c.GROUPREF_EXISTS:
        yield arg[1]
        if arg[2] is not None:
            yield arg[2]
