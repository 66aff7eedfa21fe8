"""One message through the compiled packs: matching, intents, customer types,
situations, stage, slots and replies.

This is the per-message hot path, compiled to C with mypyc when installed (see
pyproject.toml). ``engine`` is the pure-Python boundary around it: it checks what a
caller passes (any object may arrive there) and hands this module typed values.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from typing import Any

from .matching import Hits, Matcher, noisy_or, to_evidence
from .normalize import Normalized, normalize
from .program import Hit, Program, Signal
from .results import Analysis, Evidence, IntentMatch, Reply, TagMatch, assemble
from .sizechart import SIZE_CHARTS_KEY, SizeCharts
from .slots import NO_FACTS, SlotFinder
from .sources import PackSources
from .tokenizer import Tokenizer

# Bare answers to an agent's question carry no need of their own (taxonomy: 是的 is []),
# so they never inherit an intent from the history.
_BARE_ANSWER = re.compile(r"^(是的?|对的?|对啊|是啊|不是|没有|没|有|行|可以|不用|不要|嗯|哦|噢|啊)[啊呀哦的了吧呢]?[.。!！]?$")
_FOLLOW_UP_MAX_CHARS = 14
# 那M呢, 那40的呢: a follow-up that carries the last question over to a new value.
_FOLLOW_UP = re.compile(r"^(那|那么)?[^，。,]{1,8}呢[?？]?$")
_HISTORY_SIGNALS = frozenset(("short_messages", "history_intents"))
_ONLY_PUNCTUATION = re.compile(r"^[\s?？.。!！~～…]*$")


class State:
    """Everything compiled from one set of packs. Never mutated after creation."""

    def __init__(self, program: Program, sources: PackSources) -> None:
        self.sources = sources
        self.matcher = Matcher(program)
        self.intent_sets, self.tag_sets, self.situation_sets = self.matcher.groups
        self.intent_by_id, self.tag_by_id, self.situation_by_id = self.matcher.by_id
        self.situation_order = {rs.id: i for i, rs in enumerate(self.situation_sets)}
        self.intent_order = {rs.id: i for i, rs in enumerate(self.intent_sets)}
        self.tag_order = {rs.id: i for i, rs in enumerate(self.tag_sets)}
        self.yielding = [rs for rs in self.intent_sets if rs.yields_to]
        self.signalled = [rs for rs in self.tag_sets if rs.signals]
        # those with a signal that reads the current message alone (not the history)
        self.signalled_now = [rs for rs in self.signalled if {s.name for s in rs.signals} - _HISTORY_SIGNALS]
        self.fallback_ids = frozenset(rs.id for rs in self.intent_sets if rs.fallback)
        # answered, never scored as labels: needs outside the taxonomy, and the fallback
        self.outside_taxonomy = frozenset(rs.id for rs in self.intent_sets if rs.other) | self.fallback_ids
        freq, total = program.jieba
        self.tokenizer = Tokenizer(dict(freq), total)
        self.shop: dict[str, Any] = program.shop
        from .replies import ReplyBook

        self.replies = ReplyBook.from_program(program)
        self.slots = SlotFinder(program.slots)
        self.size_charts = SizeCharts(self.shop.get(SIZE_CHARTS_KEY))
        self._history_cache: OrderedDict[str, tuple[IntentMatch, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def own_intents(self, text: str) -> tuple[IntentMatch, ...]:
        """Intents of a history message on its own (memoised: chat repeats them)."""
        with self._lock:
            hit = self._history_cache.get(text)
            if hit is not None:
                self._history_cache.move_to_end(text)
                return hit
        norm = normalize(text)
        result = self.resolve(norm, self.matcher.match(norm, self.tokenizer.lazy(norm.text)))
        self._remember(text, result)
        return result

    def _remember(self, text: str, intents: tuple[IntentMatch, ...]) -> None:
        with self._lock:
            self._history_cache[text] = intents
            if len(self._history_cache) > 512:
                self._history_cache.popitem(last=False)

    def resolve(self, norm: Normalized, hits: Hits) -> tuple[IntentMatch, ...]:
        scored: dict[str, float] = {}
        excluded = hits.excluded[0]
        found = hits.groups[0]
        by_id = self.intent_by_id
        for rs_id, evidence in found.items():  # only the packs that found something
            if rs_id not in excluded:
                score = noisy_or(evidence)
                if score >= by_id[rs_id].threshold:
                    scored[rs_id] = score
        if self.fallback_ids and not self.fallback_ids.issuperset(scored):
            for rs_id in self.fallback_ids.intersection(scored):  # another intent was found
                del scored[rs_id]
        kept = dict(scored)
        for rs in self.yielding:
            if rs.id in kept and any(
                (other in scored and other != rs.id) if other != "any"
                else any(o != rs.id for o in scored)
                for other in rs.yields_to
            ):
                del kept[rs.id]
        order = self.intent_order
        ranked = sorted(kept.items(), key=lambda item: (-item[1], order[item[0]]))  # ties: pack order
        return tuple(assemble(IntentMatch, id=id, score=score, evidence=evidence_of(norm, found[id]))
                     for id, score in ranked)

    def analyze(self, text: str, norm: Normalized, history: tuple[str, ...], agent: Normalized | None, top: int,
                started: float) -> Analysis:
        """The whole result for one checked message (``started``: when the caller began)."""
        tokens = self.tokenizer.lazy(norm.text)
        hits = self.matcher.match(norm, tokens, agent=agent)
        intents = self.resolve(norm, hits)
        if agent is None:
            # what own_intents would work out for this text: the buyer's next message has
            # this one in its history (a live chat, a chat log in batch), so it is kept
            self._remember(text, intents)
        only_fallback = all(m.id in self.fallback_ids for m in intents)  # (true when there are none)
        if only_fallback and intents and _ONLY_PUNCTUATION.match(norm.text):
            intents = ()  # a bare ？ is a nudge: the history answers it, or nothing does
        if history and (only_fallback or _FOLLOW_UP.search(norm.text)):
            lifted = _lift_from_history(self, norm, history)
            if only_fallback and any(m.id not in self.fallback_ids for m in lifted):
                intents = ()  # the history says what the buyer means: no holding reply
            intents = _merge(intents, lifted)
        matched = time.perf_counter()
        tags = _tags(self, norm, hits, history, intents)
        situations = _situations(self, hits, intents)
        stage = self.replies.stage(intents, norm.text, situations)
        earlier: tuple[str, ...] = ()
        if history:
            before = [m for h in history[-3:] for m in self.own_intents(h)]
            earlier = tuple(dict.fromkeys(m.id for m in before))
            if stage is None:  # 好的谢谢 closes the stage the chat was in
                stage = self.replies.stage(before, None)
        slots = self.slots.find_all(norm, history)
        facts = self.slots.facts(slots, self.size_charts, (norm.text, *reversed(history))) if slots else NO_FACTS
        replies: tuple[Reply, ...] = self.replies.choose(intents, tags, stage, top=top, normalized=norm.text,
                                                          situations=situations, earlier=earlier, facts=facts)
        done = time.perf_counter()
        return assemble(Analysis, text=text, normalized=norm.text, intents=intents, tags=tags, replies=replies,
                        situations=situations, slots=slots, stage=stage, truncated=norm.truncated,
                        timings={"intents": matched - started, "total": done - started})


def _strongest_first(hit: Hit) -> tuple[float, int]:
    return (-hit.weight, hit.start)


def evidence_of(norm: Normalized, hits: list[Hit]) -> tuple[Evidence, ...]:
    """The hits that produced a result, strongest first, each once, as Evidence."""
    if len(hits) == 1:  # the common case
        return (to_evidence(norm, hits[0]),)
    seen: set[tuple[str, str, int]] = set()
    out = []
    for hit in sorted(hits, key=_strongest_first):
        key = (hit.kind, hit.pattern, hit.start)
        if key not in seen:
            seen.add(key)
            out.append(to_evidence(norm, hit))
    return tuple(out)



def _merge(own: tuple[IntentMatch, ...], lifted: tuple[IntentMatch, ...]) -> tuple[IntentMatch, ...]:
    have = {m.id for m in own}
    return own + tuple(m for m in lifted if m.id not in have)


def _lift_from_history(state: State, norm: Normalized, history: tuple[str, ...]) -> tuple[IntentMatch, ...]:
    """A short follow-up (那M呢, ？, 还是没动) takes the need of the buyer's last message."""
    text = norm.text
    bare_punctuation = bool(_ONLY_PUNCTUATION.match(text))
    if len(text) > _FOLLOW_UP_MAX_CHARS or _BARE_ANSWER.match(text):
        return ()
    for earlier in reversed(history[-3:]):
        previous = state.own_intents(earlier)
        lifted = []
        for match in previous:
            rs = state.intent_by_id[match.id]
            if not rs.lift and not bare_punctuation:
                continue
            ev = to_evidence(norm, Hit("history", earlier, 0, len(text), match.score * 0.8))
            lifted.append(IntentMatch(match.id, round(match.score * 0.8, 6), (ev,)))
        if lifted:
            return tuple(lifted)
    return ()


