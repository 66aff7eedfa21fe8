"""Precision, recall and F1 of intents and customer-type tags on a labelled set.

The labelled format is the one of ``shared/eval``: one JSON object a line with
``text``, ``intents``, ``tags`` and optional ``history`` and ``id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import Engine
from .errors import InputError
from .results import Analysis


@dataclass(frozen=True)
class LabelledMessage:
    id: str
    text: str
    intents: frozenset[str]
    tags: frozenset[str]
    history: tuple[Any, ...] = ()
    other: str | None = None  # a need outside the taxonomy (invoice, repair); intents then []


def read_labelled(path: str | Path) -> list[LabelledMessage]:
    rows: list[LabelledMessage] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                rows.append(LabelledMessage(
                    id=str(data.get("id", number)), text=data["text"],
                    intents=frozenset(data.get("intents", [])), tags=frozenset(data.get("tags", [])),
                    history=tuple(data.get("history", [])),
                    other=data.get("other") if isinstance(data.get("other"), str) else None))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise InputError(f"{path}:{number}: expected a labelled message object, got an error: {exc}") from None
    return rows


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4), "support": self.tp + self.fn}


@dataclass(frozen=True)
class ErrorCase:
    id: str
    text: str
    label: str
    kind: str  # "false positive" or "false negative"
    expected: tuple[str, ...]
    got: tuple[str, ...]
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    per_label: dict[str, Score]

    @property
    def micro(self) -> Score:
        return Score(sum(s.tp for s in self.per_label.values()), sum(s.fp for s in self.per_label.values()),
                     sum(s.fn for s in self.per_label.values()))

    @property
    def macro_f1(self) -> float:
        scored = [s for s in self.per_label.values() if s.tp + s.fn + s.fp]
        return sum(s.f1 for s in scored) / len(scored) if scored else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"per_label": {k: v.to_dict() for k, v in sorted(self.per_label.items())},
                "micro": self.micro.to_dict(), "macro_f1": round(self.macro_f1, 4)}


@dataclass(frozen=True)
class EvalReport:
    messages: int
    intents: Table
    tags: Table
    empty_messages: int
    false_alarms: int
    errors: tuple[ErrorCase, ...] = field(default=())
    # of the no-intent messages, those labelled with a need outside the taxonomy (other)
    other_messages: int = 0
    other_false_alarms: int = 0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.empty_messages if self.empty_messages else 0.0

    @property
    def chatter_false_alarm_rate(self) -> float:
        chatter = self.empty_messages - self.other_messages
        return (self.false_alarms - self.other_false_alarms) / chatter if chatter else 0.0

    @property
    def other_false_alarm_rate(self) -> float:
        return self.other_false_alarms / self.other_messages if self.other_messages else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "intents": self.intents.to_dict(), "tags": self.tags.to_dict(),
                "no_intent_messages": self.empty_messages, "false_alarms": self.false_alarms,
                "false_alarm_rate": round(self.false_alarm_rate, 4),
                "other_messages": self.other_messages, "other_false_alarms": self.other_false_alarms,
                "chatter_false_alarm_rate": round(self.chatter_false_alarm_rate, 4),
                "other_false_alarm_rate": round(self.other_false_alarm_rate, 4),
                "errors": [vars(e) | {"expected": list(e.expected), "got": list(e.got),
                                      "evidence": list(e.evidence)} for e in self.errors]}

    def format_table(self) -> str:
        lines = [f"{'intent':<18}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}"]
        for label, score in sorted(self.intents.per_label.items()):
            lines.append(f"{label:<18}{score.precision:>7.3f}{score.recall:>7.3f}{score.f1:>7.3f}"
                         f"{score.tp + score.fn:>6}")
        micro = self.intents.micro
        lines.append(f"{'tags micro':<18}{self.tags.micro.precision:>7.3f}{self.tags.micro.recall:>7.3f}"
                     f"{self.tags.micro.f1:>7.3f}{self.tags.micro.tp + self.tags.micro.fn:>6}")
        lines.append(f"false alarms on {self.empty_messages} no-intent messages: {self.false_alarms} "
                     f"({self.false_alarm_rate:.1%})")
        chatter = self.empty_messages - self.other_messages
        lines.append(f"  chatter: {self.false_alarms - self.other_false_alarms} of {chatter} "
                     f"({self.chatter_false_alarm_rate:.1%}); needs outside the taxonomy (other): "
                     f"{self.other_false_alarms} of {self.other_messages} ({self.other_false_alarm_rate:.1%})")
        lines.append(f"intents macro-F1 {self.intents.macro_f1:.3f}")
        lines.append(f"intents micro-F1 {micro.f1:.3f} (P {micro.precision:.3f}, R {micro.recall:.3f}) "
                     f"on {self.messages} messages")
        return "\n".join(lines)

    def format_errors(self) -> str:
        out: list[str] = []
        for label in sorted({e.label for e in self.errors}):
            out.append(f"== {label}")
            for e in self.errors:
                if e.label != label:
                    continue
                why = f"  fired: {'; '.join(e.evidence)}" if e.evidence else ""
                out.append(f"  {e.kind[6:] if e.kind.startswith('false ') else e.kind}: [{e.id}] {e.text}"
                           f"  expected={','.join(e.expected) or '-'} got={','.join(e.got) or '-'}{why}")
        return "\n".join(out)


def _count(pairs: Iterable[tuple[frozenset[str], frozenset[str]]], labels: Sequence[str]) -> Table:
    tp = dict.fromkeys(labels, 0)
    fp = dict.fromkeys(labels, 0)
    fn = dict.fromkeys(labels, 0)
    for gold, got in pairs:
        for label in gold | got:
            tp.setdefault(label, 0), fp.setdefault(label, 0), fn.setdefault(label, 0)
            if label in gold and label in got:
                tp[label] += 1
            elif label in got:
                fp[label] += 1
            else:
                fn[label] += 1
    return Table({label: Score(tp[label], fp[label], fn[label]) for label in tp})


def evaluate(engine: Engine, rows: Sequence[LabelledMessage]) -> EvalReport:
    intent_pairs = []
    tag_pairs = []
    errors: list[ErrorCase] = []
    empty = alarms = other = other_alarms = 0
    outside = engine.outside_taxonomy  # answered (invoice), but not labels of the taxonomy
    for row in rows:
        try:
            analysis: Analysis | None = engine.analyze(row.text, row.history)
        except InputError:
            analysis = None  # a line with nothing to read once placeholders go ([图片]): no intent
        got = frozenset(analysis.intent_ids) - outside if analysis is not None else frozenset()
        intent_pairs.append((row.intents, got))
        tag_pairs.append((row.tags, frozenset(analysis.tag_ids) if analysis is not None else frozenset()))
        if not row.intents:
            empty += 1
            alarms += bool(got)
            if row.other:
                other += 1
                other_alarms += bool(got)
        evidence_of = {m.id: tuple(f"{e.kind} {e.pattern!r}→{e.text!r}" for e in m.evidence)
                       for m in (analysis.intents if analysis is not None else ())}
        for label in sorted(row.intents ^ got):
            kind = "false positive" if label in got else "false negative"
            errors.append(ErrorCase(row.id, row.text, label, kind, tuple(sorted(row.intents)), tuple(sorted(got)),
                                    evidence_of.get(label, ())))
    labels = [i for i in engine.intent_ids if i not in outside]
    return EvalReport(len(rows), _count(intent_pairs, labels), _count(tag_pairs, engine.tag_ids),
                      empty, alarms, tuple(errors), other, other_alarms)
