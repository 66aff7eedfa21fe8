"""The engine: packs in, ``Analysis`` out.

An ``Engine`` holds one immutable ``_State`` (compiled packs, tokenizer,
replies). ``reload()`` builds a complete new state and swaps it in with one
assignment, so a caller in another thread sees either the old packs or the
new ones, never half of each, and a broken pack never replaces a good one.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cache
from .errors import InputError, PackError
from .matching import Hits, Matcher, NearMiss, noisy_or, to_evidence
from .normalize import MAX_INPUT_CHARS, Normalized, is_empty, normalize
from .program import Hit, Program, Signal
from .results import Analysis, Evidence, IntentMatch, Reply, TagMatch, assemble
from .sizechart import SIZE_CHARTS_KEY, SizeCharts
from .slots import NO_FACTS, SlotFinder
from .sources import PackSources
from .tokenizer import Tokenizer

if TYPE_CHECKING:
    from .review import Review

MAX_HISTORY = 10  # earlier messages looked at; older ones say little about this one
# Bare answers to an agent's question carry no need of their own (taxonomy: 是的 is []),
# so they never inherit an intent from the history.
_BARE_ANSWER = re.compile(r"^(是的?|对的?|对啊|是啊|不是|没有|没|有|行|可以|不用|不要|嗯|哦|噢|啊)[啊呀哦的了吧呢]?[.。!！]?$")
_FOLLOW_UP_MAX_CHARS = 14
# 那M呢, 那40的呢: a follow-up that carries the last question over to a new value.
_FOLLOW_UP = re.compile(r"^(那|那么)?[^，。,]{1,8}呢[?？]?$")
_HISTORY_SIGNALS = frozenset(("short_messages", "history_intents"))
_ONLY_PUNCTUATION = re.compile(r"^[\s?？.。!！~～…]*$")


class _State:
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
        self.outside_taxonomy = frozenset(rs.id for rs in self.intent_sets if rs.other)
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
        with self._lock:
            self._history_cache[text] = result
            if len(self._history_cache) > 512:
                self._history_cache.popitem(last=False)
        return result

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
        return tuple(assemble(IntentMatch, id=id, score=score, evidence=_evidence(norm, found[id]))
                     for id, score in ranked)


def _strongest_first(hit: Hit) -> tuple[float, int]:
    return (-hit.weight, hit.start)


def _evidence(norm: Normalized, hits: list[Hit]) -> tuple[Evidence, ...]:
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


def _build_state(sources: PackSources, use_cache: bool) -> _State:
    def build() -> Program:
        from .compiler import compile_program
        from .packs import load_packs

        packs = load_packs(sources)
        if packs.errors:
            raise PackError(packs.errors)
        return compile_program(packs)

    # recheck: packs saved while we were building must not be cached under the old key
    program = (cache.load_or_build(sources.fingerprint(), build, recheck=sources.fingerprint)
               if use_cache else build())
    return _State(program, sources)


class Engine:
    """Reads a buyer's message and says what they want, who they are, and what to answer.

    ``Engine()`` loads the bundled packs; ``Engine(intents=DIR, replies=DIR,
    tags=DIR, shop=FILE)`` loads a shop's own. Raises ``PackError`` (with file,
    line and key path) when a pack is broken.
    """

    def __init__(self, intents: str | Path | None = None, replies: str | Path | None = None,
                 tags: str | Path | None = None, shop: str | Path | None = None,
                 *, use_cache: bool = True) -> None:
        self._sources = PackSources.of(intents=intents, tags=tags, replies=replies, shop=shop)
        self._use_cache = use_cache
        self._state = _build_state(self._sources, use_cache)
        self._reload_lock = threading.Lock()

    # -- loading -----------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the packs. If they are broken, raise PackError and keep the old ones."""
        with self._reload_lock:
            new_state = _build_state(self._sources, self._use_cache)
            self._state = new_state  # one assignment: readers see old or new, never a mix

    @property
    def sources(self) -> PackSources:
        """Where this engine's packs come from."""
        return self._sources

    @property
    def intent_ids(self) -> tuple[str, ...]:
        return tuple(rs.id for rs in self._state.intent_sets)

    @property
    def tag_ids(self) -> tuple[str, ...]:
        return tuple(rs.id for rs in self._state.tag_sets)

    @property
    def shop(self) -> dict[str, Any]:
        return dict(self._state.shop)

    # -- analysis ----------------------------------------------------------------

    @property
    def outside_taxonomy(self) -> frozenset[str]:
        """Intents of packs marked ``other: true`` (invoice): answered, not label-scored."""
        return self._state.outside_taxonomy

    def analyze(self, text: str, history: Sequence[HistoryItem] = (), *, top: int = 3) -> Analysis:
        """Intents, customer-type tags and quick replies for the buyer's current message.

        ``history`` is the chat so far, oldest first: the buyer's earlier messages as
        text, or ``{"role": "buyer" | "agent", "text": ...}`` entries. It helps read a
        short follow-up (``？`` after ``发了吗``, ``要那么久啊`` after the agent said
        seven days) and the buyer's type; the intents describe the current message.
        """
        return self._analyze(self._state, text, history, top)

    def _analyze(self, state: _State, text: str, chat: Sequence[HistoryItem], top: int) -> Analysis:
        started = time.perf_counter()
        norm = _checked(text)
        history, agent = _checked_history(chat)
        tokens = state.tokenizer.lazy(norm.text)
        hits = state.matcher.match(norm, tokens, agent=agent)
        intents = state.resolve(norm, hits)
        if history and (not intents or _FOLLOW_UP.search(norm.text)):
            intents = _merge(intents, _lift_from_history(state, norm, history))
        matched = time.perf_counter()
        tags = _tags(state, norm, hits, history, intents)
        situations = _situations(state, hits, intents)
        stage = state.replies.stage(intents, norm.text, situations)
        earlier: tuple[str, ...] = ()
        if history:
            before = [m for h in history[-3:] for m in state.own_intents(h)]
            earlier = tuple(dict.fromkeys(m.id for m in before))
            if stage is None:  # 好的谢谢 closes the stage the chat was in
                stage = state.replies.stage(before, None)
        slots = state.slots.find_all(norm, history)
        facts = state.slots.facts(slots, state.size_charts, (norm.text, *reversed(history))) if slots else NO_FACTS
        replies: tuple[Reply, ...] = state.replies.choose(intents, tags, stage, top=top, normalized=norm.text,
                                                          situations=situations, earlier=earlier, facts=facts)
        done = time.perf_counter()
        return assemble(Analysis, text=text, normalized=norm.text, intents=intents, tags=tags, replies=replies,
                        situations=situations, slots=slots, stage=stage, truncated=norm.truncated,
                        timings={"intents": matched - started, "total": done - started})

    def explain(self, text: str, history: Sequence[HistoryItem] = ()) -> Explanation:
        """Every rule of every pack that fired or nearly fired, with scores."""
        state = self._state
        norm = _checked(text)
        _buyer, agent = _checked_history(history)
        tokens = state.tokenizer.lazy(norm.text)
        hits = state.matcher.match(norm, tokens, near=True, agent=agent)
        analysis = self._analyze(state, text, history, 3)
        rows = []
        for group, (kind, rule_sets) in enumerate((("intent", state.intent_sets), ("tag", state.tag_sets),
                                                   ("situation", state.situation_sets))):
            for rs in rule_sets:
                evidence = hits.groups[group].get(rs.id, [])
                rows.append(ExplainRow(kind, rs.id, noisy_or(evidence), rs.threshold,
                                       _evidence(norm, evidence), hits.excluded[group].get(rs.id)))
        return Explanation(analysis, tuple(state.tokenizer.tokens(norm.text)), tuple(rows), tuple(hits.near))

    def reply_for(self, intent: str, tags: Sequence[TagMatch] = (), stage: str | None = None) -> Reply | None:
        """The best reply for one need on its own, with no slots (a fix for a draft)."""
        return self._state.replies.for_intent(intent, tags, stage)

    def reply_by_id(self, reply_id: str) -> Reply | None:
        """One reply by its id, filled from the shop profile (None: no such reply, or it needs slots)."""
        return self._state.replies.by_id(reply_id)

    def review(self, draft: str, buyer_message: str | None = None) -> Review:
        """Check an agent's draft reply against what the training material calls wrong."""
        from .review import review_draft

        return review_draft(self, draft, buyer_message)


