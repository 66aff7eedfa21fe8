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
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from .normalize import Normalized, is_emoji
from .results import Evidence, assemble

# What the matcher works with: (kind, pattern, start, end, weight), the span in the
# normalised text. Cheap to make; turned into Evidence only for what is reported.
Hit = tuple[str, str, int, int, float]


def to_evidence(norm: Normalized, hit: Hit) -> Evidence:
    kind, pattern, start, end, weight = hit
    o_start, o_end = norm.span(start, end)
    return assemble(Evidence, kind=kind, pattern=pattern, start=o_start, end=o_end,
                    text=norm.original[o_start:o_end], weight=weight, norm_span=(start, end))


@dataclass(frozen=True)
class NearMiss:
    """A rule that almost fired (for ``explain``)."""

    rule_set: str
    kind: str
    pattern: str
    score: float
    needed: float
    text: str


# A regex's requirement (see regexinfo): alternatives, each a tuple of atoms, each atom
# the strings one of which must occur; None when the regex may match anything.
Need = tuple[tuple[frozenset[str], ...], ...] | None


def _need(data: list[list[list[str]]] | None) -> Need:
    return None if data is None else tuple(tuple(frozenset(atom) for atom in alt) for alt in data)


class RuleSet:
    def __init__(self, data: dict[str, Any]) -> None:
        self.id: str = data["id"]
        self.zh: str = data.get("zh", "")
        self.threshold: float = data["threshold"]
        self.yields_to: tuple[str, ...] = tuple(data["yields_to"])
        self.lift: bool = data["lift"]
        # (source, weight, requirement); compiled on first use by the Matcher
        self.regex: list[tuple[str, float, Need]] = [(p, w, _need(need)) for p, w, need in data["regex"]]
        phrases = data["phrases"]
        self.fuzzy_threshold: int = phrases[0] if phrases else 100
        self.fuzzy_weight: float = phrases[1] if phrases else 0.0
        self.phrases: list[tuple[str, frozenset[str]]] = [(p, frozenset(p)) for p in (phrases[2] if phrases else [])]
        self.together: list[tuple[list[list[str]], float]] = [(g, w) for g, w in data["together"]]
        # one alternation per group: is some word of every group in the message? (one C search each)
        self.together_tests: list[list[re.Pattern[str]]] = [
            [re.compile("|".join(re.escape(w) for w in group)) for group in groups] for groups, _ in self.together]
        self.only: list[tuple[dict[str, tuple[str, ...]], frozenset[str], float, str]] = []
        for words, particles, weight in data.get("only", []):
            by_first: dict[str, list[str]] = {}
            for word in words:  # already longest first
                by_first.setdefault(word[0], []).append(word)
            shown = "|".join(words[:6]) + ("|…" if len(words) > 6 else "")
            self.only.append(({c: tuple(ws) for c, ws in by_first.items()}, frozenset(particles), weight, shown))
        self.negations: list[tuple[str, Need]] = [(p, _need(need)) for p, need in data["negations"]]
        self.exclude: list[tuple[str, Need]] = [(p, _need(need)) for p, need in data["exclude"]]
        self.signals: dict[str, Any] = data.get("signals") or {}


@dataclass
class Hits:
    """Evidence per rule set for one message, before thresholds.

    ``groups[g]`` holds the evidence of group ``g`` (intents, customer types) by
    rule-set id, ``excluded[g]`` the rule sets an exclusion vetoed.
    """

    groups: list[dict[str, list[Hit]]]
    excluded: list[dict[str, str]]
    near: list[NearMiss]

    @property
    def evidence(self) -> dict[str, list[Hit]]:
        return self.groups[0]


def noisy_or(hits: Iterable[Hit]) -> float:
    best: dict[tuple[str, str], float] = {}
    for kind, pattern, _start, _end, weight in hits:
        key = (kind if kind != "variant" else "keyword", pattern)
        if weight > best.get(key, 0.0):
            best[key] = weight
    miss = 1.0
    for weight in best.values():
        miss *= 1.0 - weight
    return max(0.0, min(1.0, 1.0 - miss))


