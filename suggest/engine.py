"""The engine: packs in, ``Analysis`` out.

An ``Engine`` holds one immutable ``pipeline.State`` (compiled packs, tokenizer,
replies). ``reload()`` builds a complete new state and swaps it in with one
assignment, so a caller in another thread sees either the old packs or the
new ones, never half of each, and a broken pack never replaces a good one.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cache
from .errors import InputError, PackError
from .matching import NearMiss, noisy_or
from .normalize import MAX_INPUT_CHARS, Normalized, is_empty, normalize
from .pipeline import State, evidence_of
from .program import Program
from .results import Analysis, Evidence, Reply, TagMatch
from .sources import PackSources

if TYPE_CHECKING:
    from .review import Review

MAX_HISTORY = 10  # earlier messages looked at; older ones say little about this one


def _build_state(sources: PackSources, use_cache: bool) -> State:
    def build() -> Program:
        from .compiler import compile_program
        from .packs import load_packs

        packs = load_packs(sources)
        if packs.errors:
            raise PackError(packs.errors)
        return compile_program(packs)

    with _collector_paused():
        # recheck: packs saved while we were building must not be cached under the old key
        program = (cache.load_or_build(sources.fingerprint(), build, recheck=sources.fingerprint)
                   if use_cache else build())
        return State(program, sources)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the program is decoded and the matcher built.

    Both make hundreds of thousands of objects and no garbage cycles; each collection
    the allocations would set off walks all of them again (a third of building the
    matcher). The collector runs again afterwards, if it ran before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    def fallback_intents(self) -> frozenset[str]:
        """Intents of packs marked ``fallback: true`` (unclear): found only when nothing else is."""
        return self._state.fallback_ids

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

    def _analyze(self, state: State, text: str, chat: Sequence[HistoryItem], top: int) -> Analysis:
        started = time.perf_counter()
        norm = _checked(text)
        history, agent = _checked_history(chat)
        return state.analyze(text, norm, history, agent, top, started)

    def explain(self, text: str, history: Sequence[HistoryItem] = (), near_misses: bool = True) -> Explanation:
        """Every rule of every pack that fired or nearly fired, with scores.

        ``near_misses=False`` leaves out the rules that nearly fired (every template is
        tried for them): what ``suggest check`` asks when it only needs what fired.
        """
        state = self._state
        norm = _checked(text)
        _buyer, agent = _checked_history(history)
        tokens = state.tokenizer.lazy(norm.text)
        hits = state.matcher.match(norm, tokens, near=near_misses, agent=agent)
        analysis = self._analyze(state, text, history, 3)
        rows = []
        for group, (kind, rule_sets) in enumerate((("intent", state.intent_sets), ("tag", state.tag_sets),
                                                   ("situation", state.situation_sets))):
            for rs in rule_sets:
                evidence = hits.groups[group].get(rs.id, [])
                rows.append(ExplainRow(kind, rs.id, noisy_or(evidence), rs.threshold,
                                       evidence_of(norm, evidence), hits.excluded[group].get(rs.id)))
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


