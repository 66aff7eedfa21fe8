"""What a shop's chat log says: counts over every buyer message, mergeable.

``ReportCounts`` keeps counts, not rows: per intent, per buyer type, per hour
and session stage, per rule that fired, groups of unanswered messages (each
with a bounded list of examples) and the sessions still open (bounded, the
oldest is closed first). Two counts made from two parts of a log merge into
the counts of the whole (``merge``), which is how partitions on a cluster are
combined. ``figures()`` is the JSON form the HTML report is drawn from.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process

from .chatlog import AGENT, LogLine
from .errors import InputError

if TYPE_CHECKING:
    from .engine import Engine
    from .packs import PackSet
    from .results import Analysis

COMPLAINT_INTENTS = ("quality_complaint", "bad_review")
HISTORY_DEPTH = 3  # earlier buyer messages passed as history, as in the eval sets
MAX_EXAMPLES = 5  # per group, per list
MAX_GROUPS = 2000  # kinds of unanswered message tracked; later new kinds count as ungrouped
MAX_OPEN_SESSIONS = 100_000  # sessions kept open at once; the least recently seen is closed first
GROUP_SIMILARITY = 60  # rapidfuzz ratio for two unanswered lines to be one kind (short lines: 驿站取不了件 ~ 小区驿站取不到)
SHOWN = 30  # rows of each top list in the figures

POSITIONS = ("第1句", "第2-3句", "第4-6句", "第7句起", "无会话")
STAGES = {"pre_sale": "售前", "in_sale": "售中", "after_sale": "售后", None: "未定"}
_RULE_KINDS = {"keyword": "keyword", "variant": "keyword", "fuzzy": "phrase", "regex": "regex",
               "together": "together", "only": "only", "template": "template"}


def _position(n: int) -> str:
    return POSITIONS[0] if n == 1 else POSITIONS[1] if n <= 3 else POSITIONS[2] if n <= 6 else POSITIONS[3]


def hour_of(value: str) -> int | None:
    """The hour of a log time: ISO text (2024-05-01 13:22[:05]), HH:MM, or Unix seconds (UTC)."""
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC).hour
        except (OverflowError, OSError, ValueError):
            return None
    try:
        return datetime.fromisoformat(value.replace("/", "-")).hour
    except ValueError:
        pass
    head, sep, _ = value.rpartition(" ")[-1].partition(":")
    if sep and head.isdigit() and 0 <= int(head) <= 23:
        return int(head)
    return None


@dataclass
class Group:
    """Unanswered messages alike enough to be one kind of question."""

    key: str  # the normalised text of the first message of the kind
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, text: str, count: int = 1) -> None:
        self.count += count
        if len(self.examples) < MAX_EXAMPLES and text not in self.examples:
            self.examples.append(text)


@dataclass
class UnansweredGroups:
    """Similar unanswered lines together (rapidfuzz), with exact counts of what is tracked."""

    groups: list[Group] = field(default_factory=list)
    ungrouped: int = 0  # messages of new kinds met after MAX_GROUPS kinds were tracked

    def add(self, key: str, text: str, count: int = 1, examples: Sequence[str] = ()) -> None:
        found = process.extractOne(key, [g.key for g in self.groups], scorer=fuzz.ratio,
                                   score_cutoff=GROUP_SIMILARITY) if self.groups else None
        if found is not None:
            group = self.groups[found[2]]
        elif len(self.groups) < MAX_GROUPS:
            group = Group(key)
            self.groups.append(group)
        else:
            self.ungrouped += count
            return
        group.add(text, count)
        for example in examples:
            group.add(example, 0)

    def merge(self, other: UnansweredGroups) -> None:
        self.ungrouped += other.ungrouped
        for group in other.groups:
            first, *rest = group.examples or [group.key]
            self.add(group.key, first, group.count, rest)

    def top(self, n: int) -> list[Group]:
        return sorted(self.groups, key=lambda g: (-g.count, g.key))[:n]


@dataclass
class Session:
    """What is kept of an open session: enough for history, stage and how it ended."""

    buyer_messages: int = 0
    history: deque[str] = field(default_factory=lambda: deque(maxlen=HISTORY_DEPTH))
    stage: str | None = None
    last_order: tuple[int, int] = (0, 0)  # (part, line) of the last buyer message
    last_text: str = ""
    last_intents: tuple[str, ...] = ()

    def copy(self) -> Session:
        return replace(self, history=deque(self.history, maxlen=HISTORY_DEPTH))


@dataclass
class ReportCounts:
    """Counts over a log or a part of it; ``merge`` adds another part's counts."""

    messages: int = 0  # buyer messages analysed
    agent_lines: int = 0
    errors: int = 0
    error_examples: list[tuple[int, str]] = field(default_factory=list)
    answered: int = 0
    intents: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    hour_total: Counter[int] = field(default_factory=Counter)
    hour_unanswered: Counter[int] = field(default_factory=Counter)
    position_total: Counter[str] = field(default_factory=Counter)
    position_unanswered: Counter[str] = field(default_factory=Counter)
    stage_total: Counter[str] = field(default_factory=Counter)
    stage_unanswered: Counter[str] = field(default_factory=Counter)
    rules: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (intent, kind, pattern)
    unanswered: UnansweredGroups = field(default_factory=UnansweredGroups)
    sessions_closed: int = 0
    sessions_complaint: int = 0
    complaint_examples: list[dict[str, Any]] = field(default_factory=list)
    open_sessions: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    # -- adding -------------------------------------------------------------------

    def add_error(self, line: int, message: str) -> None:
        self.errors += 1
        if len(self.error_examples) < MAX_EXAMPLES:
            self.error_examples.append((line, message))

    def add_analysis(self, analysis: Analysis, *, session: str, position: int, stage: str | None,
                     hour: int | None) -> None:
        self.messages += 1
        ids = analysis.intent_ids
        unanswered = not ids
        self.answered += not unanswered
        self.intents.update(ids)
        self.tags.update(analysis.tag_ids)
        if hour is not None:
            self.hour_total[hour] += 1
            self.hour_unanswered[hour] += unanswered
        where = _position(position) if session else POSITIONS[-1]
        self.position_total[where] += 1
        self.position_unanswered[where] += unanswered
        self.stage_total[STAGES.get(stage, STAGES[None])] += 1
        self.stage_unanswered[STAGES.get(stage, STAGES[None])] += unanswered
        fired = {(m.id, _RULE_KINDS[e.kind], e.pattern) for m in analysis.intents for e in m.evidence
                 if e.kind in _RULE_KINDS}
        self.rules.update(fired)
        if unanswered:
            self.unanswered.add(analysis.normalized, analysis.text)

    def session(self, session_id: str) -> Session:
        """The open session of this id (a new one when unseen); the oldest closes when too many are open."""
        state = self.open_sessions.get(session_id)
        if state is None:
            state = self.open_sessions[session_id] = Session()
            if len(self.open_sessions) > MAX_OPEN_SESSIONS:
                oldest_id, oldest = self.open_sessions.popitem(last=False)
                self._close(oldest, oldest_id)
        else:
            self.open_sessions.move_to_end(session_id)
        return state

    def _close(self, state: Session, session_id: str) -> None:
        if not state.buyer_messages:
            return
        self.sessions_closed += 1
        if any(i in COMPLAINT_INTENTS for i in state.last_intents):
            self.sessions_complaint += 1
            if len(self.complaint_examples) < SHOWN:
                self.complaint_examples.append({"session": session_id, "messages": state.buyer_messages,
                                                "last_message": state.last_text,
                                                "intents": list(state.last_intents)})

    def close_all(self) -> None:
        """End of the log: every open session has ended."""
        while self.open_sessions:
            session_id, state = self.open_sessions.popitem(last=False)
            self._close(state, session_id)

    # -- merging ------------------------------------------------------------------

    def merge(self, other: ReportCounts) -> ReportCounts:
        """Add ``other`` (counts of another part of the log) into these counts; returns self."""
        self.messages += other.messages
        self.agent_lines += other.agent_lines
        self.errors += other.errors
        self.error_examples = (self.error_examples + other.error_examples)[:MAX_EXAMPLES]
        self.answered += other.answered
        counters: list[tuple[Counter[Any], Counter[Any]]] = [
            (self.intents, other.intents), (self.tags, other.tags), (self.hour_total, other.hour_total),
            (self.hour_unanswered, other.hour_unanswered), (self.position_total, other.position_total),
            (self.position_unanswered, other.position_unanswered), (self.stage_total, other.stage_total),
            (self.stage_unanswered, other.stage_unanswered), (self.rules, other.rules)]
        for own, theirs in counters:
            own.update(theirs)
        self.unanswered.merge(other.unanswered)
        self.sessions_closed += other.sessions_closed
        self.sessions_complaint += other.sessions_complaint
        self.complaint_examples = (self.complaint_examples + other.complaint_examples)[:SHOWN]
        for session_id, their_state in other.open_sessions.items():
            own_state = self.open_sessions.get(session_id)
            if own_state is None:
                self.open_sessions[session_id] = their_state.copy()
                continue
            later, earlier = ((their_state.copy(), own_state) if their_state.last_order >= own_state.last_order
                              else (own_state, their_state))
            later.buyer_messages += earlier.buyer_messages
            self.open_sessions[session_id] = later
        while len(self.open_sessions) > MAX_OPEN_SESSIONS:
            session_id, oldest = self.open_sessions.popitem(last=False)
            self._close(oldest, session_id)
        return self

    # -- the figures --------------------------------------------------------------

    def figures(self, packs: PackSet | None = None) -> dict[str, Any]:
        """The report as plain data (the ``--json`` form); open sessions count as ended."""
        final = ReportCounts().merge(self)  # a copy to close, so the counts can still grow
        final.close_all()
        names = {p["id"]: str(p.get("zh", "")) for p in packs.intents} if packs else {}
        unanswered = final.messages - final.answered

        def share(part: int, whole: int) -> float:
            return round(part / whole, 4) if whole else 0.0

        def split(total: Counter[Any], missed: Counter[Any], keys: Iterable[Any], name: str) -> list[dict[str, Any]]:
            return [{name: k, "messages": total[k], "unanswered": missed[k], "share": share(missed[k], total[k])}
                    for k in keys if total[k]]

        catalog = rule_catalog(packs) if packs else []
        fired = {(i, k, p) for i, k, p in final.rules}
        never = [{"intent": i, "kind": k, "pattern": p} for i, k, p in catalog if (i, k, p) not in fired]
        return {
            "messages": final.messages,
            "agent_lines": final.agent_lines,
            "errors": {"count": final.errors,
                       "examples": [{"line": n, "error": e} for n, e in final.error_examples]},
            "answered": final.answered,
            "unanswered": unanswered,
            "unanswered_share": share(unanswered, final.messages),
            "intents": [{"id": i, "zh": names.get(i, ""), "messages": n, "share": share(n, final.messages)}
                        for i, n in sorted(final.intents.items(), key=lambda kv: (-kv[1], kv[0]))],
            "buyer_types": [{"id": t, "messages": n, "share": share(n, final.messages)}
                            for t, n in sorted(final.tags.items(), key=lambda kv: (-kv[1], kv[0]))],
            "by_hour": split(final.hour_total, final.hour_unanswered, range(24), "hour"),
            "by_position": split(final.position_total, final.position_unanswered, POSITIONS, "position"),
            "by_stage": split(final.stage_total, final.stage_unanswered, STAGES.values(), "stage"),
            "unanswered_groups": [{"messages": g.count, "examples": g.examples}
                                  for g in final.unanswered.top(SHOWN)],
            "unanswered_kinds": len(final.unanswered.groups),
            "unanswered_ungrouped": final.unanswered.ungrouped,
            "rules_fired": [{"intent": i, "kind": k, "pattern": p, "messages": n}
                            for (i, k, p), n in sorted(final.rules.items(), key=lambda kv: (-kv[1], kv[0]))[:SHOWN]],
            "rules_total": len(catalog),
            "rules_never_fired": never,
            "sessions": {"count": final.sessions_closed, "ended_on_complaint": final.sessions_complaint,
                         "share": share(final.sessions_complaint, final.sessions_closed),
                         "examples": final.complaint_examples},
        }


