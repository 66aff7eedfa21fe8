"""The frozen result types the library hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

_T = TypeVar("_T")


def assemble(cls: type[_T], **fields: Any) -> _T:
    """A frozen result made from all of its fields, for the per-message hot path.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
    filling ``__dict__`` in one call builds the same object in about half the time.
    Every field must be given (no defaults are applied).
    """
    made = object.__new__(cls)
    made.__dict__.update(fields)
    return made


@dataclass(frozen=True)
class EvidencePart:
    """The class word behind one piece of a template, with its span in the original text."""

    word_class: str
    word: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.word_class, "word": self.word, "span": [self.start, self.end]}


@dataclass(frozen=True)
class Evidence:
    """Why a rule fired: its kind, its pattern, and what the buyer typed."""

    kind: str  # keyword | variant | fuzzy | regex | template | together | only | signal | history
    pattern: str
    start: int  # span in the original text (end exclusive)
    end: int
    text: str
    weight: float
    # span in the normalised text, for negation checks; not part of the result
    norm_span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)
    # for a template: the class word behind each piece
    parts: tuple[EvidencePart, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "pattern": self.pattern, "span": [self.start, self.end],
                               "text": self.text, "weight": round(self.weight, 3)}
        if self.parts:
            out["parts"] = [p.to_dict() for p in self.parts]
        return out


@dataclass(frozen=True)
class Slot:
    """A fact the buyer gave: 165 (height, cm), 110斤 (weight, 55 kg), 顺丰 (courier)."""

    name: str  # height | weight | size | order_no | courier | ... (intents/_slots.yaml)
    value: str | int | float  # normalised: cm, kg, yuan, days; 'XL'; '顺丰'
    text: str  # what the buyer typed
    start: int  # span in the original text of its message (end exclusive)
    end: int
    source: str = "message"  # message | history
    turns_ago: int = 0  # history: 1 is the buyer's message just before this one

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "text": self.text, "span": [self.start, self.end],
                "source": self.source, "turns_ago": self.turns_ago}


@dataclass(frozen=True)
class IntentMatch:
    id: str
    score: float
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(self.score, 3), "evidence": [e.to_dict() for e in self.evidence]}


@dataclass(frozen=True)
class TagMatch:
    id: str
    score: float
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(self.score, 3), "evidence": [e.to_dict() for e in self.evidence]}


@dataclass(frozen=True)
class Reply:
    id: str
    intent: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "intent": self.intent, "text": self.text}


@dataclass(frozen=True)
class Analysis:
    text: str
    normalized: str
    intents: tuple[IntentMatch, ...] = ()
    tags: tuple[TagMatch, ...] = ()
    replies: tuple[Reply, ...] = ()
    slots: tuple[Slot, ...] = ()
    stage: str | None = None
    truncated: bool = False
    # cases of the intents (``shipping.in_transit``) that chose the replies
    situations: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def intent_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.intents)

    @property
    def tag_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.tags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "normalized": self.normalized,
            "intents": [m.to_dict() for m in self.intents],
            "tags": [m.to_dict() for m in self.tags],
            "replies": [r.to_dict() for r in self.replies],
            "situations": list(self.situations),
            "slots": [s.to_dict() for s in self.slots],
            "stage": self.stage,
            "truncated": self.truncated,
            "timings_ms": {k: round(v * 1000, 3) for k, v in self.timings.items()},
        }