class Matcher:
    """All rule sets (in groups: intents, customer types) read in one pass over a message.

    Keywords, slips, regexes and phrases of every pack share one index each, so a
    message is scanned once however many packs there are.
    """

    def __init__(self, groups: Sequence[Sequence[dict[str, Any]]], pinyin: dict[str, str]) -> None:
        rule_sets = [data for group in groups for data in group]
        self.group_of = [g for g, group in enumerate(groups) for _ in group]
        self.group_count = len(groups)
        self.rule_sets = [RuleSet(d) for d in rule_sets]
        self.groups = [[rs for rs, g in zip(self.rule_sets, self.group_of, strict=True) if g == wanted]
                       for wanted in range(len(groups))]
        self.by_id = [{rs.id: rs for rs in group} for group in self.groups]
        # keyword -> [(rule set index, weight, whole-token only)]
        self.keywords: dict[str, list[tuple[int, float, bool]]] = {}
        # pinyin key (space separated syllables) -> [(keyword, rule set index, weight)]
        self.variants: dict[str, list[tuple[str, int, float]]] = {}
        for index, data in enumerate(rule_sets):
            for text, weight, token, keys in data["keywords"]:
                self.keywords.setdefault(text, []).append((index, weight, token))
                for key in keys:
                    self.variants.setdefault(key, []).append((text, index, weight))
        # Every regex of every rule set is a job. A job whose regex needs certain strings
        # can only match when the message holds them: one automaton pass finds every
        # such string, and a few set tests tell which jobs are worth running (``always``
        # lists the jobs we cannot filter). Positive regexes run for every message that
        # may match them; negations and exclusions only for rule sets that found something.
        self.jobs: list[tuple[int, str, float]] = []
        self.positive: set[int] = set()
        self.negation_jobs: list[list[int]] = [[] for _ in self.rule_sets]
        self.exclude_jobs: list[list[int]] = [[] for _ in self.rule_sets]
        jobs_by_string: dict[str, set[int]] = {}
        self.always: list[int] = []
        # Each distinct atom of a requirement has a number; an alternative is met when all
        # of its atoms are present. A string's automaton value carries the atoms it belongs
        # to and the jobs to look at when it occurs. A job of one atom (most) is met as
        # soon as it is looked at.
        atom_number: dict[frozenset[str], int] = {}
        atoms_by_string: dict[str, set[int]] = {}
        self.job_alternatives: dict[int, tuple[frozenset[int], ...]] = {}
        self.plain_jobs: set[int] = set()
        self._compiled: dict[str, re.Pattern[str]] = {}
        for index, rs in enumerate(self.rule_sets):
            kinds = (("regex", rs.regex), ("negation", [(p, 0.0, n) for p, n in rs.negations]),
                     ("exclude", [(p, 0.0, n) for p, n in rs.exclude]))
            for kind, items in kinds:
                for source, weight, need in items:
                    job = len(self.jobs)
                    self.jobs.append((index, source, weight))
                    if kind == "regex":
                        self.positive.add(job)
                    else:
                        (self.negation_jobs if kind == "negation" else self.exclude_jobs)[index].append(job)
                    if need is None:
                        self.always.append(job)
                        continue
                    alternatives = []
                    for alt in need:
                        numbers = []
                        for atom in alt:
                            number = atom_number.setdefault(atom, len(atom_number))
                            numbers.append(number)
                            for string in atom:
                                atoms_by_string.setdefault(string, set()).add(number)
                        alternatives.append(frozenset(numbers))
                        # looked at when the alternative's most selective atom (the first) occurs
                        for string in alt[0]:
                            jobs_by_string.setdefault(string, set()).add(job)
                    if len(need) == 1 and len(need[0]) == 1:
                        self.plain_jobs.add(job)
                    else:
                        self.job_alternatives[job] = tuple(alternatives)
        self.special = [i for i, rs in enumerate(self.rule_sets) if rs.only or rs.together]
        # fuzzy phrases: a phrase typed with a slip or two still shares a pair of
        # neighbouring characters with the message; only those phrases are scored
        self.phrases: list[tuple[str, int, frozenset[str]]] = []  # (phrase, rule set, its chars)
        phrases_by_pair: dict[str, list[int]] = {}
        for index, rs in enumerate(self.rule_sets):
            for phrase, phrase_chars in rs.phrases:
                number = len(self.phrases)
                self.phrases.append((phrase, index, phrase_chars))
                for pair in {phrase[i:i + 2] for i in range(len(phrase) - 1)}:
                    phrases_by_pair.setdefault(pair, []).append(number)
        # One automaton finds, in one pass, every keyword, every string a regex needs
        # and every pair of a fuzzy phrase: (keyword, its entries), atoms, jobs, phrases.
        strings = set(self.keywords) | set(atoms_by_string) | set(phrases_by_pair)
        self.finder = automaton({
            string: ((string, tuple(self.keywords[string])) if string in self.keywords else None,
                     frozenset(atoms_by_string.get(string, ())), frozenset(jobs_by_string.get(string, ())),
                     tuple(phrases_by_pair.get(string, ())))
            for string in sorted(strings)})
        # Slips are found on a "syllable string": each CJK character replaced by one
        # private-use character per toneless syllable, so 包油 and 包邮 read the same.
        codes: dict[str, str] = {}
        for syllable in sorted(set(pinyin.values())):
            codes[syllable] = chr(0xE000 + len(codes))
        self.syllable_table = {ord(c): codes[s] for c, s in pinyin.items()}
        coded_keys: dict[str, list[tuple[str, int, float]]] = {}
        for key, entries in self.variants.items():
            parts = key.split(" ")
            if all(p in codes for p in parts):
                coded_keys.setdefault("".join(codes[p] for p in parts), []).extend(entries)
        self.variant_finder = automaton({k: (len(k), tuple(e)) for k, e in coded_keys.items()})

    def match(self, norm: Normalized, is_token: Callable[[int, int], bool], near: bool = False) -> Hits:
        """``is_token(start, end)`` says whether a span is a whole jieba token; it is
        called only when a keyword that must be one turns up (most messages need none)."""
        text = norm.text
        found: dict[int, list[Hit]] = {}
        keyword_hits, active, phrase_candidates = self._scan(text)
        self._keywords(keyword_hits, is_token, found)
        if self.variants:
            self._variants(norm, found)
        _prefer_longest(found, self.group_of)
        near_misses: list[NearMiss] = []
        for job in sorted(active & self.positive):
            index, source, weight = self.jobs[job]
            for m in self._pattern(source).finditer(text):
                if m.end() > m.start():
                    found.setdefault(index, []).append(
                        ("regex", source, m.start(), m.end(), weight))
                    break
        if phrase_candidates:
            self._fuzzy(norm, phrase_candidates, found, near_misses if near else None)
        for index in self.special:
            rs = self.rule_sets[index]
            for words_by_first, particles, weight, shown in rs.only:
                if _made_of(text, words_by_first, particles):
                    found.setdefault(index, []).append(("only", shown, 0, len(text), weight))
            for (groups, weight), tests in zip(rs.together, rs.together_tests, strict=True):
                # cheap test first; negations only matter when every group is there
                if not all(test.search(text) for test in tests):
                    continue
                negated = self._negated(index, text, active)
                spans = []
                for group in groups:
                    hit = _first_literal(text, group, negated)
                    if hit is None:
                        break
                    spans.append(hit)
                else:
                    start = min(s for s, _ in spans)
                    end = max(e for _, e in spans)
                    pattern_text = " + ".join("/".join(g) for g in groups)
                    found.setdefault(index, []).append(
                        ("together", pattern_text, start, end, weight))
        evidence: list[dict[str, list[Hit]]] = [{} for _ in range(self.group_count)]
        excluded: list[dict[str, str]] = [{} for _ in range(self.group_count)]
        for index, items in found.items():
            if not items:
                continue
            rs = self.rule_sets[index]
            if self.negation_jobs[index]:
                negated = self._negated(index, text, active)
                if negated:
                    items = [h for h in items if not _overlaps((h[2], h[3]), negated)]
            if not items:
                continue
            group_index = self.group_of[index]
            evidence[group_index][rs.id] = items
            for job in self.exclude_jobs[index]:
                source = self.jobs[job][1]
                if job in active and self._pattern(source).search(text):
                    excluded[group_index][rs.id] = source
                    break
        return Hits(evidence, excluded, near_misses)

    def _scan(self, text: str) -> tuple[list[tuple[int, int, str, tuple[tuple[int, float, bool], ...]]],
                                        set[int], set[int]]:
        """One automaton pass: the keywords found, the regex jobs whose required
        strings all occur (only they can match), and the fuzzy phrases worth scoring."""
        keyword_hits = []
        present: set[int] = set()
        candidates: set[int] = set()
        phrases: set[int] = set()
        for last, (keyword, atoms, jobs, numbers) in self.finder.iter(text):
            if keyword is not None:
                word, entries = keyword
                keyword_hits.append((last + 1 - len(word), last + 1, word, entries))
            if atoms:
                present |= atoms
                if jobs:
                    candidates |= jobs
            if numbers:
                phrases.update(numbers)
        active = candidates & self.plain_jobs
        active.update(self.always)
        alternatives = self.job_alternatives
        for job in candidates.difference(active):
            for alt in alternatives[job]:
                if alt <= present:
                    active.add(job)
                    break
        return keyword_hits, active, phrases

    def _active_jobs(self, text: str) -> set[int]:
        """The regex jobs whose required strings all occur in ``text``."""
        return self._scan(text)[1]

    def _pattern(self, source: str) -> re.Pattern[str]:
        pattern = self._compiled.get(source)
        if pattern is None:  # compiled on first use: a one-shot lookup needs few
            pattern = self._compiled[source] = re.compile(source)
        return pattern

    def _negated(self, index: int, text: str, active: set[int]) -> list[tuple[int, int]]:
        """Spans of ``text`` inside which the matches of rule set ``index`` do not count."""
        return [m.span() for job in self.negation_jobs[index] if job in active
                for m in self._pattern(self.jobs[job][1]).finditer(text)]

    def _keywords(self, hits: list[tuple[int, int, str, tuple[tuple[int, float, bool], ...]]],
                  is_token: Callable[[int, int], bool], found: dict[int, list[Hit]]) -> None:
        for start, end, word, entries in hits:
            for index, weight, token in entries:
                if token:
                    # A keyword that must be a whole token is not one when a longer pack
                    # keyword covers it (the tokenizer keeps pack keywords whole), so only
                    # a lone one costs a jieba pass.
                    if any(s <= start and end <= e and e - s > end - start for s, e, _w, _x in hits):
                        continue
                    if not is_token(start, end):
                        continue
                found.setdefault(index, []).append(("keyword", word, start, end, weight))

    def _variants(self, norm: Normalized, found: dict[int, list[Hit]]) -> None:
        text = norm.text
        syllables = text.translate(self.syllable_table)
        for last, (length, entries) in self.variant_finder.iter(syllables):
            start = last + 1 - length
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
                    ("variant", keyword, start, start + length, weight * 0.9))

    def _fuzzy(self, norm: Normalized, candidates: set[int], found: dict[int, list[Hit]],
               near: list[NearMiss] | None) -> None:
        text = norm.text
        chars = frozenset(text)
        for number in sorted(candidates):
            phrase, index, phrase_chars = self.phrases[number]
            # Phrases catch slips in whole questions: a pack that already matched exactly
            # gains nothing from them (explain still shows them all).
            if near is None and found.get(index):
                continue
            rs = self.rule_sets[index]
            floor = rs.fuzzy_threshold - (10 if near is not None else 0)
            # A phrase sharing few of its characters with the message cannot score high:
            # at the threshold a phrase of n characters can lose about n*(100-t)/100 of them.
            distinct = len(phrase_chars)
            if len(phrase_chars & chars) < distinct - max(1, distinct * (100 - floor) // 100 + 1):
                continue
            result = fuzz.partial_ratio_alignment(phrase, text, score_cutoff=floor)
            if result is None:
                continue
            if result.score >= rs.fuzzy_threshold:
                found.setdefault(index, []).append(("fuzzy", phrase, result.dest_start, result.dest_end, rs.fuzzy_weight * result.score / 100))
            elif near is not None:
                near.append(NearMiss(rs.id, "fuzzy", phrase, round(result.score, 1), rs.fuzzy_threshold,
                                     text[result.dest_start:result.dest_end]))


# Characters so common on their own that a "slip" onto them is more likely a real word.
_FUNCTION_CHARS = frozenset("不没是的了下上到道有就都也还又个这那一二大小来去说要会能可多少给我你他她它们吧呢啊哦嗯么好")
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


def automaton(words: dict[str, Any]) -> Any:
    """An Aho-Corasick automaton: every occurrence of every word in one pass, in C."""
    import ahocorasick

    built = ahocorasick.Automaton()
    for word, value in words.items():
        built.add_word(word, value)
    if words:
        built.make_automaton()
    return _Finder(built if words else None)


class _Finder:
    """``iter(text)`` yields ``(last index, value)``; nothing when there are no words."""

    def __init__(self, automaton: Any) -> None:
        self.automaton = automaton

    def iter(self, text: str) -> Any:
        return self.automaton.iter(text) if self.automaton is not None and text else ()


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


def _prefer_longest(found: dict[int, list[Hit]], group_of: list[int]) -> None:
    """Across packs, the longest keyword wins: 到付 inside 货到付款 is not shipping.

    A keyword (or slip) inside a longer one of another pack is dropped, and a
    slip that overlaps another pack's exact keyword of at least its length is
    dropped too (下价 in 改下价 is not a slip of 下架).
    """
    spans = [(index, h) for index, items in found.items() for h in items if h[0] in ("keyword", "variant")]
    if len(spans) < 2:
        return
    # Only overlapping hits matter: sorted by start, each hit looks at its neighbours
    # (a message of 2000 repeated keywords stays fast).
    spans.sort(key=lambda pair: pair[1][2])
    starts = [h[2] for _, h in spans]
    longest = max(h[3] - h[2] for _, h in spans)
    drop: set[int] = set()
    for index, e in spans:
        s1, e1 = e[2], e[3]
        for other_index, f in spans[bisect_left(starts, s1 - longest + 1):bisect_left(starts, e1)]:
            if other_index == index or group_of[other_index] != group_of[index]:
                continue
            s2, e2 = f[2], f[3]
            if s2 <= s1 and e1 <= e2 and e2 - s2 > e1 - s1:
                drop.add(id(e))
                break
            if e[0] == "variant" and f[0] == "keyword" and s2 < e1 and s1 < e2 and e2 - s2 >= e1 - s1:
                drop.add(id(e))
                break
    if drop:
        for index, items in found.items():
            found[index] = [h for h in items if id(h) not in drop]




