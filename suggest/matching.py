"""Score rule sets (intent packs, customer-type packs) against a message.

A rule set's score is a noisy-or of the weights of its distinct rules that
fired: ``1 - prod(1 - w)``, so two weak signals add up but never pass 1.
Rule kinds: exact keywords (one scan over all packs at once), pinyin
variants of keywords (typing slips), fuzzy phrases (rapidfuzz), regular
expressions, and co-occurrence ("together") rules. Matches inside a pack's
negation spans do not count; an exclusion vetoes the pack for the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from .normalize import Normalized, is_emoji


@dataclass(frozen=True)
class Evidence:
    """Why a rule fired: its kind, its pattern, and what the buyer typed."""

    kind: str  # keyword | variant | fuzzy | regex | together | signal | history
    pattern: str
    start: int  # span in the original text (end exclusive)
    end: int
    text: str
    weight: float
    # span in the normalised text, for negation checks; not part of the result
    norm_span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pattern": self.pattern, "span": [self.start, self.end],
                "text": self.text, "weight": round(self.weight, 3)}


@dataclass(frozen=True)
class NearMiss:
    """A rule that almost fired (for ``explain``)."""

    rule_set: str
    kind: str
    pattern: str
    score: float
    needed: float
    text: str


class RuleSet:
    def __init__(self, data: dict[str, Any]) -> None:
        self.id: str = data["id"]
        self.zh: str = data.get("zh", "")
        self.threshold: float = data["threshold"]
        self.yields_to: tuple[str, ...] = tuple(data["yields_to"])
        self.lift: bool = data["lift"]
        self.regex = [(re.compile(p), p, w) for p, w in data["regex"]]
        phrases = data["phrases"]
        self.fuzzy_threshold: int = phrases[0] if phrases else 100
        self.fuzzy_weight: float = phrases[1] if phrases else 0.0
        self.phrases: list[tuple[str, frozenset[str]]] = [(p, frozenset(p)) for p in (phrases[2] if phrases else [])]
        self.together: list[tuple[list[list[str]], float]] = [(g, w) for g, w in data["together"]]
        self.only: list[tuple[tuple[str, ...], float]] = [(tuple(w), wt) for w, wt in data.get("only", [])]
        self.negations = [re.compile(p) for p in data["negations"]]
        self.exclude = [re.compile(p) for p in data["exclude"]]
        self.signals: dict[str, Any] = data.get("signals") or {}


@dataclass
class Hits:
    """Evidence per rule set for one message, before thresholds."""

    evidence: dict[str, list[Evidence]]
    excluded: dict[str, str]
    near: list[NearMiss]


def noisy_or(evidence: Iterable[Evidence]) -> float:
    best: dict[tuple[str, str], float] = {}
    for item in evidence:
        key = (item.kind if item.kind != "variant" else "keyword", item.pattern)
        if item.weight > best.get(key, 0.0):
            best[key] = item.weight
    miss = 1.0
    for weight in best.values():
        miss *= 1.0 - weight
    return max(0.0, min(1.0, 1.0 - miss))


class Matcher:
    """All rule sets of one kind, with one shared keyword index."""

    def __init__(self, rule_sets: Sequence[dict[str, Any]], pinyin: dict[str, str]) -> None:
        self.rule_sets = [RuleSet(d) for d in rule_sets]
        self.by_id = {rs.id: rs for rs in self.rule_sets}
        self.pinyin = pinyin
        # keyword -> [(rule set index, weight, whole-token only)]
        self.keywords: dict[str, list[tuple[int, float, bool]]] = {}
        # pinyin key (space separated syllables) -> [(keyword, rule set index, weight)]
        self.variants: dict[str, list[tuple[str, int, float]]] = {}
        for index, data in enumerate(rule_sets):
            for text, weight, token, key in data["keywords"]:
                self.keywords.setdefault(text, []).append((index, weight, token))
                if key:
                    self.variants.setdefault(key, []).append((text, index, weight))
        self.lengths = sorted({len(k) for k in self.keywords})
        self.variant_lengths = sorted({k.count(" ") + 1 for k in self.variants})

    def match(self, norm: Normalized, tokens: Sequence[tuple[str, int, int]],
              near: bool = False) -> Hits:
        text = norm.text
        found: dict[int, list[Evidence]] = {}
        token_spans = {(s, e) for _, s, e in tokens}
        self._keywords(norm, token_spans, found)
        if self.variants:
            self._variants(norm, found)
        near_misses: list[NearMiss] = []
        chars = frozenset(text)
        for index, rs in enumerate(self.rule_sets):
            bucket = found.setdefault(index, [])
            for pattern, source, weight in rs.regex:
                for m in pattern.finditer(text):
                    if m.end() > m.start():
                        bucket.append(_evidence(norm, "regex", source, m.start(), m.end(), weight))
                        break
            if rs.phrases:
                self._fuzzy(norm, rs, chars, bucket, near_misses if near else None)
            for words, weight in rs.only:
                if _made_of(text, words):
                    bucket.append(_evidence(norm, "only", "|".join(words[:6]) + ("|…" if len(words) > 6 else ""),
                                            0, len(text), weight))
            for groups, weight in rs.together:
                spans = []
                for group in groups:
                    hit = _first_literal(text, group)
                    if hit is None:
                        break
                    spans.append(hit)
                else:
                    start = min(s for s, _ in spans)
                    end = max(e for _, e in spans)
                    pattern = " + ".join("/".join(g) for g in groups)
                    bucket.append(_evidence(norm, "together", pattern, start, end, weight))
        evidence: dict[str, list[Evidence]] = {}
        excluded: dict[str, str] = {}
        for index, rs in enumerate(self.rule_sets):
            items = found.get(index, [])
            if items and rs.negations:
                spans = [m.span() for p in rs.negations for m in p.finditer(text)]
                if spans:
                    items = [e for e in items if not _inside(norm, e, spans)]
            if items and rs.exclude:
                for pattern in rs.exclude:
                    m = pattern.search(text)
                    if m:
                        excluded[rs.id] = pattern.pattern
                        break
            evidence[rs.id] = items
        return Hits(evidence, excluded, near_misses)

    def _keywords(self, norm: Normalized, token_spans: set[tuple[int, int]],
                  found: dict[int, list[Evidence]]) -> None:
        text = norm.text
        size = len(text)
        table = self.keywords
        for length in self.lengths:
            for start in range(0, size - length + 1):
                piece = text[start:start + length]
                entries = table.get(piece)
                if entries is None:
                    continue
                for index, weight, token in entries:
                    if token and (start, start + length) not in token_spans:
                        continue
                    found.setdefault(index, []).append(
                        _evidence(norm, "keyword", piece, start, start + length, weight))

    def _variants(self, norm: Normalized, found: dict[int, list[Evidence]]) -> None:
        text = norm.text
        syllables = [self.pinyin.get(c) for c in text]
        for length in self.variant_lengths:
            for start in range(0, len(text) - length + 1):
                window = syllables[start:start + length]
                if None in window:
                    continue
                entries = self.variants.get(" ".join(window))  # type: ignore[arg-type]
                if entries is None:
                    continue
                piece = text[start:start + length]
                for keyword, index, weight in entries:
                    if piece == keyword:
                        continue
                    same = sum(1 for a, b in zip(piece, keyword, strict=True) if a == b)
                    # A slip changes one character (two in long words) and keeps the rest.
                    if same == 0 or length - same > (1 if length <= 3 else 2):
                        continue
                    found.setdefault(index, []).append(
                        _evidence(norm, "variant", keyword, start, start + length, weight * 0.9))

    def _fuzzy(self, norm: Normalized, rs: RuleSet, chars: frozenset[str], bucket: list[Evidence],
               near: list[NearMiss] | None) -> None:
        text = norm.text
        floor = rs.fuzzy_threshold - (10 if near is not None else 0)
        for phrase, phrase_chars in rs.phrases:
            # Cheap filter first: a phrase sharing few characters cannot score high.
            if len(phrase_chars & chars) * 100 < floor * len(phrase_chars) * 0.8:
                continue
            result = fuzz.partial_ratio_alignment(phrase, text, score_cutoff=floor)
            if result is None:
                continue
            if result.score >= rs.fuzzy_threshold:
                bucket.append(_evidence(norm, "fuzzy", phrase, result.dest_start, result.dest_end,
                                        rs.fuzzy_weight * result.score / 100))
            elif near is not None:
                near.append(NearMiss(rs.id, "fuzzy", phrase, round(result.score, 1), rs.fuzzy_threshold,
                                     text[result.dest_start:result.dest_end]))


_SEPARATORS = frozenset(" ,，.。!！?？~～…、;；:：\"'“”‘’()（）-—_*^")


def _made_of(text: str, words: tuple[str, ...]) -> bool:
    """Is ``text`` nothing but ``words`` (longest first, greedy) and separators?"""
    at, size, found = 0, len(text), False
    while at < size:
        if text[at] in _SEPARATORS or (text[at] not in words and is_emoji(text[at])):
            at += 1
            continue
        for word in words:
            if text.startswith(word, at):
                at += len(word)
                found = True
                break
        else:
            return False
    return found


def _first_literal(text: str, group: list[str]) -> tuple[int, int] | None:
    for word in group:
        at = text.find(word)
        if at >= 0:
            return (at, at + len(word))
    return None


def _evidence(norm: Normalized, kind: str, pattern: str, start: int, end: int, weight: float) -> Evidence:
    o_start, o_end = norm.span(start, end)
    return Evidence(kind, pattern, o_start, o_end, norm.original[o_start:o_end], weight, (start, end))


def _inside(norm: Normalized, ev: Evidence, spans: list[tuple[int, int]]) -> bool:
    start, end = ev.norm_span
    return any(s <= start and end <= e for s, e in spans)
