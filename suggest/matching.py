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
from collections.abc import Callable, Iterable, Sequence
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
        # (source, weight, required characters); compiled on first use by the Matcher
        self.regex: list[tuple[str, float, frozenset[str] | None]] = [
            (p, w, frozenset(need) if need is not None else None) for p, w, need in data["regex"]]
        phrases = data["phrases"]
        self.fuzzy_threshold: int = phrases[0] if phrases else 100
        self.fuzzy_weight: float = phrases[1] if phrases else 0.0
        self.phrases: list[tuple[str, frozenset[str]]] = [(p, frozenset(p)) for p in (phrases[2] if phrases else [])]
        self.together: list[tuple[list[list[str]], float]] = [(g, w) for g, w in data["together"]]
        self.only: list[tuple[dict[str, tuple[str, ...]], frozenset[str], float, str]] = []
        for words, particles, weight in data.get("only", []):
            by_first: dict[str, list[str]] = {}
            for word in words:  # already longest first
                by_first.setdefault(word[0], []).append(word)
            shown = "|".join(words[:6]) + ("|…" if len(words) > 6 else "")
            self.only.append(({c: tuple(ws) for c, ws in by_first.items()}, frozenset(particles), weight, shown))
        self.negations: list[tuple[str, frozenset[str] | None]] = [
            (p, frozenset(need) if need is not None else None) for p, need in data["negations"]]
        self.exclude: list[tuple[str, frozenset[str] | None]] = [
            (p, frozenset(need) if need is not None else None) for p, need in data["exclude"]]
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
            for text, weight, token, keys in data["keywords"]:
                self.keywords.setdefault(text, []).append((index, weight, token))
                for key in keys:
                    self.variants.setdefault(key, []).append((text, index, weight))
        # Every regex of every rule set is a job; jobs_by_char lists the jobs that can only
        # match when the message has that character, ``always`` the ones we cannot filter.
        self.jobs: list[tuple[str, int, str, float]] = []
        self.jobs_by_char: dict[str, list[int]] = {}
        self.always: list[int] = []
        self._compiled: dict[int, re.Pattern[str]] = {}
        for index, rs in enumerate(self.rule_sets):
            for kind, items in (("negation", [(p, 0.0, need) for p, need in rs.negations]),
                                ("exclude", [(p, 0.0, need) for p, need in rs.exclude]),
                                ("regex", rs.regex)):
                for source, weight, need in items:
                    job = len(self.jobs)
                    self.jobs.append((kind, index, source, weight))
                    if need is None:
                        self.always.append(job)
                    else:
                        for char in need:
                            self.jobs_by_char.setdefault(char, []).append(job)
        self.special = [i for i, rs in enumerate(self.rule_sets) if rs.phrases or rs.only or rs.together]
        # first character -> keywords starting with it; first syllable -> variant keys
        self.by_first: dict[str, list[str]] = {}
        for word in self.keywords:
            self.by_first.setdefault(word[0], []).append(word)
        # Slips are found on a "syllable string": each CJK character replaced by one
        # private-use character per toneless syllable, so 包油 and 包邮 read the same.
        codes: dict[str, str] = {}
        for syllable in sorted(set(pinyin.values())):
            codes[syllable] = chr(0xE000 + len(codes))
        self.syllable_table = {ord(c): codes[s] for c, s in pinyin.items()}
        self.variants_by_first: dict[str, list[tuple[str, list[tuple[str, int, float]]]]] = {}
        for key, entries in self.variants.items():
            parts = key.split(" ")
            if all(p in codes for p in parts):
                coded = "".join(codes[p] for p in parts)
                self.variants_by_first.setdefault(coded[0], []).append((coded, entries))

    def match(self, norm: Normalized, tokens: Callable[[], Sequence[tuple[str, int, int]]],
              near: bool = False) -> Hits:
        """``tokens`` gives the message's jieba tokens; it is called only when a
        keyword that must be a whole token turns up (most messages need none)."""
        text = norm.text
        found: dict[int, list[Evidence]] = {}
        self._keywords(norm, tokens, found)
        if self.variants:
            self._variants(norm, found)
        _prefer_longest(found)
        near_misses: list[NearMiss] = []
        chars = frozenset(text)
        # Only the regexes whose required characters occur in the message can match.
        jobs = set(self.always)
        for char in chars:
            more = self.jobs_by_char.get(char)
            if more is not None:
                jobs.update(more)
        negated: dict[int, list[tuple[int, int]]] = {}
        excluded: dict[str, str] = {}
        regex_hits: list[tuple[int, Evidence]] = []
        compiled = self._compiled
        for job in sorted(jobs):
            kind, index, source, weight = self.jobs[job]
            pattern = compiled.get(job)
            if pattern is None:  # compiled on first use: a one-shot lookup needs few
                pattern = compiled[job] = re.compile(source)
            if kind == "negation":
                spans = [m.span() for m in pattern.finditer(text)]
                if spans:
                    negated.setdefault(index, []).extend(spans)
            elif kind == "exclude":
                rs_id = self.rule_sets[index].id
                if rs_id not in excluded and pattern.search(text):
                    excluded[rs_id] = source
            else:
                for m in pattern.finditer(text):
                    if m.end() > m.start():
                        regex_hits.append((index, _evidence(norm, "regex", source, m.start(), m.end(), weight)))
                        break
        for index, ev in regex_hits:
            found.setdefault(index, []).append(ev)
        for index in self.special:
            rs = self.rule_sets[index]
            bucket = found.setdefault(index, [])
            if rs.phrases:
                self._fuzzy(norm, rs, chars, bucket, near_misses if near else None)
            for words_by_first, particles, weight, shown in rs.only:
                if _made_of(text, words_by_first, particles):
                    bucket.append(_evidence(norm, "only", shown, 0, len(text), weight))
            for groups, weight in rs.together:
                spans = []
                for group in groups:
                    hit = _first_literal(text, group, negated.get(index, []))
                    if hit is None:
                        break
                    spans.append(hit)
                else:
                    start = min(s for s, _ in spans)
                    end = max(e for _, e in spans)
                    pattern_text = " + ".join("/".join(g) for g in groups)
                    bucket.append(_evidence(norm, "together", pattern_text, start, end, weight))
        evidence: dict[str, list[Evidence]] = {}
        for index, items in found.items():
            if not items:
                continue
            spans = negated.get(index)
            if spans:
                items = [e for e in items if not _overlaps(e.norm_span, spans)]
            if items:
                evidence[self.rule_sets[index].id] = items
        return Hits(evidence, excluded, near_misses)

    def _keywords(self, norm: Normalized, tokens: Callable[[], Sequence[tuple[str, int, int]]],
                  found: dict[int, list[Evidence]]) -> None:
        text = norm.text
        by_first = self.by_first
        token_spans: set[tuple[int, int]] | None = None
        for start, char in enumerate(text):
            words = by_first.get(char)
            if words is None:
                continue
            for word in words:
                if not text.startswith(word, start):
                    continue
                end = start + len(word)
                for index, weight, token in self.keywords[word]:
                    if token:
                        if token_spans is None:
                            token_spans = {(s, e) for _, s, e in tokens()}
                        if (start, end) not in token_spans:
                            continue
                    found.setdefault(index, []).append(_evidence(norm, "keyword", word, start, end, weight))

    def _variants(self, norm: Normalized, found: dict[int, list[Evidence]]) -> None:
        text = norm.text
        syllables = text.translate(self.syllable_table)
        by_first = self.variants_by_first
        for start, first in enumerate(syllables):
            candidates = by_first.get(first)
            if candidates is None:
                continue
            for key, entries in candidates:
                if not syllables.startswith(key, start):
                    continue
                length = len(key)
                piece = text[start:start + length]
                for keyword, index, weight in entries:
                    if piece == keyword:
                        continue
                    typed = [a for a, b in zip(piece, keyword, strict=True) if a != b]
                    # A slip changes one character (two in long words) and keeps the rest,
                    # and is not a common word of its own (不发 is not a slip of 补发).
                    if (len(typed) == length or len(typed) > (1 if length <= 3 else 2)
                            or any(c in _FUNCTION_CHARS for c in typed)):
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


