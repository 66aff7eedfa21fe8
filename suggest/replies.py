"""Choose and render the quick replies for an analysed message.

For each intent found the reply pack offers candidates; a candidate is kept
when its conditions hold (customer types, sales stage, intents that must or
must not be present) and ranked by how specifically it fits: a reply written
for this kind of buyer beats a generic one. Replies are interleaved across
intents so a message with several needs gets an answer to each before a
second answer to any; the buyer's grievance (a complaint, a bad review) is
answered first, a greeting or a thanks last.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .matching import automaton
from .normalize import normalize
from .program import Program
from .results import IntentMatch, Reply, TagMatch
from .slots import NO_FACTS, Facts
from .templates import TemplateError, render, template_fields

_STAGE_ORDER = ("after_sale", "in_sale", "pre_sale")


@dataclass(frozen=True)
class StageRule:
    """An intent pack's ``stage`` and ``stage_cues``: the stage the need usually
    belongs to, and words that move it (包邮吗 is asked before buying, 发货了吗
    after paying); checked in order against what the buyer typed, first wins."""

    usual: str | None
    cues: tuple[tuple[str, tuple[str, ...]], ...] = ()


# Particles and fillers: two replies sharing 吗 or 的 with the buyer say nothing alike.
_FILLER = frozenset("吗呢吧啊呀哦么嘛的了我你您亲这那")
# Pairs that turn up in any chat whatever it is about (收到 in 收到就坏了 says nothing
# about which reply fits).
_COMMON_PAIRS = frozenset(("收到", "到了", "问题", "东西", "宝贝", "什么", "可以", "一下", "现在", "怎么",
                           "还是", "没有", "就是", "不是", "时候", "知道", "需要", "谢谢", "已经", "一个",
                           "这样", "不要", "不会", "能不", "不能"))
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
# How a reply's fit adds up. Written for this kind of buyer outweighs everything
# else together; then answering the other needs of the message too (with:),
# naming what the buyer asked about (正品 for 是正品吗), being written for this
# stage. The pack's priority (0-100) only breaks ties.
EARLIER = "earlier:"  # prefix, in the set of what is present, of intents of the buyer's history
_SITUATION_WEIGHT = 8.0  # the reply for this case of the need comes first, whoever asks
_HELPS_WEIGHT = 6.0  # a generic reply that also fits the case found
_TYPE_WEIGHT = 4.0
_WITH_WEIGHT = 1.5
_TOPIC_PAIR = 0.6  # per pair of characters shared with what the buyer typed
_TOPIC_CAP = 1.2
_STAGE_WEIGHT = 1.0
_ANY_STAGE_BONUS = 0.5  # stage unknown: a reply that fits any stage is the safer guess
# A reply filled with what the buyer said (the size from the chart for 165 110) answers
# this buyer: it goes before every reply that could be sent to anyone, types included.
_SLOT_WEIGHT = 9.0  # above a situation's: the reply that names the buyer's facts comes first
_SLOT_HOLE = 0.1  # per hole filled: the reply that uses more of the buyer's facts first


def topic_words(text: str) -> frozenset[str]:
    """Character pairs of ``text`` that carry content (no particles)."""
    pairs = set()
    for run in _CJK_RUN.findall(text):
        for a, b in zip(run, run[1:], strict=False):
            if a not in _FILLER and b not in _FILLER and a + b not in _COMMON_PAIRS:
                pairs.add(a + b)
    return frozenset(pairs)


# Needs answered first (an upset buyer wants to be heard) and last (a greeting
# in front of a real question should not take the top reply).
_FIRST = ("quality_complaint", "bad_review")
_LAST = ("greeting", "farewell")


def _rendered_or_raw(text: str, shop: dict[str, Any]) -> str:
    try:
        return render(text, shop)
    except TemplateError:  # the loader reports it; ranking must not fail on it
        return text


def said_for(match: IntentMatch, normalized: str | None = None) -> str:
    """What the buyer typed that made this intent fire, normalised (發貨 reads as 发货).

    With the message's ``normalized`` text at hand the evidence spans are read
    from it directly instead of normalising again.
    """
    if not match.evidence:
        return ""
    if normalized is not None:
        return " ".join(normalized[s:e] for s, e in (ev.norm_span for ev in match.evidence))
    return normalize(" ".join(e.text for e in match.evidence)).text


def intent_stage(match: IntentMatch, rule: StageRule | None, normalized: str | None = None) -> str | None:
    """The stage this one intent points to, from its usual stage and what the buyer typed."""
    if rule is None:
        return None
    if rule.cues:
        said = said_for(match, normalized)
        for stage, words in rule.cues:
            if any(word in said for word in words):
                return stage
    return rule.usual


def answer_order(intents: Sequence[IntentMatch]) -> list[IntentMatch]:
    """Intents in the order their replies should come (stable within a group)."""
    def rank(item: tuple[int, IntentMatch]) -> tuple[int, int]:
        index, match = item
        group = 0 if match.id in _FIRST else 2 if match.id in _LAST else 1
        return (group, index)

    if len(intents) == 1:
        return list(intents)
    return [m for _, m in sorted(enumerate(intents), key=rank)]


_FITTING_CACHE_SIZE = 4096


def _fit_order(item: tuple[float, int, Any]) -> tuple[float, int]:
    return (item[0], item[1])


class ReplyBook:
    def __init__(self, packs: Sequence[dict[str, Any]], shop: dict[str, Any],
                 stages: dict[str, StageRule] | None = None) -> None:
        self.stages = stages or {}
        self.by_intent: dict[str, list[dict[str, Any]]] = {}
        for pack in packs:
            self.by_intent.setdefault(pack["intent"], []).extend(pack["replies"])
        self.shop = shop
        # Rendered once: the shop profile does not change while the book lives.
        self._rendered = {r["id"]: _rendered_or_raw(r["text"], shop)
                          for rs in self.by_intent.values() for r in rs}
        # Replies with slot holes ({size_pick}, {order_no}) are rendered per message, and
        # replies that ask for a slot are dropped when the buyer gave it: both only for
        # the intents that have such replies, so the others keep the cached path.
        self._slot_holes: dict[str, frozenset[str]] = {}
        self._asks: dict[str, frozenset[str]] = {}
        for rs in self.by_intent.values():
            for r in rs:
                try:
                    needs = frozenset(h for h in template_fields(r["text"]) if h not in shop)
                except TemplateError:
                    needs = frozenset()
                if needs:
                    self._slot_holes[r["id"]] = needs
                if r.get("asks"):
                    self._asks[r["id"]] = frozenset(r["asks"])
        self._with_slots = frozenset(intent for intent, rs in self.by_intent.items()
                                     if any(r["id"] in self._slot_holes or r["id"] in self._asks for r in rs))
        # per intent, the slots its replies ask for and the holes they need: facts touching
        # neither rank the replies as no facts do (the memoised path)
        self._asked_in = {intent: frozenset().union(*(self._asks.get(r["id"], ()) for r in rs))
                          for intent, rs in self.by_intent.items()}
        self._holes_in = {intent: frozenset().union(*(self._slot_holes.get(r["id"], ()) for r in rs))
                          for intent, rs in self.by_intent.items()}
        self._plain_cache: dict[tuple[str, frozenset[str], frozenset[str], str | None],
                                tuple[list[tuple[float, int, dict[str, Any]]], tuple[Reply, ...],
                                      dict[str, int]]] = {}
        # topics of the rendered text: {remote_regions} names 新疆 for 新疆能发吗
        self._topics = {rid: topic_words(text) for rid, text in self._rendered.items()}
        self._made: dict[tuple[str, str], Reply] = {}
        self._fitting_cache: dict[tuple[str, frozenset[str], frozenset[str], str | None],
                                  tuple[list[tuple[float, int, dict[str, Any]]], tuple[Reply, ...],
                                        dict[str, int]]] = {}
        # intent -> topic pair -> the ids of its replies that name it
        self._pair_index: dict[str, dict[str, list[str]]] = {}
        for intent, replies in self.by_intent.items():
            index: dict[str, list[str]] = {}
            for reply in replies:
                for pair in self._topics[reply["id"]]:
                    index.setdefault(pair, []).append(reply["id"])
            self._pair_index[intent] = index
        universe = frozenset().union(*self._topics.values()) if self._topics else frozenset()
        self._topic_finder = automaton({pair: pair for pair in universe})
        # reply id -> the situations it is written for or helps in (``intent.situation``):
        # a queue whose first reply names the buyer's case is answered before the others
        self._cases = {r["id"]: frozenset(f"{intent}.{s}" if "." not in s else s
                                          for s in [*r.get("situations", ()), *r.get("helps_in", ())])
                       for intent, rs in self.by_intent.items() for r in rs
                       if r.get("situations") or r.get("helps_in")}
        # A reply written for other kinds of shop (categories: [tea]) is never offered
        # here; the shop profile's `categories` says what this shop sells.
        sells = shop.get("categories", [])
        sells = frozenset([sells] if isinstance(sells, str) else sells)
        # conditions, read once: (reply, types, stages, with, without, situations, helps_in, not_in, after,
        # not_after, priority);
        # situations are named ``intent.situation`` like the ids the engine reports
        self._conditions = {
            intent: [(r, frozenset(r.get("types", [])), tuple(r.get("stages", [])), frozenset(r.get("with", [])),
                      frozenset(r.get("without", [])),
                      frozenset(f"{intent}.{s}" for s in r.get("situations", [])),
                      frozenset(f"{intent}.{s}" for s in r.get("helps_in", [])),
                      frozenset(s if "." in s else f"{intent}.{s}" for s in r.get("not_in", [])),
                      frozenset(EARLIER + i for i in r.get("after", [])),
                      frozenset(EARLIER + i for i in r.get("not_after", [])),
                      float(r.get("priority", 0)) / 101)
                     for r in replies if not r.get("categories") or not sells.isdisjoint(r["categories"])]
            for intent, replies in self.by_intent.items()}

    @classmethod
    def from_program(cls, program: Program) -> ReplyBook:
        """The book of a compiled program: its reply packs, shop profile and the intent
        packs' stages."""
        stages = {rs.id: StageRule(rs.stage, tuple((c.stage, c.words) for c in rs.stage_cues))
                  for rs in program.intents}
        stages.update({rs.id: StageRule(rs.stage) for rs in program.situations})
        return cls(program.replies, program.shop, stages)

    def stage(self, intents: Sequence[IntentMatch], normalized: str | None = None,
              situations: Sequence[str] = ()) -> str | None:
        """The sales stage of the chat: the latest stage any intent points to.

        A situation that names a stage settles it for its intent (a parcel that has not
        arrived is in-sale, whatever words the question used)."""
        ids = {m.id for m in intents}
        stages: set[str] = set()
        settled: set[str] = set()
        for situation in situations:
            rule = self.stages.get(situation)
            if rule is not None and rule.usual is not None:
                stages.add(rule.usual)
                settled.add(situation.rsplit(".", 1)[0])
        intents = [m for m in intents if m.id not in settled]
        for match in intents:
            found = intent_stage(match, self.stages.get(match.id), normalized)
            # Changing an order not yet paid for (改地址 on an unpaid order) is pre-sale.
            if match.id == "order_change" and "unpaid_order" in ids:
                found = "pre_sale"
            if found is not None:
                stages.add(found)
        for stage in _STAGE_ORDER:
            if stage in stages:
                return stage
        return None

    def candidates(self, intent: str, present: set[str] | frozenset[str], types: set[str] | frozenset[str],
                   stage: str | None, said: frozenset[str] = frozenset(), limit: int | None = None,
                   facts: Facts = NO_FACTS) -> tuple[Reply, ...]:
        """The replies of ``intent`` that fit, best first (the first ``limit`` of them).

        ``said`` is the topic words of what the buyer typed for this intent: a
        reply naming them (退差价 -> 差价) answers the question asked. ``facts``
        are the buyer's slots: they fill slot holes and drop replies asking for them.
        """
        key = (intent, frozenset(present), frozenset(types), stage)
        ranked, replies, position = self._fitting(*key)
        if intent in self._with_slots:
            if facts.present and (not facts.present.isdisjoint(self._asked_in[intent])
                                  or not self._holes_in[intent].isdisjoint(facts.holes)):
                ranked, replies, position = self._with_facts(ranked, replies, facts)
            else:  # no slots that matter here: the same few combinations all day, memoised
                plain = self._plain_cache.get(key)
                if plain is None:
                    if len(self._plain_cache) >= _FITTING_CACHE_SIZE:
                        self._plain_cache.clear()
                    plain = self._plain_cache[key] = self._with_facts(ranked, replies, facts)
                ranked, replies, position = plain
        wanted = len(replies) if limit is None else limit
        shared: dict[str, int] = {}
        if said:
            # which replies name what the buyer said (an index, not a scan of all)
            pairs = self._pair_index.get(intent, {})
            for pair in said:
                for reply_id in pairs.get(pair, ()):
                    shared[reply_id] = shared.get(reply_id, 0) + 1
        # Naming the topic only moves a reply up, so the best ``wanted`` are among the
        # named ones (rescored) and the first ``wanted`` of the others.
        boosted = []
        for reply_id, count in shared.items():
            at = position.get(reply_id)
            if at is not None:
                fit, order, _ = ranked[at]
                boosted.append((fit - min(_TOPIC_CAP, _TOPIC_PAIR * count), order, replies[at]))
        if not boosted:
            return replies[:wanted]
        rest = []
        for (fit, order, _), reply in zip(ranked, replies, strict=True):
            if reply.id not in shared:
                rest.append((fit, order, reply))
                if len(rest) == wanted:
                    break
        return tuple(reply for _, _, reply in sorted(boosted + rest, key=_fit_order)[:wanted])

    def _fitting(self, intent: str, present: frozenset[str], types: frozenset[str], stage: str | None
                 ) -> tuple[list[tuple[float, int, dict[str, Any]]], tuple[Reply, ...], dict[str, int]]:
        """Replies whose conditions hold, ranked before the topic bonus.

        A pure function of a small key (intents and situations, buyer types, stage), so it is
        memoised: chats repeat the same few combinations all day.
        """
        key = (intent, present, types, stage)
        cached = self._fitting_cache.get(key)
        if cached is not None:
            return cached
        ranked = []
        for order, (reply, wanted_types, stages, with_, without, situations, helps_in, not_in, after, not_after,
                    priority) in enumerate(self._conditions.get(intent, ())):
            if wanted_types and wanted_types.isdisjoint(types):
                continue
            if situations and situations.isdisjoint(present):
                continue  # written for a case of the need this message is not
            if not_in and not not_in.isdisjoint(present):
                continue  # would contradict what the buyer said (shipping soon, to a parcel on its way)
            if after and after.isdisjoint(present):
                continue
            if not_after and not not_after.isdisjoint(present):
                continue  # no five-star request to a buyer whose complaint is open
            if stages and stage is not None and stage not in stages:
                continue
            if with_ and not with_ <= present:
                continue
            if without and not without.isdisjoint(present):
                continue
            fit = (_SITUATION_WEIGHT * bool(situations) + _HELPS_WEIGHT * bool(helps_in & present)
                   + _WITH_WEIGHT * bool(after)
                   + _TYPE_WEIGHT * len(wanted_types & types)
                   + _WITH_WEIGHT * len(with_)
                   + (_STAGE_WEIGHT if stages and stage in stages else 0.0)
                   + (_ANY_STAGE_BONUS if stage is None and not stages else 0.0)
                   + priority)
            ranked.append((-fit, order, reply))
        ranked.sort(key=_fit_order)
        if len(self._fitting_cache) >= _FITTING_CACHE_SIZE:
            self._fitting_cache.clear()  # rare: a bound, not an eviction policy
        result = (ranked, tuple(self._reply(reply, intent) for _, _, reply in ranked),
                  {reply["id"]: at for at, (_, _, reply) in enumerate(ranked)})
        self._fitting_cache[key] = result
        return result

    def _with_facts(self, ranked: list[tuple[float, int, dict[str, Any]]], replies: tuple[Reply, ...],
                    facts: Facts) -> tuple[list[tuple[float, int, dict[str, Any]]], tuple[Reply, ...],
                                           dict[str, int]]:
        """The ranking for this buyer's slots: unfillable and needless-asking replies out,
        slot-holed ones rendered with the slots and moved up."""
        kept: list[tuple[float, int, dict[str, Any], Reply]] = []
        for (fit, order, raw), reply in zip(ranked, replies, strict=True):
            asks = self._asks.get(reply.id)
            if asks is not None and not asks.isdisjoint(facts.present):
                continue  # never ask for what the buyer already gave
            needs = self._slot_holes.get(reply.id)
            if needs is not None:
                if not needs <= facts.holes.keys():
                    continue  # a hole left empty: the reply cannot be sent as it stands
                try:
                    text = render(raw["text"], {**facts.holes, **self.shop})
                except TemplateError:
                    continue
                reply = Reply(reply.id, reply.intent, text)
                fit -= _SLOT_WEIGHT + _SLOT_HOLE * len(needs)
            kept.append((fit, order, raw, reply))
        kept.sort(key=lambda item: (item[0], item[1]))
        return ([(fit, order, raw) for fit, order, raw, _ in kept], tuple(reply for *_, reply in kept),
                {reply.id: at for at, (*_, reply) in enumerate(kept)})

    def _reply(self, reply: dict[str, Any], intent: str) -> Reply:
        """The rendered Reply (results are immutable: one object per reply and intent)."""
        made = self._made.get((reply["id"], intent))
        if made is None:
            made = self._made[(reply["id"], intent)] = Reply(reply["id"], intent, self._rendered[reply["id"]])
        return made

    def choose(self, intents: Sequence[IntentMatch], tags: Sequence[TagMatch], stage: str | None,
               top: int = 3, normalized: str | None = None, situations: Sequence[str] = (),
               earlier: Sequence[str] = (), facts: Facts = NO_FACTS) -> tuple[Reply, ...]:
        """At most ``top`` rendered replies: one per need first, then second choices.

        ``situations`` are the cases found (``shipping.in_transit``), ``earlier`` the
        intents of the buyer's earlier messages (a farewell after a complaint), ``facts``
        what the slots say (sizes from the chart, the order number given)."""
        if top <= 0 or not intents:
            return ()
        present = (frozenset(m.id for m in intents) | frozenset(situations)
                   | frozenset(EARLIER + i for i in earlier))
        types = frozenset(t.id for t in tags)
        # what the buyer said, once for the message: pairs some reply also names
        said = self._said_topics(normalized) if normalized is not None else None
        # A queue gives at most ``top`` replies and skips at most ``top`` already given.
        depth_needed = 2 * top
        queues = [self.candidates(m.id, present, types, stage,
                                  said if said is not None else self._said_topics(said_for(m)),
                                  limit=depth_needed, facts=facts)
                  for m in answer_order(intents)]
        if len(queues) > 1:
            # The need whose first reply names the buyer's case (already cancelled, refund
            # applied for) or facts (the order number) is answered first; a greeting or a
            # thanks still last. Stable: otherwise the order of answer_order holds.
            last = [m.id in _LAST for m in answer_order(intents)]
            queues = [q for _, q in sorted(enumerate(queues), key=lambda item: (
                last[item[0]], not self._names_case(item[1], present)))]
        chosen: list[Reply] = []
        seen: set[str] = set()
        longest = max(len(q) for q in queues)
        depth = 0
        while depth < longest:
            for queue in queues:
                if depth < len(queue):
                    reply = queue[depth]
                    # a reply listed under two intents (or rendering alike) is offered once
                    if reply.id in seen or reply.text in seen:
                        continue
                    seen.add(reply.id)
                    seen.add(reply.text)
                    chosen.append(reply)
                    if len(chosen) == top:
                        return tuple(chosen)
            depth += 1
        return tuple(chosen)

    def _names_case(self, queue: tuple[Reply, ...], present: frozenset[str]) -> bool:
        """Whether the first reply of ``queue`` is written for a case the message is in,
        or is filled with the buyer's facts (a slot-holed reply is offered only filled)."""
        if not queue:
            return False
        first = queue[0].id
        cases = self._cases.get(first)
        return bool(cases and not cases.isdisjoint(present)) or first in self._slot_holes

    def _said_topics(self, said: str) -> frozenset[str]:
        """topic_words(said), restricted to pairs some reply names (the only ones that count)."""
        return frozenset([pair for _end, pair in self._topic_finder.iter(said)])

    def by_id(self, reply_id: str) -> Reply | None:
        """One reply by its id, rendered (None when no pack has it)."""
        for intent, replies in self.by_intent.items():
            for reply in replies:
                if reply["id"] == reply_id:
                    try:
                        return Reply(reply_id, intent, render(reply["text"], self.shop))
                    except TemplateError:
                        return None  # it has slot holes: it needs a buyer's message
        return None

    def for_intent(self, intent: str, tags: Sequence[TagMatch] = (), stage: str | None = None
                   ) -> Reply | None:
        """The best reply for one need on its own (used to suggest a fix for a draft)."""
        found = self.choose([IntentMatch(intent, 1.0)], tags, stage, top=1)
        return found[0] if found else None