class ExplainRow:
    def __init__(self, kind: str, id: str, score: float, threshold: float,
                 evidence: tuple[Evidence, ...], excluded_by: str | None) -> None:
        self.kind, self.id, self.score, self.threshold = kind, id, score, threshold
        self.evidence, self.excluded_by = evidence, excluded_by

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "score": round(self.score, 3), "threshold": self.threshold,
                "evidence": [e.to_dict() for e in self.evidence], "excluded_by": self.excluded_by}


class Explanation:
    def __init__(self, analysis: Analysis, tokens: tuple[tuple[str, int, int], ...],
                 rows: tuple[ExplainRow, ...], near: tuple[NearMiss, ...]) -> None:
        self.analysis, self.tokens, self.rows, self.near = analysis, tokens, rows, near

    def to_dict(self) -> dict[str, Any]:
        return {"analysis": self.analysis.to_dict(), "tokens": [t[0] for t in self.tokens],
                "rules": [r.to_dict() for r in self.rows if r.evidence or r.excluded_by],
                "near_misses": [n.to_dict() for n in self.near]}


def _checked(text: Any) -> Normalized:
    if not isinstance(text, str):
        raise InputError(f"expected the message as text, got {type(text).__name__}")
    norm = normalize(text)
    if is_empty(norm):
        raise InputError("the message is empty (nothing but spaces, control characters or "
                         "platform placeholders such as [图片])")
    return norm