def rule_catalog(packs: PackSet) -> list[tuple[str, str, str]]:
    """Every rule of the intent packs that can be named: (intent, kind, pattern), from public pack data."""
    out: list[tuple[str, str, str]] = []
    for pack in packs.intents:
        intent = str(pack["id"])
        for keyword in pack.get("keywords", []) or []:
            text = keyword.get("text") if isinstance(keyword, dict) else keyword
            if isinstance(text, str):
                out.append((intent, "keyword", text))
        phrases = pack.get("phrases") or {}
        for item in (phrases.get("items", []) if isinstance(phrases, dict) else []):
            text = item.get("text") if isinstance(item, dict) else item
            if isinstance(text, str):
                out.append((intent, "phrase", text))
        for regex in pack.get("regex", []) or []:
            pattern = regex.get("pattern") if isinstance(regex, dict) else regex
            if isinstance(pattern, str):
                out.append((intent, "regex", pattern))
        for template in pack.get("templates", []) or []:
            text = template.get("template") if isinstance(template, dict) else template
            if isinstance(text, str):
                out.append((intent, "template", text))
    return out


def count_log(lines: Iterable[LogLine], engine: Engine, *, part: int = 0,
              counts: ReportCounts | None = None) -> ReportCounts:
    """Analyse every buyer message of ``lines`` into ``counts`` (new counts by default).

    Agent lines are context: they are counted, and the agent's last line goes with
    the session's earlier buyer messages as the history of the buyer's next message. Sessions stay open for
    the next part; call ``close_all()`` at the end of the whole log (the
    figures treat open sessions as ended).
    """
    counts = counts if counts is not None else ReportCounts()
    for _ in analyse_log(lines, engine, counts, part):
        pass
    return counts


