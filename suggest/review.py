"""Check an agent's draft reply against what the training material calls wrong.

The rules are data (``review/rules.yaml``): flat refusals to bargain, telling
an upset buyer to go and refund, insisting the quality is fine, blaming the
courier or the buyer, bare one-word answers, rude words, promising an exact
arrival day. Each problem carries its span in the draft, a short reason in
Chinese and a quick reply to send instead, taken from the reply packs.

Context matters, so a rule can carry:

* ``negations``: a match inside one of these spans does not count
  (一般明天到 is an estimate, 明天到 alone is a promise);
* ``soft`` patterns, fine when the draft also has a ``softener``
  (不能再便宜了 is fine when the draft goes on to offer a coupon);
* ``buyer`` patterns, checked only when the buyer's message shows one of the
  given intents or customer types (质量没问题 answers a pre-sale question
  well, and a complaint badly).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from .errors import InputError, PackError, Problem
from .normalize import normalize
from .results import Analysis, Reply, TagMatch
from .schema import Flag, Identifier, ListOf, Mapping, Number, Regex, Reporter, Text, validate
from .sources import bundled_dir
from .yamlfile import KeyPath


class ReplySource(Protocol):
    """What the review needs of an engine (``Engine`` is one; no import, so no cycle)."""

    def analyze(self, text: str, history: Sequence[str] = (), *, top: int = 3) -> Analysis: ...

    def reply_for(self, intent: str, tags: Sequence[TagMatch] = (), stage: str | None = None
                  ) -> Reply | None: ...

    def reply_by_id(self, reply_id: str) -> Reply | None: ...

# -- the rules file --------------------------------------------------------------

REVIEW_PATTERN = Mapping(
    "review pattern",
    {
        "pattern": Regex(),
        # fine when the draft also matches one of the rule's softeners
        "soft": Flag(),
        # checked only when the buyer's message shows one of these intents or types
        "buyer": ListOf(Identifier(), min_items=1),
        "reason": Text(),
    },
    ("pattern",),
    shorthand=("pattern", Regex()),
)


def _check_rule(rule: dict[str, Any], path: KeyPath, report: Reporter) -> None:
    if any(isinstance(p, dict) and p.get("soft") for p in rule.get("patterns", []) or []) \
            and not rule.get("softeners"):
        report.error(path, "expected 'softeners' in a review rule that has soft patterns")


REVIEW_RULE = Mapping(
    "review rule",
    {
        "id": Identifier(),
        "reason": Text(),
        "intent": Identifier(),
        "reply": Identifier(),
        "patterns": ListOf(REVIEW_PATTERN, min_items=1),
        "softeners": ListOf(Regex()),
        "negations": ListOf(Regex()),
        # the rule a draft of nothing but stickers or emoji gets
        "wordless": Flag(),
    },
    ("id", "reason", "intent", "patterns"),
    extra=_check_rule,
)


def _check_unique(doc: dict[str, Any], path: KeyPath, report: Reporter) -> None:
    seen: set[str] = set()
    for i, rule in enumerate(doc.get("rules", []) or []):
        rule_id = rule.get("id") if isinstance(rule, dict) else None
        if isinstance(rule_id, str):
            if rule_id in seen:
                report.error((*path, "rules", i, "id"), f"expected a unique rule id, got {rule_id!r} twice")
            seen.add(rule_id)


OFF_TOPIC = Mapping(
    "off_topic check",
    {
        "reason": Text(),
        "min_score": Number(0.0, 1.0),
        "ignore": ListOf(Identifier()),
        "related": ListOf(ListOf(Identifier(), min_items=2)),
    },
    ("reason",),
)

REVIEW_RULES = Mapping("review rules", {"rules": ListOf(REVIEW_RULE, min_items=1), "off_topic": OFF_TOPIC},
                       ("rules",), extra=_check_unique)
OFF_TOPIC_ID = "off_topic"


def bundled_rules() -> Path:
    return bundled_dir("review") / "rules.yaml"


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    soft: bool
    buyer: frozenset[str]
    reason: str


@dataclass(frozen=True)
class ReviewRule:
    id: str
    reason: str
    intent: str
    reply: str | None
    patterns: tuple[_Pattern, ...]
    softeners: tuple[re.Pattern[str], ...]
    negations: tuple[re.Pattern[str], ...]
    wordless: bool = False


@dataclass(frozen=True)
class OffTopic:
    """When a draft answers another question than the buyer asked (see rules.yaml)."""

    reason: str
    min_score: float
    ignore: frozenset[str]
    related: tuple[frozenset[str], ...]

    def answers(self, buyer: set[str], draft: set[str]) -> bool:
        """Does a draft about ``draft`` answer a buyer asking about ``buyer``?"""
        return any(b == d or any(b in group and d in group for group in self.related)
                   for b in buyer for d in draft)


@dataclass(frozen=True)
class ReviewRules:
    rules: tuple[ReviewRule, ...]
    off_topic: OffTopic | None

    def __iter__(self) -> Iterator[ReviewRule]:  # the rules, as load_rules gave them before off_topic
        return iter(self.rules)


def load_rules(path: str | Path | None = None) -> ReviewRules:
    """Read, validate and compile a review-rules file; raises PackError with file:line."""
    target = Path(path) if path is not None else bundled_rules()
    try:
        stat = target.stat()
        key = (str(target.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = (str(target), 0, 0)
    return _load_rules(*key)


@lru_cache(maxsize=8)
def _load_rules(path: str, _mtime: int, _size: int) -> ReviewRules:
    # Imported here: a warm analyze() never needs the YAML parser.
    from .yamlfile import read_yaml

    doc = read_yaml(path)
    problems: list[Problem] = validate(doc, REVIEW_RULES)
    if problems:
        raise PackError(problems)
    rules = []
    for data in doc.data["rules"]:
        patterns = []
        for item in data["patterns"]:
            item = {"pattern": item} if isinstance(item, str) else item
            patterns.append(_Pattern(re.compile(item["pattern"]), bool(item.get("soft", False)),
                                     frozenset(item.get("buyer", ())), item.get("reason", data["reason"])))
        rules.append(ReviewRule(
            id=data["id"], reason=data["reason"], intent=data["intent"], reply=data.get("reply"),
            patterns=tuple(patterns),
            softeners=tuple(re.compile(p) for p in data.get("softeners", [])),
            negations=tuple(re.compile(p) for p in data.get("negations", [])),
            wordless=bool(data.get("wordless", False))))
    check = doc.data.get("off_topic")
    off_topic = OffTopic(check["reason"], float(check.get("min_score", 0.6)), frozenset(check.get("ignore", [])),
                         tuple(frozenset(group) for group in check.get("related", []))) if check else None
    return ReviewRules(tuple(rules), off_topic)


# -- results ---------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewProblem:
    id: str
    reason: str
    start: int  # span in the draft as given (end exclusive)
    end: int
    text: str
    suggestion: str  # a quick reply to send instead

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "start": self.start, "end": self.end,
                "text": self.text, "suggestion": self.suggestion}


@dataclass(frozen=True)
class Review:
    draft: str
    problems: tuple[ReviewProblem, ...] = ()
    buyer_message: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {"draft": self.draft, "buyer_message": self.buyer_message, "ok": self.ok,
                "problems": [p.to_dict() for p in self.problems]}


# -- checking --------------------------------------------------------------------

def find_problems(rules: Sequence[ReviewRule], text: str, buyer: frozenset[str] | None
                  ) -> list[tuple[ReviewRule, int, int, str]]:
    """Spans of ``text`` (normalised) each rule objects to, as (rule, start, end, reason).

    ``buyer`` is the buyer message's intents and customer types, or None when
    there is no buyer message (then context-only patterns are skipped).
    """
    found: list[tuple[ReviewRule, int, int, str]] = []
    for rule in rules:
        negated = [m.span() for neg in rule.negations for m in neg.finditer(text) if m.end() > m.start()]
        softened = any(s.search(text) for s in rule.softeners)
        spans: list[tuple[int, int, str]] = []
        for pattern in rule.patterns:
            if pattern.soft and softened:
                continue
            if pattern.buyer and (buyer is None or not pattern.buyer & buyer):
                continue
            for m in pattern.regex.finditer(text):
                start, end = m.span()
                if end <= start or any(a <= start and end <= b for a, b in negated):
                    continue
                spans.append((start, end, pattern.reason))
        # one problem per place: overlapping hits of one rule are one mistake
        spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        last_end = -1
        for start, end, reason in spans:
            if start >= last_end:
                found.append((rule, start, end, reason))
                last_end = end
            elif end > last_end:
                rule_, s0, _, r0 = found[-1]
                found[-1] = (rule_, s0, end, r0)
                last_end = end
    found.sort(key=lambda f: (f[1], f[2]))
    return found


def review_draft(engine: ReplySource, draft: str, buyer_message: str | None = None,
                 *, rules: str | Path | None = None) -> Review:
    """Flag what is wrong with ``draft``; ``buyer_message`` (what it answers) adds context."""
    if not isinstance(draft, str):
        raise InputError(f"expected the draft as text, got {type(draft).__name__}")
    if buyer_message is not None and not isinstance(buyer_message, str):
        raise InputError(f"expected the buyer's message as text, got {type(buyer_message).__name__}")
    norm = normalize(draft)
    if not norm.text and not norm.emoji and not norm.emotes:
        raise InputError("the draft is empty (nothing but spaces or control characters)")
    compiled = load_rules(rules)
    analysis = None
    if buyer_message is not None and buyer_message.strip():
        try:
            analysis = engine.analyze(buyer_message)
        except InputError:
            analysis = None  # nothing readable in it: review without context
    buyer = frozenset(analysis.intent_ids + analysis.tag_ids) if analysis is not None else None
    problems = []
    suggestions: dict[str, str] = {}
    found = find_problems(compiled.rules, norm.text, buyer)
    wordless = not any(c.isalnum() for c in norm.text)
    if wordless:
        # Only a sticker or emoji: as bare as a one-word answer, whatever the words rules say.
        bare = next((r for r in compiled.rules if r.wordless), None)
        found = [(bare, 0, 0, bare.reason)] if bare is not None else []
    for rule, start, end, reason in found:
        o_start, o_end = (0, len(draft)) if wordless else norm.span(start, end)
        if rule.id not in suggestions:
            suggestions[rule.id] = _suggestion(engine, rule, analysis)
        problems.append(ReviewProblem(rule.id, reason, o_start, o_end, draft[o_start:o_end],
                                      suggestions[rule.id]))
    if analysis is not None and compiled.off_topic is not None and not wordless:
        off = _off_topic(engine, compiled.off_topic, draft, analysis)
        if off is not None:
            problems.append(off)
            problems.sort(key=lambda p: (p.start, p.end))
    return Review(draft, tuple(problems), buyer_message)


def _off_topic(engine: ReplySource, check: OffTopic, draft: str, buyer: Analysis) -> ReviewProblem | None:
    """The draft read as the engine reads a buyer: flagged only when both sides have a
    clear need and none of the draft's answers any of the buyer's."""
    asked = set(buyer.intent_ids) - check.ignore
    if not asked or not buyer.replies:
        return None
    try:
        read = engine.analyze(draft, top=0)
    except InputError:
        return None
    answered = [m for m in read.intents if m.score >= check.min_score and m.id not in check.ignore]
    if not answered or check.answers(asked, {m.id for m in answered}):
        return None
    evidence = answered[0].evidence
    start, end = (evidence[0].start, evidence[0].end) if evidence else (0, len(draft))
    if end <= start:
        start, end = 0, len(draft)
    reason = f"{check.reason}（买家问的是{'、'.join(sorted(asked))}，草稿答的是{answered[0].id}）"
    return ReviewProblem(OFF_TOPIC_ID, reason, start, end, draft[start:end], buyer.replies[0].text)


def _suggestion(engine: ReplySource, rule: ReviewRule, analysis: Analysis | None) -> str:
    """A quick reply for the situation: the buyer's own need when known, else the rule's."""
    if analysis is not None:
        for reply in analysis.replies:
            if reply.intent == rule.intent:
                return reply.text
        if rule.intent in analysis.intent_ids:
            fit = engine.reply_for(rule.intent, analysis.tags, analysis.stage)
            if fit is not None:
                return fit.text
        if analysis.replies:
            return analysis.replies[0].text
    chosen: Reply | None = engine.reply_by_id(rule.reply) if rule.reply else None
    if chosen is None:
        tags = analysis.tags if analysis is not None else ()
        chosen = engine.reply_for(rule.intent, tags)
    return chosen.text if chosen is not None else ""
