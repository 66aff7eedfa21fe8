"""The template rule kind: how a pack says how buyers ask, once.

A template is fragments separated by spaces; a fragment is pieces that follow
each other directly; a piece is ``{name}`` (any word of class ``name``),
``{name?}`` (a word of the class, or nothing) or literal text::

    {when} {send}          什么时候发货, 几天能发出, 多久可以寄出
    还{not}{send}          还没发, 还不发
    {can?}{send}{ask}      发吗, 能发吗, 可以寄不

Between two fragments up to ``gap`` characters may stand (default 4); with
``any_order`` the fragments may come in any order. Literal text is a class of
one word, so the matcher finds every piece in its one automaton pass and this
module only joins the spans it found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from itertools import permutations
from typing import Protocol

from .program import Part, TemplateRule

DEFAULT_GAP = 4
MAX_FRAGMENTS = 8
_PIECE = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*\??$")
# prefix of an optional piece's class name in a compiled template: no class name starts
# with it, and literal pieces start with LITERAL (their text may end in ?: 没货了?)
OPTIONAL = "?"
LITERAL = "="  # prefix of the class name of a literal piece


class TemplateSyntaxError(ValueError):
    pass


def shown_name(source: str, agent: str | None) -> str:
    """How a template is named in evidence: one that reads the agent's last message says
    so, and counts apart from the same template without that condition."""
    return source if agent is None else f"{source} (agent: {agent})"


def literal_class(text: str) -> str:
    return LITERAL + text


def parse(source: str, fold: Callable[[str], str]) -> list[list[tuple[str, bool]]]:
    """Fragments of ``source`` as lists of (class name or literal word, optional).

    Literal words are folded like messages (``fold``); a literal piece comes back
    as ``literal_class(word)``. Raises TemplateSyntaxError with a message for people.
    """
    if not isinstance(source, str) or not source.strip():
        raise TemplateSyntaxError("expected a template with at least one fragment, got an empty text")
    fragments: list[list[tuple[str, bool]]] = []
    for raw in source.split():
        pieces: list[tuple[str, bool]] = []
        at = 0
        for m in _PIECE.finditer(raw):
            pieces.extend(_literal(raw[at:m.start()], fold))
            name = m.group(1).strip()
            if not _NAME.match(name):
                raise TemplateSyntaxError(f"expected a class name of lower-case letters, digits and '_' "
                                          f"inside {{}}, got {{{name}}}")
            pieces.append((name.rstrip("?"), name.endswith("?")))
            at = m.end()
        pieces.extend(_literal(raw[at:], fold))
        if any(c in "{}" for p, _ in pieces if p.startswith(LITERAL) for c in p):
            raise TemplateSyntaxError(f"unbalanced braces in {raw!r}")
        if pieces and all(optional for _, optional in pieces):
            raise TemplateSyntaxError(f"fragment {raw!r} has only optional pieces: it would match anywhere")
        if pieces:
            fragments.append(pieces)
    if not fragments:
        raise TemplateSyntaxError("expected a template with at least one fragment")
    if len(fragments) > MAX_FRAGMENTS:
        raise TemplateSyntaxError(f"expected at most {MAX_FRAGMENTS} fragments, got {len(fragments)}")
    return fragments


def _literal(text: str, fold: Callable[[str], str]) -> list[tuple[str, bool]]:
    if not text:
        return []
    if "{" in text or "}" in text:
        raise TemplateSyntaxError(f"unbalanced braces in {text!r}")
    folded = fold(text)
    return [(literal_class(folded), False)] if folded else []


# -- matching ----------------------------------------------------------------------

# Where each class's words occur in a message: ``occ.get(name, ())`` gives the
# (start, end, word) of each, sorted by start then end. Lists are short.
class Occurrences(Protocol):
    def get(self, name: str, default: Sequence[tuple[int, int, str]], /) -> Sequence[tuple[int, int, str]]: ...


# The word behind one piece while matching, (class, word, start, end): plain tuples,
# made into ``Part`` only for the match that is returned.
_Piece = tuple[str, str, int, int]
# One way a fragment matches: (start, end, pieces).
Span = tuple[int, int, tuple[_Piece, ...]]


def _piece_name(piece: str) -> tuple[str, bool]:
    return (piece[1:], True) if piece.startswith(OPTIONAL) else (piece, False)


def _fragment_spans(fragment: tuple[str, ...], occ: Occurrences,
                    memo: dict[tuple[str, ...], list[Span]] | None = None) -> list[Span]:
    """Every way the adjacent pieces of ``fragment`` match, leftmost first.

    ``memo`` keeps the answer per fragment for one message: templates share fragments
    ({ask}, {can?}{send}), so each is worked out once.
    """
    if memo is not None:
        known = memo.get(fragment)
        if known is not None:
            return known
    if len(fragment) == 1 and not fragment[0].startswith(OPTIONAL):
        # one required class: its occurrences are the spans
        name = fragment[0]
        out: list[Span] = [(start, end, ((name, word, start, end),)) for start, end, word in occ.get(name, ())]
    else:
        out = []
        pieces = [_piece_name(p) for p in fragment]
        # A match starts where one of the leading pieces (up to the first required one) starts.
        starts: set[int] = set()
        for name, optional in pieces:
            starts.update([start for start, _end, _word in occ.get(name, ())])
            if not optional:
                break
        for start in sorted(starts):
            for end, parts in _from(pieces, 0, start, occ):
                out.append((start, end, parts))
    if memo is not None:
        memo[fragment] = out
    return out


def _from(pieces: Sequence[tuple[str, bool]], index: int, at: int, occ: Occurrences
          ) -> list[tuple[int, tuple[_Piece, ...]]]:
    if index == len(pieces):
        return [(at, ())]
    name, optional = pieces[index]
    ways: list[tuple[int, tuple[_Piece, ...]]] = []
    for start, end, word in occ.get(name, ()):
        if start != at:
            continue
        part = (name, word, at, end)
        ways.extend([(last, (part, *rest)) for last, rest in _from(pieces, index + 1, end, occ)])
    if optional:
        ways.extend(_from(pieces, index + 1, at, occ))
    return ways


def match(rule: TemplateRule, occ: Occurrences, memo: dict[tuple[str, ...], list[Span]] | None = None,
          avoid: Sequence[tuple[int, int]] = ()) -> tuple[int, int, tuple[Part, ...]] | None:
    """The leftmost match of ``rule`` in a message whose class words are ``occ``
    (``memo``: fragment spans already worked out for this message) that overlaps none
    of the spans in ``avoid`` (a negated 不响 must not hide a real 没声音 after it)."""
    found = _match(rule, occ, memo, avoid)
    if found is None:
        return None
    start, end, pieces = found
    return (start, end, tuple([Part(*piece) for piece in pieces]))


def span(rule: TemplateRule, occ: Occurrences, memo: dict[tuple[str, ...], list[Span]] | None = None
         ) -> tuple[int, int] | None:
    """Where the leftmost match of ``rule`` is, when only that matters (guards)."""
    found = _match(rule, occ, memo, ())
    return None if found is None else (found[0], found[1])


def _match(rule: TemplateRule, occ: Occurrences, memo: dict[tuple[str, ...], list[Span]] | None,
           avoid: Sequence[tuple[int, int]]) -> Span | None:
    spans: list[list[Span]] = []
    for fragment in rule.fragments:
        ways = _fragment_spans(fragment, occ, memo)
        if not ways:
            return None
        spans.append(ways)
    if len(spans) == 1:  # most templates: the leftmost span that is not avoided
        if not avoid:
            return spans[0][0]
        for start, end, parts in spans[0]:
            if not any(s < end and start < e for s, e in avoid):
                return (start, end, parts)
        return None
    if len(spans) == 2 and not rule.any_order:
        return _pair(spans[0], spans[1], rule.gap, avoid)
    orders: Sequence[Sequence[int]] = (
        list(permutations(range(len(spans)))) if rule.any_order and len(spans) > 1 else [range(len(spans))])
    best: Span | None = None
    for order in orders:
        found = _chain([spans[i] for i in order], rule.gap, avoid)
        if found is not None and (best is None or found[0] < best[0]):
            best = found
    return best


def _pair(first: Sequence[Span], second: Sequence[Span], gap: int, avoid: Sequence[tuple[int, int]]
          ) -> Span | None:
    """Two fragments in order (the common template): what ``_chain`` does, without recursion."""
    for start, end, parts in first:
        for start2, end2, parts2 in second:
            if start2 < end:
                continue
            if start2 - end > gap:
                break  # spans are sorted by start
            if not any(s < end2 and start < e for s, e in avoid):
                return (start, end2, parts + parts2)
            break  # _chain takes the first follower too
    return None


def _chain(spans: Sequence[Sequence[Span]], gap: int, avoid: Sequence[tuple[int, int]] = ()
           ) -> Span | None:
    """Fragments one after another, each within ``gap`` characters of the last; the
    first such chain (by where it starts) that overlaps none of ``avoid``."""
    failed: set[tuple[int, int]] = set()  # (fragment, position it had to follow) known to fail
    for start, end, parts in spans[0]:
        rest = _follow(spans, gap, failed, 1, end)
        if rest is not None and not any(s < rest[0] and start < e for s, e in avoid):
            return (start, rest[0], parts + rest[1])
    return None


def _follow(spans: Sequence[Sequence[Span]], gap: int, failed: set[tuple[int, int]], k: int, after: int
            ) -> tuple[int, tuple[_Piece, ...]] | None:
    """The rest of a chain from fragment ``k`` on, starting at or after ``after``.

    A function of its own, not a closure: a recursive closure is a reference cycle,
    garbage for the cyclic collector on every call."""
    if k == len(spans):
        return (after, ())
    if (k, after) in failed:
        return None
    for start, end, parts in spans[k]:
        if start < after:
            continue
        if start - after > gap:
            break  # spans are sorted by start
        rest = _follow(spans, gap, failed, k + 1, end)
        if rest is not None:
            return (rest[0], parts + rest[1])
    failed.add((k, after))
    return None


def matches_text(source: str, classes: Mapping[str, Sequence[str]], text: str, gap: int = DEFAULT_GAP) -> bool:
    """Does template ``source`` match ``text`` (already normalised), with these classes?

    The engine's own matching for a template outside any pack (``suggest mine`` counts
    how many messages a proposal covers): class words and literal pieces are looked up
    in the text directly instead of in the automaton. Raises KeyError for an unknown
    class and TemplateSyntaxError for a template with no fragment.
    """
    fragments = parse(source, lambda piece: piece)
    words: dict[str, Sequence[str]] = {}
    for fragment in fragments:
        for name, _optional in fragment:
            words[name] = (name[len(LITERAL):],) if name.startswith(LITERAL) else classes[name]
    occ: dict[str, list[tuple[int, int, str]]] = {}
    for name, members in words.items():
        for word in members:
            at = text.find(word)
            while at >= 0:
                occ.setdefault(name, []).append((at, at + len(word), word))
                at = text.find(word, at + 1)
    for found in occ.values():
        found.sort()
    rule = TemplateRule(source, tuple(tuple((OPTIONAL if optional else "") + name for name, optional in fragment)
                                      for fragment in fragments), 1.0, gap, False)
    return match(rule, occ) is not None


def near_miss(rule: TemplateRule, occ: Occurrences) -> tuple[int, tuple[int, int]] | None:
    """For a template that does not match: the one fragment whose absence stops it
    (its index) and the span the others cover, or None when more than one is missing."""
    if len(rule.fragments) < 2:
        return None
    for skipped in range(len(rule.fragments)):
        rest = TemplateRule(rule.source, rule.fragments[:skipped] + rule.fragments[skipped + 1:],
                            rule.weight, rule.gap + 2, rule.any_order)
        found = match(rest, occ)
        if found is not None:
            return skipped, (found[0], found[1])
    return None
