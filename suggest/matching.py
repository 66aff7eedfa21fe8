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

from .normalize import Normalized, is_emoji
from .program import Guard, Hit, Need, Part, Program, RuleSet, TemplateRule
from .results import Evidence, EvidencePart, assemble
from .rule_templates import OPTIONAL, near_miss, shown_name
from .rule_templates import match as match_template
from .rule_templates import span as template_span
from .tokenizer import TokenView


def to_evidence(norm: Normalized, hit: Hit) -> Evidence:
    o_start, o_end = norm.span(hit.start, hit.end)
    parts: tuple[EvidencePart, ...] = ()
    if hit.parts:
        parts = tuple([_evidence_part(norm, p) for p in hit.parts])
    return assemble(Evidence, kind=hit.kind, pattern=hit.pattern, start=o_start, end=o_end,
                    text=norm.original[o_start:o_end], weight=hit.weight, norm_span=(hit.start, hit.end),
                    parts=parts)


def _evidence_part(norm: Normalized, part: Part) -> EvidencePart:
    start, end = norm.span(part.start, part.end)
    return assemble(EvidencePart, word_class=part.word_class.split(":")[-1], word=part.word, start=start, end=end)


@dataclass(frozen=True)
class NearMiss:
    """A rule that almost fired (for ``explain``)."""

    rule_set: str
    kind: str
    pattern: str
    score: float
    needed: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule_set": self.rule_set, "kind": self.kind, "pattern": self.pattern, "score": self.score,
                "needed": self.needed, "text": self.text}


def _need(data: Need) -> tuple[tuple[frozenset[str], ...], ...] | None:
    return None if data is None else tuple(tuple(frozenset(atom) for atom in alt) for alt in data)


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
    for hit in hits:
        kind, pattern, weight = hit.kind, hit.pattern, hit.weight
        key = (kind if kind != "variant" else "keyword", pattern)
        if weight > best.get(key, 0.0):
            best[key] = weight
    miss = 1.0
    for weight in best.values():
        miss *= 1.0 - weight
    return max(0.0, min(1.0, 1.0 - miss))


class _Runtime:
    """What the matcher derives from one rule set once: compiled tests for together
    and only rules (the records themselves stay plain data)."""

    def __init__(self, rs: RuleSet) -> None:
        self.rs = rs
        # one alternation per group: is some word of every group in the message? (one C search each)
        self.together_tests: list[list[re.Pattern[str]]] = [
            [re.compile("|".join(re.escape(w) for w in group)) for group in rule.groups] for rule in rs.together]
        self.only: list[tuple[dict[str, tuple[str, ...]], frozenset[str], float, str]] = []
        for rule in rs.only:
            by_first: dict[str, list[str]] = {}
            for word in rule.words:  # already longest first
                by_first.setdefault(word[0], []).append(word)
            shown = "|".join(rule.words[:6]) + ("|…" if len(rule.words) > 6 else "")
            self.only.append(({c: tuple(ws) for c, ws in by_first.items()}, frozenset(rule.particles),
                              rule.weight, shown))
        phrases = rs.phrases
        self.fuzzy_threshold = phrases.threshold if phrases else 100
        self.fuzzy_weight = phrases.weight if phrases else 0.0


# How often a class word of this length turns up in messages, roughly: a class of many
# one-character words (吗, 不, 没) is in nearly every message, one long word rarely.
_COMMONNESS = {1: 40, 2: 4}


def _required(rule: TemplateRule) -> list[str]:
    return [p for fragment in rule.fragments for p in fragment if not p.startswith(OPTIONAL)]


