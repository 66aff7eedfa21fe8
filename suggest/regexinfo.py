"""Which strings a regular expression cannot match without.

Most pack regexes need certain literal strings (``发货|发出|送到``...). If a
message lacks them the regex cannot match, so the matcher skips it: an
automaton pass and a few set tests instead of a regex search, for some two
hundred patterns a message.

A requirement is a list of alternatives (one per top-level branch, roughly),
each a list of atoms, each atom a list of strings: a match needs, for some
alternative, one string of every one of its atoms. ``我(自己)?.{0,4}(不知道|不清楚)``
needs 我 and one of 不知道/不清楚; ``(什么|啥)(材质|材料)`` needs one of 什么材质,
什么材料, 啥材质, 啥材料. ``None`` means no requirement could be found.
"""

from __future__ import annotations

import re._constants as _C  # Python 3.11+ (the project's floor)
import re._parser as _sre_parse
from itertools import product
from typing import Any

_MAX_SET = 64  # larger sets of strings are not worth a filter
_MAX_ALTERNATIVES = 12
_MAX_ATOMS = 3  # per alternative: the most selective ones
# Characters found in most messages filter little on their own.
_COMMON_COST = 100
_COMMON = frozenset("的了不是我你有在这个么吗呢吧啊就都也还要能会说没一人好")

Atom = frozenset[str]
Alternative = frozenset[Atom]
Requirement = list[list[list[str]]]


def requirement(pattern: str) -> Requirement | None:
    """What every match of ``pattern`` contains (see the module doc), or None."""
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception:
        return None
    found = _sequence(list(parsed))
    if found is None:
        return None
    # atoms best first: the matcher looks a regex up by the first atom of each alternative
    return sorted([sorted(atom) for atom in sorted(alt, key=_atom_key)] for alt in found)


def satisfied(need: Requirement | None, text: str) -> bool:
    """Does ``text`` hold what ``need`` asks for? (The matcher does this with an automaton.)"""
    if need is None:
        return True
    return any(all(any(s in text for s in atom) for atom in alt) for alt in need)


def _cost(atom: Atom) -> int:
    """How often an atom is met by chance (lower is a better filter)."""
    return sum(1 if len(s) > 1 else (_COMMON_COST if s in _COMMON else 5) for s in atom)


def _atom_key(atom: Atom) -> tuple[int, list[str]]:
    return (_cost(atom), sorted(atom))


def _best_atom(alt: Alternative) -> Atom:
    return min(alt, key=_atom_key)


def _trim(alt: Alternative) -> Alternative:
    """The most selective atoms; a lone common character (我, 的) only when nothing better."""
    ranked = sorted(alt, key=_atom_key)
    return frozenset(ranked[:_MAX_ATOMS])


def _and(left: list[Alternative], right: list[Alternative]) -> list[Alternative]:
    """Both requirements; when the combinations get too many, the weaker side is dropped."""
    combined = {_trim(a | b) for a in left for b in right}
    if len(combined) <= _MAX_ALTERNATIVES:
        return sorted(combined, key=_alt_key)
    return left if _strength(left) <= _strength(right) else right


def _alt_key(alt: Alternative) -> tuple[int, list[list[str]]]:
    return (sum(_cost(a) for a in alt), sorted(sorted(a) for a in alt))


def _strength(req: list[Alternative]) -> int:
    """Chance-cost of a requirement: the sum over alternatives of their best atom."""
    return sum(min((_cost(a) for a in alt), default=10_000) for alt in req)


def _sequence(items: list[tuple[Any, Any]]) -> list[Alternative] | None:
    """Requirement of a sequence: runs of finite items become strings, the rest combine."""
    result: list[Alternative] | None = None
    run: set[str] | None = {""}

    def close_run() -> None:
        nonlocal result, run
        if run is not None and "" not in run:
            result = _combine(result, [frozenset([frozenset(run)])])
        run = {""}

    for op, arg in items:
        strings = _finite(op, arg)
        if strings is not None and run is not None:
            joined = {a + b for a, b in product(run, strings)}
            if len(joined) <= _MAX_SET:
                run = joined
                continue
            close_run()
            run = set(strings)
            continue
        close_run()
        if strings is not None:
            run = set(strings)
            continue
        result = _combine(result, _item(op, arg))
    close_run()
    return result


def _combine(left: list[Alternative] | None, right: list[Alternative] | None) -> list[Alternative] | None:
    if left is None:
        return right
    if right is None:
        return left
    return _and(left, right)


def _item(op: Any, arg: Any) -> list[Alternative] | None:
    if op is _C.SUBPATTERN:
        return _sequence(list(arg[-1]))
    if op is _C.BRANCH:
        alternatives: list[Alternative] = []
        for branch in arg[1]:
            found = _sequence(list(branch))
            if found is None:
                return None  # one branch can match anywhere: so can the whole
            alternatives.extend(found)
        unique = sorted(set(alternatives), key=_alt_key)
        if len(unique) <= _MAX_ALTERNATIVES:
            return unique
        # too many: one atom, the union of each alternative's best atom
        union: set[str] = set()
        for alt in unique:
            union |= _best_atom(alt)
        return [frozenset([frozenset(union)])] if len(union) <= _MAX_SET else None
    if op in (_C.MAX_REPEAT, _C.MIN_REPEAT) or op is getattr(_C, "POSSESSIVE_REPEAT", None):
        low, _high, sub = arg
        return _sequence(list(sub)) if low >= 1 else None
    return None  # anchors, lookarounds, any-char, categories: no requirement we can use


def _finite(op: Any, arg: Any) -> set[str] | None:
    """Every string the item can match, when they are few (None otherwise)."""
    if op is _C.LITERAL:
        return {chr(arg)}
    if op is _C.IN:
        chars = _char_class(arg)
        return set(chars) if chars is not None else None
    if op is _C.SUBPATTERN:
        return _finite_sequence(list(arg[-1]))
    if op is _C.BRANCH:
        out: set[str] = set()
        for branch in arg[1]:
            strings = _finite_sequence(list(branch))
            if strings is None:
                return None
            out |= strings
        return out if len(out) <= _MAX_SET else None
    if op in (_C.MAX_REPEAT, _C.MIN_REPEAT) or op is getattr(_C, "POSSESSIVE_REPEAT", None):
        low, high, sub = arg
        if high > 2:
            return None
        once = _finite_sequence(list(sub))
        if once is None:
            return None
        out = {""} if low == 0 else set()
        current = {""}
        for count in range(1, high + 1):
            current = {a + b for a, b in product(current, once)}
            if len(current) > _MAX_SET:
                return None
            if count >= low:
                out |= current
        return out if len(out) <= _MAX_SET else None
    return None  # lookarounds and anchors match no text but are not finite strings either


def _finite_sequence(items: list[tuple[Any, Any]]) -> set[str] | None:
    out = {""}
    for op, arg in items:
        strings = _finite(op, arg)
        if strings is None:
            return None
        out = {a + b for a, b in product(out, strings)}
        if len(out) > _MAX_SET:
            return None
    return out


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
        else:
            return None  # negated classes, \s, \w, \d (any script's digits) ...
        if len(chars) > _MAX_SET:
            return None
    return frozenset(chars)