def analyse_log(lines: Iterable[LogLine], engine: Engine, counts: ReportCounts, part: int = 0
                ) -> Iterator[tuple[LogLine, Analysis | None]]:
    """``count_log`` one line at a time: yields each line, with its analysis for a buyer message."""
    agent_said: dict[str, str] = {}
    for line in lines:
        if line.error is not None:
            counts.add_error(line.line, line.error)
            yield line, None
            continue
        if line.role == AGENT:
            counts.agent_lines += 1
            if line.session:
                agent_said[line.session] = line.text
            yield line, None
            continue
        state = counts.session(line.session) if line.session else Session()
        history: Any = list(state.history)
        if line.session in agent_said:
            history = [*history, {"role": AGENT, "text": agent_said.pop(line.session)}]
        try:
            analysis = engine.analyze(line.text, history, top=0)
        except InputError as exc:
            counts.add_error(line.line, str(exc))
            yield line, None
            continue
        state.buyer_messages += 1
        state.stage = analysis.stage or state.stage
        counts.add_analysis(analysis, session=line.session, position=state.buyer_messages, stage=state.stage,
                            hour=hour_of(line.time))
        state.history.append(line.text)
        state.last_order = (part, line.line)
        state.last_text, state.last_intents = line.text, analysis.intent_ids
        yield line, analysis