def _situations(state: State, hits: Hits, intents: tuple[IntentMatch, ...]) -> tuple[str, ...]:
    """The situations found (``shipping.in_transit``) of the intents the message carries."""
    found = hits.groups[2]
    if not found:
        return ()
    present = {m.id for m in intents}
    excluded = hits.excluded[2]
    kept = []
    for situation_id, evidence in found.items():
        rs = state.situation_by_id[situation_id]
        if situation_id in excluded or situation_id.rsplit(".", 1)[0] not in present:
            continue
        score = noisy_or(evidence)
        if score >= rs.threshold:
            kept.append((-score, state.situation_order[situation_id], situation_id))
    return tuple(situation_id for _, _, situation_id in sorted(kept))


def _tags(state: State, norm: Normalized, hits: Hits, history: tuple[str, ...],
          intents: tuple[IntentMatch, ...]) -> tuple[TagMatch, ...]:
    out = []
    found, excluded = hits.groups[1], hits.excluded[1]
    # only the types whose rules found something, or that read signals
    signalled = state.signalled if history else state.signalled_now
    rule_sets = [state.tag_by_id[i] for i in found] + [rs for rs in signalled if rs.id not in found]
    for rs in rule_sets:
        if rs.id in excluded:
            continue
        evidence = found.get(rs.id, [])
        if rs.signals:
            evidence = evidence + _signals(state, rs.signals, norm, history, intents)
        if not evidence:
            continue
        score = noisy_or(evidence)
        if score >= rs.threshold:
            out.append(assemble(TagMatch, id=rs.id, score=score, evidence=evidence_of(norm, evidence)))
    order = state.tag_order
    return tuple(sorted(out, key=lambda m: (-m.score, order[m.id])))