HistoryItem = str | Mapping[str, str]
ROLES = ("buyer", "agent")


def _checked_history(history: Any) -> tuple[tuple[str, ...], Normalized | None]:
    """The buyer's earlier messages (the last MAX_HISTORY) and the agent's last message."""
    if isinstance(history, (str, bytes)):
        raise InputError("expected history as a list of earlier messages, got a single text")
    if isinstance(history, Mapping):
        raise InputError("expected history as a list of earlier messages, got a mapping")
    try:
        items = tuple(history)
    except TypeError:
        raise InputError(f"expected history as a list of earlier messages, got {type(history).__name__}") from None
    buyer: list[str] = []
    agent: str | None = None
    for item in items:
        if isinstance(item, str):
            role, said = "buyer", item
        elif isinstance(item, Mapping):
            role, text = item.get("role", "buyer"), item.get("text")
            if role not in ROLES:
                raise InputError(f"expected a history role of buyer or agent, got {role!r}")
            if not isinstance(text, str):
                raise InputError("expected every history entry to have a 'text' that is text")
            said = text
        else:
            raise InputError(f"expected every history message as text or a {{role, text}} mapping, "
                             f"got {type(item).__name__}")
        if not said.strip():
            continue
        if role == "agent":
            agent = said[:MAX_INPUT_CHARS]
        else:
            buyer.append(said[:MAX_INPUT_CHARS])
    agent_norm = normalize(agent) if agent is not None else None
    return tuple(buyer[-MAX_HISTORY:]), (agent_norm if agent_norm is not None and agent_norm.text else None)


def _merge(own: tuple[IntentMatch, ...], lifted: tuple[IntentMatch, ...]) -> tuple[IntentMatch, ...]:
    have = {m.id for m in own}
    return own + tuple(m for m in lifted if m.id not in have)


def _lift_from_history(state: _State, norm: Normalized, history: tuple[str, ...]) -> tuple[IntentMatch, ...]:
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


def _situations(state: _State, hits: Hits, intents: tuple[IntentMatch, ...]) -> tuple[str, ...]:
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


def _tags(state: _State, norm: Normalized, hits: Hits, history: tuple[str, ...],
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
            out.append(assemble(TagMatch, id=rs.id, score=score, evidence=_evidence(norm, evidence)))
    order = state.tag_order
    return tuple(sorted(out, key=lambda m: (-m.score, order[m.id])))


_DIGIT_RUN = re.compile(r"\d+")


def _terse_length(text: str) -> int:
    """Length as the buyer's effort: 165 100 (height, weight) is as terse as S码."""
    return len(_DIGIT_RUN.sub("0", text))


def _signals(state: _State, signals: tuple[Signal, ...], norm: Normalized, history: tuple[str, ...],
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
