"""Rule proposals from what the packs left unanswered.

The messages without an intent are grouped by what many of them share (a jieba
word or a run of characters, the *anchor*); the words that vary next to the
anchor become a word class, and the group becomes a template in the rule
language of the packs (``{class} anchor``: a space allows a gap of up to four
characters). A group whose lines hold words of a pack is proposed for that
pack's intent, otherwise as a new one (``mined_N``). Nothing is written into
the packs: each proposal is a YAML snippet for the shop to review and paste.

A proposal's support counts the messages its template really matches, with the
engine's own template matching (``suggest.rule_templates.matches_text``).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

from .errors import InputError
from .rule_templates import matches_text

if TYPE_CHECKING:
    from .chatlog import LogLine
    from .engine import Engine
    from .packs import PackSet

MAX_LINES = 50_000  # distinct unanswered lines mined at most (the most frequent first)
MAX_CLASS_WORDS = 8
MAX_EXAMPLES = 8
NEAR_DUPLICATE = 88  # rapidfuzz ratio: examples this alike show nothing new
_CJK = re.compile(r"[\u4e00-\u9fff]+")
_WORDISH = re.compile(r"[\u4e00-\u9fffa-z0-9]")
# Words every kind of message has: as an anchor they would group everything with anything.
GENERIC = frozenset(["这个", "那个", "我的", "你的", "你们", "我们", "他们", "一下", "可以", "什么", "怎么", "还是", "就是", "没有", "不是", "是不是", "现在", "已经", "为什么", "请问", "你好", "谢谢", "知道", "一个", "这样", "那么", "怎么办", "是的", "好的", "有没有", "能不能", "一样", "这边", "那边", "然后", "因为", "所以", "但是", "还有", "如果", "的话", "吗", "了", "麻烦", "帮我", "给我", "亲亲", "客服", "需要", "时候", "东西", "这种", "问题", "为啥", "咋办", "一直", "不了", "了吗", "的吗", "是什么", "多少", "几个", "我要", "我想", "不要"])
_PARTICLES = frozenset("的了吗呢吧啊呀么嘛哦噢哈是我你他她它这那有在和就都也还又不没")


def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(60)
    return jieba


def unanswered_messages(lines: Iterable[LogLine], engine: Engine, limit: int = MAX_LINES) -> Counter[str]:
    """How often each buyer message without an intent came (normalised text), read as the report reads.

    At most ``limit`` distinct texts are kept (later new ones are dropped), so memory stays bounded.
    """
    from .report import ReportCounts, analyse_log

    found: Counter[str] = Counter()
    for _, analysis in analyse_log(lines, engine, ReportCounts()):
        if (analysis is not None and not analysis.intents and analysis.normalized
                and (analysis.normalized in found or len(found) < limit)):
            found[analysis.normalized] += 1
    return found


def pack_hints(texts: Iterable[str], engine: Engine) -> dict[str, set[str]]:
    """Per text, the intents whose rules fired on it without reaching the threshold (``Engine.explain``)."""
    hints: dict[str, set[str]] = {}
    for text in texts:
        try:
            rows = engine.explain(text).rows
        except InputError:
            continue
        hints[text] = {row.id for row in rows if row.kind == "intent" and (row.evidence or row.excluded_by)}
    return hints


# -- proposals ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Proposal:
    """A rule proposed from one group of unanswered messages."""

    number: int
    intent: str  # a pack's id when the group's words already appear in it, else mined_N
    known_intent: bool
    support: int  # unanswered messages the template matches
    anchor: str
    class_name: str | None
    class_words: tuple[str, ...]
    template: str
    examples: tuple[str, ...]

    @property
    def classes(self) -> dict[str, list[str]]:
        return {self.class_name: list(self.class_words)} if self.class_name else {}

    def matches(self, text: str) -> bool:
        return matches_text(self.template, self.classes, text)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.intent, "known_intent": self.known_intent, "support": self.support,
                "classes": self.classes, "templates": [self.template], "examples": {"match": list(self.examples)}}

    def to_yaml(self) -> str:
        """The snippet to paste into a pack (strings quoted as JSON, which YAML reads as is)."""
        def q(text: str) -> str:
            return json.dumps(text, ensure_ascii=False)

        why = (f"intent {self.intent} (its words already appear in that pack)" if self.known_intent
               else "a new intent (no pack's words match)")
        lines = [f"# proposed: {self.support} messages, {why}",
                 f"id: {self.intent}" + ("" if self.known_intent else "            # rename to the shop's own id")]
        if self.class_name:
            lines += ["classes:", f"  {self.class_name}: [{', '.join(q(w) for w in self.class_words)}]"]
        lines += ["templates:", f"  - {q(self.template)}",
                  "examples:", f"  match: [{', '.join(q(e) for e in self.examples)}]"]
        return "\n".join(lines) + "\n"


def pack_vocabulary(packs: PackSet) -> dict[str, set[str]]:
    """Per intent, the words its pack already names (keywords, phrases, class words), from public pack data."""
    vocabulary: dict[str, set[str]] = defaultdict(set)
    for pack in packs.intents:
        words = vocabulary[str(pack["id"])]
        for keyword in pack.get("keywords", []) or []:
            text = keyword.get("text") if isinstance(keyword, dict) else keyword
            if isinstance(text, str) and len(text) >= 2:
                words.add(text.lower())
        phrases = pack.get("phrases") or {}
        for item in (phrases.get("items", []) if isinstance(phrases, dict) else []):
            if isinstance(item, str) and len(item) >= 2:
                words.add(item.lower())
        classes = pack.get("classes") or {}
        if isinstance(classes, dict):
            for members in classes.values():
                words.update(w.lower() for w in members or [] if isinstance(w, str) and len(w) >= 2)
    return dict(vocabulary)


def _features(text: str, spans: list[tuple[str, int, int]]) -> set[str]:
    """jieba words, and every run of 2-4 characters (jieba glues words: 菜鸟/站取/不到)."""
    found = {w for w, _, _ in spans if len(w) >= 2 and _WORDISH.search(w)}
    for run in _CJK.findall(text):
        for n in (2, 3, 4):
            found.update(run[i:i + n] for i in range(len(run) - n + 1))
    return {f for f in found if f not in GENERIC and not all(c in _PARTICLES for c in f)}


def _side_word(text: str, spans: list[tuple[str, int, int]], at: int, before: bool) -> str:
    """The jieba word (or its part) right before ``at`` (or right after).

    A single character takes the next word out with it: jieba cuts 快递柜 into
    快递/柜 and 菜鸟站 into 菜鸟/站, and 柜 alone says little.
    """
    for i, (_, start, end) in enumerate(spans):
        if before and start < at <= end:
            word = text[start:at]
            if len(word) == 1 and i > 0 and _CJK.fullmatch(spans[i - 1][0]):
                word = text[spans[i - 1][1]:at]
            return word
        if not before and start <= at < end:
            word = text[at:end]
            if len(word) == 1 and i + 1 < len(spans) and _CJK.fullmatch(spans[i + 1][0]):
                word = text[at:spans[i + 1][2]]
            return word
    return ""


def _class_for(texts: Sequence[tuple[str, int]], anchor: str) -> tuple[int, bool, list[str]] | None:
    """(messages covered, before?, words) for the words that vary next to the anchor; None when none vary."""
    jieba = _jieba()
    sides: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    for text, count in texts:
        at = text.find(anchor)
        spans = list(jieba.tokenize(text))
        for before in (True, False):
            word = _side_word(text, spans, at if before else at + len(anchor), before)
            if word and _CJK.fullmatch(word) and not all(c in _PARTICLES for c in word):
                sides[before][word] += count
    total = sum(count for _, count in texts)
    best: tuple[int, bool, list[str]] | None = None
    for before, counter in sides.items():
        words = [w for w, _ in counter.most_common(MAX_CLASS_WORDS)]
        covered = sum(counter[w] for w in words)
        if len(words) >= 2 and covered * 2 >= total and (best is None or covered > best[0]):
            best = (covered, before, words)
    return best


def _best_class(texts: Sequence[tuple[str, int]], anchor: str) -> tuple[str, bool, list[str]] | None:
    """The anchor, trimmed where that makes whole words of the class (驿站 | 取不, not 驿 | 站取不)."""
    variants = {anchor, *(anchor[i:] for i in (1, 2)), *(anchor[:-i] for i in (1, 2))}
    best: tuple[tuple[int, int], str, bool, list[str]] | None = None
    for variant in sorted(v for v in variants if len(v) >= 2 and v not in GENERIC):
        found = _class_for(texts, variant)
        if found is not None:
            key = (found[0], -len(variant))
            if best is None or key > best[0]:
                best = (key, variant, found[1], found[2])
    return (best[1], best[2], best[3]) if best else None


def _distinct(texts: Iterable[str], n: int) -> list[str]:
    chosen: list[str] = []
    for text in texts:
        if all(fuzz.ratio(text, c) < NEAR_DUPLICATE for c in chosen):
            chosen.append(text)
            if len(chosen) >= n:
                break
    return chosen


def mine(unanswered: Mapping[str, int], packs: PackSet | None = None, *, min_support: int = 3,
         max_proposals: int = 30, hints: Mapping[str, set[str]] | None = None) -> list[Proposal]:
    """Proposals from unanswered messages (normalised text -> how often it came), best supported first.

    A group is proposed for an intent when a third of its messages hold words
    of that intent's pack: a keyword, phrase or class word as a substring, or
    (``hints``, from ``pack_hints``) a rule of the pack that fired below its threshold.
    """
    jieba = _jieba()
    lines = sorted(unanswered.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LINES]
    postings: dict[str, list[int]] = defaultdict(list)
    for index, (text, _) in enumerate(lines):
        for feature in _features(text, list(jieba.tokenize(text))):
            postings[feature].append(index)
    weight = [count for _, count in lines]
    candidates = {f: ids for f, ids in postings.items() if sum(weight[i] for i in ids) >= min_support}
    vocabulary = pack_vocabulary(packs) if packs else {}
    covered: set[int] = set()
    proposals: list[Proposal] = []
    while candidates and len(proposals) < max_proposals:
        def score(feature: str) -> tuple[float, int, str]:
            open_weight = sum(weight[i] for i in candidates[feature] if i not in covered)
            return (open_weight * (1 + 0.1 * (len(feature) - 2)), len(feature), feature)

        anchor = max(candidates, key=score)
        group = [i for i in candidates.pop(anchor) if i not in covered]
        if sum(weight[i] for i in group) < min_support:
            break  # the best left has too little support: so has every other
        proposal = _propose(len(proposals) + 1, anchor, [lines[i] for i in group], lines, vocabulary, min_support,
                            hints or {})
        if proposal is None:
            continue
        proposals.append(proposal)
        covered.update(i for i in group if proposal.matches(lines[i][0]))
    return sorted(proposals, key=lambda p: (-p.support, p.number))


def _propose(number: int, anchor: str, group: Sequence[tuple[str, int]], lines: Sequence[tuple[str, int]],
             vocabulary: Mapping[str, set[str]], min_support: int,
             hints: Mapping[str, set[str]]) -> Proposal | None:
    side = _best_class(group, anchor)
    class_name = f"mined_{number}_thing" if side else None
    if side is None:
        if len(anchor) < 3:
            return None  # two characters alone say too little to be a rule
        template, words = anchor, list[str]()
    else:
        anchor, before, words = side
        template = f"{{{class_name}}} {anchor}" if before else f"{anchor} {{{class_name}}}"
    classes = {class_name: words} if class_name else {}
    matched = [(text, count) for text, count in lines if matches_text(template, classes, text)]
    support = sum(count for _, count in matched)
    if support < min_support:
        return None
    hits: Counter[str] = Counter()
    for text, count in matched:
        named = {intent for intent, known in vocabulary.items() if any(w in text for w in known)}
        hits.update({intent: count for intent in named | hints.get(text, set())})
    intent, best = hits.most_common(1)[0] if hits else ("", 0)
    known_intent = best * 3 >= support and best > 0
    return Proposal(number, intent if known_intent else f"mined_{number}", known_intent, support, anchor,
                    class_name, tuple(words), template, tuple(_distinct((t for t, _ in matched), MAX_EXAMPLES)))