# Characters so common on their own that a "slip" onto them is more likely a real word.
_FUNCTION_CHARS = frozenset("不没是的了下上到道有就都也还又个这那一二大小来去说要会能可多少给我你他她它们吧呢啊哦嗯么")
_SEPARATORS = frozenset(" ,，.。!！?？~～…、;；:：\"'“”‘’()（）-—_*^")


def _made_of(text: str, words: dict[str, tuple[str, ...]], particles: frozenset[str]) -> bool:
    """Is ``text`` nothing but ``words`` (longest first, greedy) and separators?

    Particles (啊, 哈, 呢) may stand between words but do not count as one.
    """
    at, size, found = 0, len(text), False
    while at < size:
        char = text[at]
        candidates = words.get(char)
        if candidates is None:
            if char in _SEPARATORS or is_emoji(char):
                at += 1
                continue
            return False
        for word in candidates:
            if text.startswith(word, at):
                at += len(word)
                found = found or word not in particles
                break
        else:
            return False
    return found


def _first_literal(text: str, group: list[str], negated: list[tuple[int, int]]) -> tuple[int, int] | None:
    for word in group:
        at = text.find(word)
        while at >= 0:
            if not _overlaps((at, at + len(word)), negated):
                return (at, at + len(word))
            at = text.find(word, at + 1)
    return None


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    start, end = span
    return any(s < end and start < e for s, e in others)


def _prefer_longest(found: dict[int, list[Evidence]]) -> None:
    """Across packs, the longest keyword wins: 到付 inside 货到付款 is not shipping.

    A keyword (or slip) inside a longer one of another pack is dropped, and a
    slip that overlaps another pack's exact keyword of at least its length is
    dropped too (下价 in 改下价 is not a slip of 下架).
    """
    spans = [(index, e) for index, items in found.items() for e in items if e.kind in ("keyword", "variant")]
    if len(spans) < 2:
        return
    drop: set[int] = set()
    for index, e in spans:
        s1, e1 = e.norm_span
        for other_index, f in spans:
            if other_index == index:
                continue
            s2, e2 = f.norm_span
            if s2 <= s1 and e1 <= e2 and e2 - s2 > e1 - s1:
                drop.add(id(e))
                break
            if (e.kind == "variant" and f.kind == "keyword" and s2 < e1 and s1 < e2
                    and e2 - s2 >= e1 - s1):
                drop.add(id(e))
                break
    if drop:
        for index, items in found.items():
            found[index] = [e for e in items if id(e) not in drop]


def _evidence(norm: Normalized, kind: str, pattern: str, start: int, end: int, weight: float) -> Evidence:
    o_start, o_end = norm.span(start, end)
    return Evidence(kind, pattern, o_start, o_end, norm.original[o_start:o_end], weight, (start, end))


