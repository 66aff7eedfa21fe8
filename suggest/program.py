"""The compiled rule program: one frozen record per rule kind, the rule set, the hit.

This module is the one place that says what a compiled pack holds. The compiler
fills these records (defaults already applied by the schema, once), the matcher
and the engine read their named fields, and the cache stores them through
``encode``/``decode``, which turn records into marshal-able tuples and back. The
cache key includes ``model_fingerprint()``, derived from the records' definitions:
a change of shape gives a new key without anyone bumping a number by hand.

Adding a rule kind means one record here, its compile step in ``compiler`` and
its matching code in ``matching``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

# A regex's requirement (see regexinfo): alternatives, each a tuple of atoms, each atom
# the strings one of which must occur; None when the regex may match anything.
Need = tuple[tuple[tuple[str, ...], ...], ...] | None


class Part(NamedTuple):
    """The word behind one piece of a template: its class, the word, its span (normalised)."""

    word_class: str
    word: str
    start: int
    end: int


class Hit(NamedTuple):
    """One rule that fired, with its span in the normalised text.

    Cheap to make (a tuple with names); turned into ``Evidence`` only for what is reported.
    """

    kind: str  # keyword | variant | fuzzy | regex | together | only | template | signal | history
    pattern: str
    start: int
    end: int
    weight: float
    parts: tuple[Part, ...] = ()


PLAIN = {"plain": True}  # field metadata: the value holds no records


@dataclass(frozen=True)
class KeywordRule:
    text: str
    weight: float
    token: bool  # counts only as a whole jieba token (one-character words)
    slip_keys: tuple[str, ...]  # pinyin readings a typing slip of the word may share


@dataclass(frozen=True)
class RegexRule:
    pattern: str
    weight: float
    need: Need


@dataclass(frozen=True)
class PhraseRules:
    threshold: int
    weight: float
    items: tuple[str, ...]


@dataclass(frozen=True)
class TogetherRule:
    groups: tuple[tuple[str, ...], ...]
    weight: float


@dataclass(frozen=True)
class OnlyRule:
    words: tuple[str, ...]  # longest first
    particles: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class WordClass:
    """A named list of words; ``name`` is unique in the program (pack classes are
    prefixed with their pack id, literal pieces of templates are classes of one word)."""

    name: str
    words: tuple[str, ...]
    slip_keys: tuple[tuple[str, ...], ...]  # per word, as KeywordRule.slip_keys


@dataclass(frozen=True)
class TemplateRule:
    """Ordered fragments, each a run of adjacent pieces; each piece a word class.

    Fragments follow each other with at most ``gap`` characters between them
    (any order with ``any_order``). ``agent`` is a template the agent's last
    message must match for this one to count.
    """

    source: str
    fragments: tuple[tuple[str, ...], ...]
    weight: float
    gap: int
    any_order: bool
    agent: TemplateRule | None = None

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(c for fragment in self.fragments for c in fragment)


@dataclass(frozen=True)
class Guard:
    """A negation or exclusion: a regex (with its requirement) or a template."""

    pattern: str | None
    need: Need
    template: TemplateRule | None


@dataclass(frozen=True)
class StageCue:
    """Words that move an intent out of its usual stage (包邮吗 is asked before buying)."""

    stage: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Signal:
    name: str  # exclamations | questions | short_messages | long_message | history_intents
    weight: float
    minimum: int = 0  # min, min_chars, or the count of history_intents
    max_chars: int = 0
    min_history: int = 1
    window: int = 3
    intents: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    id: str
    zh: str
    threshold: float
    yields_to: tuple[str, ...]
    lift: bool  # may a short follow-up inherit it from the history
    other: bool  # a need outside the label taxonomy (invoice): answered, not scored
    stage: str | None
    stage_cues: tuple[StageCue, ...]
    keywords: tuple[KeywordRule, ...]
    regexes: tuple[RegexRule, ...]
    phrases: PhraseRules | None
    together: tuple[TogetherRule, ...]
    only: tuple[OnlyRule, ...]
    templates: tuple[TemplateRule, ...]
    negations: tuple[Guard, ...]
    exclude: tuple[Guard, ...]
    signals: tuple[Signal, ...]
    # counts only when no other intent is found: a holding reply for a question no pack knows
    fallback: bool = False


@dataclass(frozen=True)
class Program:
    intents: tuple[RuleSet, ...]
    tags: tuple[RuleSet, ...]
    # situations of intents, each a rule set with the id ``intent.situation``
    situations: tuple[RuleSet, ...]
    classes: tuple[WordClass, ...]
    # plain data (no records inside): stored and read as it is, not walked value by value
    replies: tuple[dict[str, Any], ...] = dataclasses.field(metadata=PLAIN)  # reply packs as validated
    shop: dict[str, Any] = dataclasses.field(metadata=PLAIN)
    # the slot extractors, as ``slots.compile_slots`` writes them
    slots: dict[str, Any] = dataclasses.field(metadata=PLAIN)
    jieba: tuple[dict[str, int], int] = dataclasses.field(metadata=PLAIN)
    pinyin: dict[str, str] = dataclasses.field(metadata=PLAIN)


_RECORDS: tuple[type, ...] = (KeywordRule, RegexRule, PhraseRules, TogetherRule, OnlyRule, WordClass,
                              TemplateRule, Guard, StageCue, Signal, RuleSet, Program)
_TAG = {cls: index for index, cls in enumerate(_RECORDS)}


@functools.cache
def model_fingerprint() -> str:
    """A hash of every record's fields and their types: part of the cache key."""
    digest = hashlib.sha256()
    for cls in _RECORDS:
        digest.update(cls.__name__.encode())
        for f in dataclasses.fields(cls):
            digest.update(f"{f.name}:{f.type}:{dict(f.metadata)}".encode())
    return digest.hexdigest()




def encode(value: Any) -> Any:
    """A record tree as tuples, lists and dicts that ``marshal`` can store.

    A record becomes ``(None, tag, field values...)``: no tuple of the model's own
    data starts with None, and data read from YAML (the shop profile, replies) holds
    lists and dicts only, which are kept as they are.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (None, _TAG[type(value)], *(getattr(value, f.name) if f.metadata.get("plain")
                                           else encode(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, tuple):
        return tuple(encode(v) for v in value)
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


_FIELDS = tuple(tuple(f.name for f in dataclasses.fields(cls)) for cls in _RECORDS)
_PLAIN_FIELDS = tuple(tuple(bool(f.metadata.get("plain")) for f in dataclasses.fields(cls)) for cls in _RECORDS)


def decode(value: Any) -> Any:
    """The inverse of ``encode``.

    Records are filled in one step (``__dict__``) instead of through a frozen
    dataclass's ``__init__``: the same objects, and a one-shot lookup decodes thousands.
    """
    if isinstance(value, tuple):
        if value and value[0] is None:
            tag = value[1]
            record: Any = object.__new__(_RECORDS[tag])
            values = [v if plain else decode(v) for v, plain in zip(value[2:], _PLAIN_FIELDS[tag], strict=True)]
            record.__dict__.update(zip(_FIELDS[tag], values, strict=True))
            return record
        return tuple(decode(v) for v in value)
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    return value