class Matcher:
    """All rule sets (in groups: intents, customer types) read in one pass over a message.

    Keywords, class words, slips, regexes and phrases of every pack share one index
    each, so a message is scanned once however many packs there are.
    """

    def __init__(self, program: Program) -> None:
        groups = (program.intents, program.tags, program.situations)
        self.rule_sets: list[RuleSet] = [rs for group in groups for rs in group]
        self.group_of = [g for g, group in enumerate(groups) for _ in group]
        self.group_count = len(groups)
        self.runtime = [_Runtime(rs) for rs in self.rule_sets]
        self.groups = [list(group) for group in groups]
        self.by_id = [{rs.id: rs for rs in group} for group in groups]
        # keyword -> [(rule set index, weight, whole-token only)]
        self.keywords: dict[str, list[tuple[int, float, bool]]] = {}
        # pinyin key (space separated syllables) -> words a slip may stand for
        variants: dict[str, set[str]] = {}
        self.keyword_variants: dict[str, list[tuple[int, float]]] = {}
        for index, rs in enumerate(self.rule_sets):
            for kw in rs.keywords:
                self.keywords.setdefault(kw.text, []).append((index, kw.weight, kw.token))
                for key in kw.slip_keys:
                    variants.setdefault(key, set()).add(kw.text)
                    self.keyword_variants.setdefault(kw.text, []).append((index, kw.weight))
        # class words: word -> the classes it belongs to (and, for slips, readings)
        classes_of: dict[str, set[str]] = {}
        self.slip_classes: dict[str, tuple[str, ...]] = {}
        used = {p.removeprefix(OPTIONAL) for rs in self.rule_sets for t in self._templates_of(rs)
                for fragment in t.fragments for p in fragment}
        for wc in program.classes:
            if wc.name not in used:
                continue
            for word, keys in zip(wc.words, wc.slip_keys, strict=True):
                classes_of.setdefault(word, set()).add(wc.name)
                if keys:
                    for key in keys:
                        variants.setdefault(key, set()).add(word)
                    self.slip_classes[word] = tuple(sorted(set(self.slip_classes.get(word, ())) | {wc.name}))
        self.has_variants = bool(variants)
        # words of the tokenizer's dictionary (prefixes are there with 0): a typed word
        # that is one of them is no slip
        self.known_words: dict[str, int] = program.jieba[0]
        # Templates: (rule set index, rule). Looked at only when the message has a word of
        # their anchor (the required class least likely to occur: one-character words such
        # as 吗 turn up in most messages), then only when every required class is present.
        # Each class a template names has a bit: the classes of a word, the classes a
        # template requires and those present in a message are ints, tested with one AND.
        self.class_bit: dict[str, int] = {name: 1 << i for i, name in enumerate(sorted(used))}
        self.templates: list[tuple[int, TemplateRule, int]] = []
        templates_by_anchor: dict[str, list[int]] = {}
        commonness = {wc.name: sum(_COMMONNESS.get(len(w), 1) for w in wc.words) for wc in program.classes}
        for index, rs in enumerate(self.rule_sets):
            for rule in rs.templates:
                required = _required(rule)
                number = len(self.templates)
                self.templates.append((index, rule, self._mask(required)))
                anchor = min(required, key=lambda c: (commonness.get(c, 0), c))
                templates_by_anchor.setdefault(anchor, []).append(number)
        self.templates_by_anchor = {c: tuple(ns) for c, ns in templates_by_anchor.items()}
        # per class word: its classes, and the templates anchored on one of them (in class
        # name order, then pack order), so a message's candidates come straight from its words
        def classes_and_anchored(names: Iterable[str]) -> WordInfo:
            return (self._mask(names), frozenset(names),
                    tuple(n for name in sorted(names) for n in self.templates_by_anchor.get(name, ())))

        self.word_classes = {word: classes_and_anchored(names) for word, names in classes_of.items()}
        # a slip of a class word counts for the classes whose words may be slipped
        self.slip_word_classes = {word: classes_and_anchored(names) for word, names in self.slip_classes.items()}
        self._shown = [shown_name(rule.source, rule.agent.source if rule.agent else None)
                       for _index, rule, _required in self.templates]
        # Guards written as templates, per rule set: negations, exclusions, each with the
        # classes it requires and a number shared by every guard written alike (the shared
        # exclusions are in every pack): a message works each one out once.
        guard_numbers: dict[tuple[tuple[tuple[str, ...], ...], int, bool], int] = {}

        def guard(rule: TemplateRule) -> tuple[TemplateRule, int, int]:
            number = guard_numbers.setdefault((rule.fragments, rule.gap, rule.any_order), len(guard_numbers))
            return (rule, self._mask(_required(rule)), number)

        self.template_negations: list[list[tuple[TemplateRule, int, int]]] = [
            [guard(g.template) for g in rs.negations if g.template is not None] for rs in self.rule_sets]
        self.template_excludes: list[list[tuple[TemplateRule, int, int]]] = [
            [guard(g.template) for g in rs.exclude if g.template is not None] for rs in self.rule_sets]
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

        def regex_guards(guards: tuple[Guard, ...]) -> list[tuple[str, float, Need]]:
            return [(g.pattern, 0.0, g.need) for g in guards if g.pattern is not None]

        for index, rs in enumerate(self.rule_sets):
            kinds = (("regex", [(r.pattern, r.weight, r.need) for r in rs.regexes]),
                     ("negation", regex_guards(rs.negations)), ("exclude", regex_guards(rs.exclude)))
            for kind, items in kinds:
                for source, weight, raw_need in items:
                    need = _need(raw_need)
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
        self.special = [i for i, rt in enumerate(self.runtime) if rt.only or rt.rs.together]
        self.signalled = [i for i, rs in enumerate(self.rule_sets) if rs.signals and rs.exclude]
        # fuzzy phrases: a phrase typed with a slip or two still shares a pair of
        # neighbouring characters with the message; only those phrases are scored
        self.phrases: list[tuple[str, int, frozenset[str]]] = []  # (phrase, rule set, its chars)
        phrases_by_pair: dict[str, list[int]] = {}
        for index, rs in enumerate(self.rule_sets):
            for phrase in rs.phrases.items if rs.phrases else ():
                number = len(self.phrases)
                self.phrases.append((phrase, index, frozenset(phrase)))
                for pair in {phrase[i:i + 2] for i in range(len(phrase) - 1)}:
                    phrases_by_pair.setdefault(pair, []).append(number)
        # One automaton finds, in one pass, every keyword, every class word, every string
        # a regex needs and every pair of a fuzzy phrase.
        strings = set(self.keywords) | set(atoms_by_string) | set(phrases_by_pair) | set(classes_of)
        none: frozenset[int] = frozenset()  # one shared empty set: most strings need no atoms or jobs
        self.finder = automaton({
            string: ((string, tuple(self.keywords[string])) if string in self.keywords else None,
                     frozenset(atoms_by_string[string]) if string in atoms_by_string else none,
                     frozenset(jobs_by_string[string]) if string in jobs_by_string else none,
                     tuple(phrases_by_pair[string]) if string in phrases_by_pair else (),
                     (string, len(string), self.word_classes[string]) if string in classes_of else None)
            for string in sorted(strings)})
        # Slips are found on a "syllable string": each CJK character replaced by one
        # private-use character per toneless syllable, so 包油 and 包邮 read the same.
        codes: dict[str, str] = {}
        for syllable in sorted(set(program.pinyin.values())):
            codes[syllable] = chr(0xE000 + len(codes))
        self.syllable_table = {ord(c): codes[s] for c, s in program.pinyin.items()}
        coded_keys: dict[str, set[str]] = {}
        for key, words in variants.items():
            parts = key.split(" ")
            if all(p in codes for p in parts):
                coded_keys.setdefault("".join(codes[p] for p in parts), set()).update(words)
        self.variant_finder = automaton({k: (len(k), tuple(sorted(w))) for k, w in coded_keys.items()})

    def _mask(self, names: Iterable[str]) -> int:
        mask = 0
        for name in names:
            mask |= self.class_bit[name]
        return mask

    @staticmethod
    def _templates_of(rs: RuleSet) -> list[TemplateRule]:
        out = []
        for rule in rs.templates:
            out.append(rule)
            if rule.agent is not None:
                out.append(rule.agent)
        out += [g.template for g in (*rs.negations, *rs.exclude) if g.template is not None]
        return out

    def match(self, norm: Normalized, is_token: TokenView, near: bool = False,
              agent: Normalized | None = None) -> Hits:
        """``is_token(start, end)`` says whether a span is a whole jieba token; it is
        called only when a keyword that must be one turns up (most messages need none).
        ``agent`` is the agent's last message, for templates that read it."""
        text = norm.text
        found: dict[int, list[Hit]] = {}
        keyword_hits, active, phrase_candidates, occ = self._scan(text)
        self._keywords(keyword_hits, is_token, found)
        if self.has_variants:
            self._variants(norm, found, occ, is_token)
        _prefer_longest(found, self.group_of)
        near_misses: list[NearMiss] = []
        if occ:
            self._templates(text, active, occ, found, agent)
            if near:
                self._template_near_misses(text, occ, found, near_misses)
        for job in sorted(active & self.positive):
            index, source, weight = self.jobs[job]
            for m in self._pattern(source).finditer(text):
                if m.end() > m.start():
                    found.setdefault(index, []).append(Hit("regex", source, m.start(), m.end(), weight))
                    break
        if phrase_candidates:
            self._fuzzy(norm, phrase_candidates, found, near_misses if near else None)
        for index in self.special:
            runtime = self.runtime[index]
            for words_by_first, particles, weight, shown in runtime.only:
                if _made_of(text, words_by_first, particles):
                    found.setdefault(index, []).append(Hit("only", shown, 0, len(text), weight))
            for rule, tests in zip(runtime.rs.together, runtime.together_tests, strict=True):
                # cheap test first; negations only matter when every group is there
                if not all(test.search(text) for test in tests):
                    continue
                negated = self._negated(index, text, active, occ)
                spans = []
                for group in rule.groups:
                    hit = _first_literal(text, group, negated)
                    if hit is None:
                        break
                    spans.append(hit)
                else:
                    start = min(s for s, _ in spans)
                    end = max(e for _, e in spans)
                    pattern_text = " + ".join("/".join(g) for g in rule.groups)
                    found.setdefault(index, []).append(Hit("together", pattern_text, start, end, rule.weight))
        evidence: list[dict[str, list[Hit]]] = [{} for _ in range(self.group_count)]
        excluded: list[dict[str, str]] = [{} for _ in range(self.group_count)]
        for index, items in found.items():
            if not items:
                continue
            rs = self.rule_sets[index]
            if self.negation_jobs[index] or self.template_negations[index]:
                negated = self._negated(index, text, active, occ)
                if negated:
                    items = [h for h in items if not _overlaps((h.start, h.end), negated)]
            if not items:
                continue
            group_index = self.group_of[index]
            evidence[group_index][rs.id] = items
            reason = self._excluded(index, text, active, occ)
            if reason is not None:
                excluded[group_index][rs.id] = reason
        # a pack that signals (a customer type from punctuation or history) may count with no
        # rule of its own firing: its exclusions must hold then too
        for index in self.signalled:
            if index not in found:
                reason = self._excluded(index, text, active, occ)
                if reason is not None:
                    excluded[self.group_of[index]][self.rule_sets[index].id] = reason
        return Hits(evidence, excluded, near_misses)

    def _scan(self, text: str) -> tuple[list[tuple[int, int, str, tuple[tuple[int, float, bool], ...]]],
                                        set[int], set[int], ClassWords]:
        """One automaton pass: the keywords found, the regex jobs whose required
        strings all occur (only they can match), the fuzzy phrases worth scoring,
        and the class words found."""
        keyword_hits = []
        present: set[int] = set()
        candidates: set[int] = set()
        phrases: set[int] = set()
        items: list[tuple[int, int, str, WordInfo]] = []
        classes_present = 0
        for last, (keyword, atoms, jobs, numbers, class_word) in self.finder.iter(text):
            if class_word is not None:
                word, size, classes = class_word
                items.append((last + 1 - size, last + 1, word, classes))
                classes_present |= classes[0]
            if keyword is not None:
                word, entries = keyword
                keyword_hits.append((last + 1 - len(word), last + 1, word, entries))
            if atoms:
                present |= atoms
                if jobs:
                    candidates |= jobs
            if numbers:
                phrases.update(numbers)
        words = ClassWords(self.class_bit, items, classes_present)
        if not candidates and not self.always:
            return keyword_hits, set(), phrases, words
        active = candidates & self.plain_jobs
        active.update(self.always)
        alternatives = self.job_alternatives
        for job in candidates.difference(active):
            for alt in alternatives[job]:
                if alt <= present:
                    active.add(job)
                    break
        return keyword_hits, active, phrases, words

    def active_regexes(self, text: str) -> list[str]:
        """The regexes (rules, negations, exclusions) the prefilter lets run on ``text``."""
        return sorted({self.jobs[job][1] for job in self._scan(text)[1]})

    def regexes(self) -> list[str]:
        """Every regex of every rule set."""
        return sorted({source for _, source, _ in self.jobs})

    def _templates(self, text: str, active: set[int], occ: ClassWords, found: dict[int, list[Hit]],
                   agent: Normalized | None) -> None:
        agent_occ: ClassWords | None = None
        negated: dict[int, list[tuple[int, int]]] = {}  # per rule set, worked out when needed
        present = occ.present
        memo = occ.memo
        templates = self.templates
        # in the order of the text: the same evidence order in every process
        for number in occ.anchored():
            index, rule, required = templates[number]
            if required & present != required:
                continue
            if rule.agent is not None:
                if agent is None:
                    continue
                if agent_occ is None:
                    agent_occ = self._scan(agent.text)[3]
                if match_template(rule.agent, agent_occ) is None:
                    continue
            result = match_template(rule, occ, memo)
            if result is not None and (self.negation_jobs[index] or self.template_negations[index]):
                spans = negated.get(index)
                if spans is None:
                    spans = negated[index] = self._negated(index, text, active, occ)
                if spans and any(s < result[1] and result[0] < e for s, e in spans):
                    # the first match is negated: a later one may still count
                    result = match_template(rule, occ, memo, avoid=spans)
            if result is not None:
                start, end, parts = result
                found.setdefault(index, []).append(Hit("template", self._shown[number], start, end, rule.weight,
                                                       parts))

    def _template_near_misses(self, text: str, occ: ClassWords, found: dict[int, list[Hit]],
                              near: list[NearMiss]) -> None:
        """Templates that matched all but one fragment (for ``explain``)."""
        fired = {(index, h.pattern) for index, hits in found.items() for h in hits if h.kind == "template"}
        for number, (index, rule, _required_classes) in enumerate(self.templates):
            if (index, self._shown[number]) in fired:
                continue
            missing = near_miss(rule, occ)
            if missing is not None:
                skipped, (start, end) = missing
                count = len(rule.fragments)
                near.append(NearMiss(self.rule_sets[index].id, "template", rule.source,
                                     round((count - 1) / count, 3), 1.0,
                                     f"{text[start:end]} (missing fragment {skipped + 1})"))

    def _pattern(self, source: str) -> re.Pattern[str]:
        pattern = self._compiled.get(source)
        if pattern is None:  # compiled on first use: a one-shot lookup needs few
            pattern = self._compiled[source] = re.compile(source)
        return pattern

    def _negated(self, index: int, text: str, active: set[int], occ: ClassWords) -> list[tuple[int, int]]:
        """Spans of ``text`` inside which the matches of rule set ``index`` do not count."""
        spans = [m.span() for job in self.negation_jobs[index] if job in active
                 for m in self._pattern(self.jobs[job][1]).finditer(text)]
        present = occ.present
        for rule, required, number in self.template_negations[index]:
            if required & present == required:
                found = occ.guard(number, rule)
                if found is not None:
                    spans.append(found)
        return spans

    def _excluded(self, index: int, text: str, active: set[int], occ: ClassWords) -> str | None:
        """The exclusion that vetoes rule set ``index`` for this message, if any."""
        for job in self.exclude_jobs[index]:
            source = self.jobs[job][1]
            if job in active and self._pattern(source).search(text):
                return source
        present = occ.present
        for rule, required, number in self.template_excludes[index]:
            if required & present == required and occ.guard(number, rule) is not None:
                return rule.source
        return None

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
                found.setdefault(index, []).append(Hit("keyword", word, start, end, weight))

    def _variants(self, norm: Normalized, found: dict[int, list[Hit]], occ: ClassWords, tokens: TokenView) -> None:
        """Typing slips (包油 for 包邮) of keywords and of class words.

        What was typed is no slip when it is a word of its own (算了 is not 酸了, 衣物
        not 异物) or cuts through a word of the message (送了 in 派送了 is not 松了).
        """
        text = norm.text
        syllables = text.translate(self.syllable_table)
        exact: list[tuple[int, int]] | None = None  # multi-character words found as typed
        for last, (length, words) in self.variant_finder.iter(syllables):
            start = last + 1 - length
            piece = text[start:start + length]
            for word in words:
                if piece == word:
                    continue
                typed = [a for a, b in zip(piece, word, strict=True) if a != b]
                # A slip changes one character (two in long words) and keeps the rest,
                # and is not a common word of its own (不发 is not a slip of 补发).
                if (len(typed) == length or len(typed) > (1 if length <= 3 else 2)
                        or any(c in _FUNCTION_CHARS for c in typed)):
                    continue
                end = start + length
                if exact is None:
                    exact = [(s, e) for s, e, _w, _c in occ.items if e - s >= 2]
                # (a pack word found as typed that crosses the piece is a token it cuts: known
                # without asking jieba, which a one-shot lookup then need not import)
                if (self.known_words.get(piece, 0) > 0
                        or any(s < start < e or s < end < e for s, e in exact)
                        or not tokens.aligned(start, end)):
                    break  # the same for every word it might stand for
                for index, weight in self.keyword_variants.get(word, ()):
                    found.setdefault(index, []).append(Hit("variant", word, start, start + length, weight * 0.9))
                slipped = self.slip_word_classes.get(word)
                if slipped is not None:
                    occ.add(start, start + length, word, slipped)

    def _fuzzy(self, norm: Normalized, candidates: set[int], found: dict[int, list[Hit]],
               near: list[NearMiss] | None) -> None:
        # imported when a phrase is worth scoring: a one-shot lookup often needs none
        from rapidfuzz import fuzz

        text = norm.text
        chars = frozenset(text)
        for number in sorted(candidates):
            phrase, index, phrase_chars = self.phrases[number]
            # Phrases catch slips in whole questions: a pack that already matched exactly
            # gains nothing from them (explain still shows them all).
            if near is None and found.get(index):
                continue
            runtime = self.runtime[index]
            floor = runtime.fuzzy_threshold - (10 if near is not None else 0)
            # A phrase sharing few of its characters with the message cannot score high:
            # at the threshold a phrase of n characters can lose about n*(100-t)/100 of them.
            distinct = len(phrase_chars)
            if len(phrase_chars & chars) < distinct - max(1, distinct * (100 - floor) // 100 + 1):
                continue
            result = fuzz.partial_ratio_alignment(phrase, text, score_cutoff=floor)
            if result is None:
                continue
            if result.score >= runtime.fuzzy_threshold:
                found.setdefault(index, []).append(Hit("fuzzy", phrase, result.dest_start, result.dest_end,
                                                       runtime.fuzzy_weight * result.score / 100))
            elif near is not None:
                near.append(NearMiss(self.runtime[index].rs.id, "fuzzy", phrase, round(result.score, 1),
                                     runtime.fuzzy_threshold, text[result.dest_start:result.dest_end]))


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


# What the matcher knows of a class word: its classes as bits (for the one-AND tests)
# and as names (for "is it a word of this class"), and the templates anchored on them.
WordInfo = tuple[int, frozenset[str], tuple[int, ...]]


class ClassWords:
    """The class words found in one message, in the order the automaton found them.

    ``present`` has the bit of every class with a word in the message. Where the words
    of one class are (``get``, what template matching asks) is worked out the first
    time a template asks: a word belongs to many classes (吗 to a dozen), and most of
    them matter to no template the message could fire.
    """

    __slots__ = ("_bits", "items", "present", "_by_class", "memo", "_guards")

    def __init__(self, bits: dict[str, int], items: list[tuple[int, int, str, WordInfo]], present: int) -> None:
        self._bits = bits
        # (start, end, word, (its classes as bits and as names, the templates anchored on them))
        self.items = items
        self.present = present
        self._by_class: dict[str, list[tuple[int, int, str]]] = {}
        self.memo: dict[tuple[str, ...], list[Any]] = {}  # fragment spans, for rule_templates
        self._guards: dict[int, tuple[int, int] | None] = {}

    def guard(self, number: int, rule: TemplateRule) -> tuple[int, int] | None:
        """Where guard ``number`` (``rule``) matches in this message, worked out once."""
        if number in self._guards:
            return self._guards[number]
        found = self._guards[number] = template_span(rule, self, self.memo)
        return found

    def add(self, start: int, end: int, word: str, classes: WordInfo) -> None:
        self.items.append((start, end, word, classes))
        self.present |= classes[0]
        # what was worked out from the words found so far is stale
        self._by_class.clear()
        self.memo.clear()
        self._guards.clear()

    def __bool__(self) -> bool:
        return bool(self.items)

    def get(self, name: str, default: Sequence[tuple[int, int, str]] = ()) -> Sequence[tuple[int, int, str]]:
        found = self._by_class.get(name)
        if found is None:
            bit = self._bits.get(name, 0)
            if not self.present & bit:
                return default
            found = self._by_class[name] = sorted([(s, e, w) for s, e, w, (_m, names, _a) in self.items
                                                   if name in names])
        return found

    def anchored(self) -> Iterable[int]:
        """The templates anchored on a class present, each once, in the order of the text."""
        if len(self.items) == 1:
            return self.items[0][3][2]
        return dict.fromkeys([n for _s, _e, _w, (_m, _names, anchored) in self.items for n in anchored])


class _Finder:
    """``iter(text)`` yields ``(last index, value)``; nothing when there are no words."""

    def __init__(self, automaton: Any) -> None:
        self.automaton = automaton

    def iter(self, text: str) -> Any:
        return self.automaton.iter(text) if self.automaton is not None and text else ()


def _first_literal(text: str, group: Sequence[str], negated: list[tuple[int, int]]) -> tuple[int, int] | None:
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
    spans = [(index, h) for index, items in found.items() for h in items if h.kind in ("keyword", "variant")]
    if len(spans) < 2:
        return
    # Only overlapping hits matter: sorted by start, each hit looks at its neighbours
    # (a message of 2000 repeated keywords stays fast).
    spans.sort(key=lambda pair: pair[1].start)
    starts = [h.start for _, h in spans]
    longest = max(h.end - h.start for _, h in spans)
    drop: set[int] = set()
    for index, e in spans:
        s1, e1 = e.start, e.end
        for other_index, f in spans[bisect_left(starts, s1 - longest + 1):bisect_left(starts, e1)]:
            if other_index == index or group_of[other_index] != group_of[index]:
                continue
            s2, e2 = f.start, f.end
            if s2 <= s1 and e1 <= e2 and e2 - s2 > e1 - s1:
                drop.add(id(e))
                break
            if e.kind == "variant" and f.kind == "keyword" and s2 < e1 and s1 < e2 and e2 - s2 >= e1 - s1:
                drop.add(id(e))
                break
    if drop:
        for index, items in found.items():
            found[index] = [h for h in items if id(h) not in drop]