_DIGIT_RUN = re.compile(r"\d+")


def _terse_length(text: str) -> int:
    """Length as the buyer's effort: 165 100 (height, weight) is as terse as S码."""
    return len(_DIGIT_RUN.sub("0", text))


def _signals(state: State, signals: tuple[Signal, ...], norm: Normalized, history: tuple[str, ...],
             intents: tuple[IntentMatch, ...]) -> list[Hit]:
    out: list[Hit] = []
    size = len(norm.text)
    for signal in signals:
        name = signal.name
        if name == "exclamations":
            if norm.exclamations >= signal.minimum:
                out.append(Hit("signal", f"exclamations>={signal.minimum}", 0, size, signal.weight))
        elif name == "questions":
            if norm.questions >= signal.minimum:
                out.append(Hit("signal", f"questions>={signal.minimum}", 0, size, signal.weight))
        elif name == "long_message":
            if size >= signal.minimum:
                out.append(Hit("signal", f"long_message>={signal.minimum}", 0, size, signal.weight))
        elif not history:
            continue  # the other signals read the buyer's earlier messages
        elif name == "short_messages":
            if len(history) >= signal.min_history:
                limit = signal.max_chars
                if _terse_length(norm.text) <= limit and all(
                        _terse_length(normalize(h).text) <= limit for h in history):
                    out.append(Hit("signal", f"short_messages<={limit}", 0, size, signal.weight))
        elif name == "history_intents":
            wanted = set(signal.intents)
            window = signal.window
            recent = [state.own_intents(h) for h in history[-(window - 1):]] if window > 1 else []
            count = sum(1 for found in [*recent, intents] if wanted & {m.id for m in found})
            if count >= signal.minimum:
                out.append(Hit("signal", f"history_intents:{'/'.join(sorted(wanted))}>={signal.minimum}", 0,
                               size, signal.weight))
    return out
