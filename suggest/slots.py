"""Slots: the facts a buyer gives (165 110斤, XL, 顺丰, an order number), found by pack data.

``intents/_slots.yaml`` names, per slot, class words (an Aho-Corasick automaton
finds them all in one pass) and regular expressions for number formats (each
run only when the literal strings it needs occur, see ``regexinfo``); the
number itself is read by ``numbers``. ``compile_slots`` turns the validated
file into plain data for the program cache; ``SlotFinder`` is built from that
once per engine state and is read-only afterwards (safe across threads).

Template holes are filled from the slots (``{height}``, ``{order_no}``) and from
values derived with the shop's size chart (``{size_pick}``, ``{size_up}``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import Problem
from .normalize import Normalized, normalize
from .numbers import parse_meters, parse_number
from .results import Slot
from .sizechart import SizeCharts
from .sources import SLOTS_FILE

# Holes filled from slots through the size chart or a change of unit, not by a slot of their own.
DERIVED_HOLES = frozenset(("size_pick", "size_up", "size_beyond", "weight_jin"))
_HISTORY_CACHE = 1024
_LATIN_OR_DIGIT = re.compile(r"[a-z0-9#]")  # "#" stands for a hidden number ([数字x])


# -- reading and compiling the slots file ----------------------------------------------------

def read_slots(path: Path, problems: list[Problem]) -> dict[str, Any] | None:
    """The validated slots file as plain data, or None (its problems added to ``problems``)."""
    from .packs import read_validated
    from .schema import SLOTS

    doc = read_validated(path, SLOTS, problems)
    return None if doc is None else dict(doc.data)


def hole_names(data: dict[str, Any] | None) -> dict[str, str]:
    """Template hole -> the slot that fills it, plus the derived holes (see DERIVED_HOLES)."""
    holes = {name: name for name in DERIVED_HOLES}
    for name, slot in ((data or {}).get("slots") or {}).items():
        holes[slot.get("hole", name)] = name
    return holes


def slot_problems(packs: Any, shop_doc: Any) -> list[Problem]:
    """Reply packs against the slots file: ``asks`` names a slot; no shop variable hides a hole."""
    from .yamlfile import format_key_path

    problems: list[Problem] = []
    if packs.slots is None:
        return problems  # the slots file is broken, and its own problems say how
    names = set(packs.slots.get("slots") or {})
    for pack in packs.replies:
        lines: dict[Any, int] = pack["_lines"]
        for i, reply in enumerate(pack["replies"]):
            for j, asked in enumerate(reply.get("asks", [])):
                if asked not in names:
                    path = ("replies", i, "asks", j)
                    problems.append(Problem(pack["_file"], lines.get(path, lines.get(("replies", i), 0)),
                                            format_key_path(path),
                                            f"expected a slot name of {SLOTS_FILE}, got {asked!r}"))
    if shop_doc is not None:
        for name in sorted(set(packs.shop) & set(hole_names(packs.slots))):
            problems.append(Problem(shop_doc.path, shop_doc.line_of((name,)), name,
                                    f"expected no shop variable named like the slot hole {{{name}}}: "
                                    "rename the variable"))
    return problems


def _word(text: str) -> str:
    return normalize(str(text)).text or str(text).strip().lower()


def compile_slots(data: dict[str, Any] | None) -> dict[str, Any]:
    """Plain, cacheable data with every default applied (here, once)."""
    from .regexinfo import requirement

    slots = []
    for name, slot in ((data or {}).get("slots") or {}).items():
        low, high = slot.get("range", [float("-inf"), float("inf")])
        formats = []
        for item in slot.get("formats", []):
            item = {"pattern": item} if isinstance(item, str) else item
            formats.append([item["pattern"], item.get("parse", "number"), item.get("value"),
                            item.get("unit"), requirement(item["pattern"])])
        slots.append({
            "name": name,
            "hole": slot.get("hole", name),
            "range": [float(low), float(high)],
            "units": {_word(unit): float(factor) for unit, factor in (slot.get("units") or {}).items()},
            "bare": [[float(b["from"]), _word(b["unit"])]
                     for b in sorted(slot.get("bare", []), key=lambda b: -float(b["from"]))],
            "words": {_word(word): value for word, value in (slot.get("words") or {}).items()},
            "formats": formats,
            "placeholders": list(slot.get("placeholders", [])),
        })
    combined = []
    for item in (data or {}).get("combined", []):
        pattern = item if isinstance(item, str) else item["pattern"]
        combined.append([pattern, requirement(pattern)])
    return {"slots": slots, "combined": combined}


# -- finding ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    order: int
    name: str
    hole: str
    low: float
    high: float
    units: dict[str, float]
    bare: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class _Need:
    """A regex's requirement (see regexinfo) as bit masks of the needed strings.

    ``gate`` holds the first atom of every alternative: a message with none of
    them cannot match, which one AND tells for most formats and most messages.
    """

    gate: int  # 0: no requirement (always run)
    alternatives: tuple[tuple[int, ...], ...]

    def met(self, present: int) -> bool:
        if not self.gate:
            return True
        if not present & self.gate:
            return False
        return any(all(present & atom for atom in alt) for alt in self.alternatives)


@dataclass(frozen=True)
class _Format:
    spec: _Spec
    regex: re.Pattern[str]
    parse: str
    value: Any
    unit: str | None
    need: _Need


@dataclass(frozen=True)
class _Combined:
    regex: re.Pattern[str]
    need: _Need


# a found value before it becomes a Slot: (order, claim start, claim end, name, value, start, end)
_Found = tuple[int, int, int, str, Any, int, int]


@dataclass(frozen=True)
class Facts:
    """What the reply templates may use: the slots present and the holes they fill."""

    present: frozenset[str] = frozenset()
    holes: dict[str, Any] = field(default_factory=dict)


NO_FACTS = Facts()


def _before_ma(size: Any) -> Any:
    """Templates write sizes before 码 ({size_pick}码): 均码 fills the hole as 均."""
    return size[:-1] if isinstance(size, str) and len(size) > 1 and size.endswith("码") else size


def _tidy(value: Any) -> Any:
    """55.0 reads as 55: whole numbers as ints, others rounded to what a buyer typed."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 2)
    return value


class SlotFinder:
    def __init__(self, program: dict[str, Any]) -> None:
        self.specs: list[_Spec] = []
        self.formats: list[_Format] = []
        by_name: dict[str, _Spec] = {}
        words: dict[str, list[Any]] = {}  # word or needed string -> [[(spec, value), ...], bit]
        bits: dict[str, int] = {}

        def need_of(data: list[list[list[str]]] | None) -> _Need:
            if not data:
                return _Need(0, ())
            alternatives: list[tuple[int, ...]] = []
            for alt in data:
                masks: list[int] = []
                for atom in alt:
                    mask = 0
                    for string in atom:
                        bit = bits.setdefault(string, 1 << len(bits))
                        words.setdefault(string, [[], 0])[1] = bit
                        mask |= bit
                    masks.append(mask)
                alternatives.append(tuple(masks))
            gate = 0
            for alt_masks in alternatives:
                gate |= alt_masks[0] if alt_masks else 0
            return _Need(gate, tuple(alternatives)) if all(alternatives) else _Need(0, ())

        for order, slot in enumerate(program["slots"]):
            spec = _Spec(order, slot["name"], slot["hole"], slot["range"][0], slot["range"][1],
                         dict(slot["units"]), tuple((f, u) for f, u in slot["bare"]))
            self.specs.append(spec)
            by_name[spec.name] = spec
            for word, value in slot["words"].items():
                words.setdefault(word, [[], 0])[0].append((spec, value))
            for pattern, parse, value, unit, need in slot["formats"]:
                self.formats.append(_Format(spec, re.compile(pattern), parse, value, unit, need_of(need)))
        self.by_name = by_name
        self.combined = [_Combined(re.compile(p), need_of(need)) for p, need in program["combined"]]
        # one AND tells that no format can match (most messages: no digit, no unit word)
        needs = [f.need for f in self.formats] + [c.need for c in self.combined]
        self._any_gate = -1 if any(not n.gate for n in needs) else self._gates(needs)  # -1: always run
        from .matching import automaton

        self._finder = automaton({word: (len(word), tuple(entries), bit) for word, (entries, bit) in words.items()})
        placeholders = [(spec, kind) for slot, spec in zip(program["slots"], self.specs, strict=True)
                        for kind in slot["placeholders"]]
        self._placeholders = [(spec, re.compile(r"\[" + re.escape(kind) + r"[a-z]?\]")) for spec, kind in placeholders]
        self._history = lru_cache(maxsize=_HISTORY_CACHE)(self._history_slots)

    @staticmethod
    def _gates(needs: list[_Need]) -> int:
        union = 0
        for need in needs:
            union |= need.gate
        return union

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.specs)

    # the public entry points -----------------------------------------------------------

    def find(self, norm: Normalized, source: str = "message", turns_ago: int = 0) -> tuple[Slot, ...]:
        """The slots in one normalised message, in the order they occur."""
        text = norm.text
        found: list[_Found] = []
        if text:
            present = 0  # bits of the strings some regex needs
            for end, (size, entries, bit) in self._finder.iter(text):
                present |= bit
                if entries:
                    start = end + 1 - size
                    if self._word_fits(text, text[start:end + 1], start, end + 1):
                        for spec, value in entries:
                            found.append((spec.order, start, end + 1, spec.name, value, start, end + 1))
            if present & self._any_gate:  # else no format can match: words only
                self._formats(text, present, found)
        slots = [self._slot(norm, item, source, turns_ago) for item in _without_overlaps(found)] if found else []
        if "[" in norm.original and self._placeholders:
            for spec, regex in self._placeholders:
                for match in regex.finditer(norm.original):
                    slots.append(Slot(spec.name, match.group(0), match.group(0), match.start(), match.end(),
                                      source, turns_ago))
        if len(slots) > 1:
            slots.sort(key=lambda s: (s.start, s.end))
        return tuple(slots)

    def find_all(self, norm: Normalized, history: Sequence[str] = ()) -> tuple[Slot, ...]:
        """Slots of the message, then of the history from the latest earlier message back."""
        own = self.find(norm)
        if not history:
            return own
        earlier: list[Slot] = []
        for turns_ago, text in enumerate(reversed(history), 1):
            earlier.extend(self._history(text, turns_ago))
        return own + tuple(earlier)

    def facts(self, slots: Sequence[Slot], charts: SizeCharts | None = None,
              texts: Sequence[str] = ()) -> Facts:
        """The holes the slots fill (the message's own slot first, then the latest earlier one).

        ``texts`` (the normalised message, then earlier messages) name the product
        whose size chart applies.
        """
        if not slots:
            return NO_FACTS
        holes: dict[str, Any] = {}
        present: set[str] = set()
        values: dict[str, Any] = {}
        for slot in slots:  # message slots come first, then history from the latest back
            present.add(slot.name)
            spec = self.by_name.get(slot.name)
            if isinstance(slot.value, str) and slot.value.startswith("["):
                continue  # a JD placeholder: the buyer gave it, but its digits are hidden from us
            if slot.name not in values:
                values[slot.name] = slot.value
                if spec is not None:
                    holes[spec.hole] = _before_ma(slot.value) if slot.name == "size" else slot.value
        weight = values.get("weight")
        if isinstance(weight, (int, float)):
            holes["weight_jin"] = _tidy(float(weight) * 2)
        if charts is not None and ("height" in values or "weight" in values):
            pick = charts.pick(values.get("height"), weight, texts)
            if pick is not None:
                for hole, size in (("size_pick", pick.size), ("size_up", pick.up), ("size_beyond", pick.beyond)):
                    if size is not None:
                        holes[hole] = _before_ma(size)
        return Facts(frozenset(present), holes)

    # the parts ---------------------------------------------------------------------------

    def _formats(self, text: str, present: int, found: list[_Found]) -> None:
        """The number formats (and combined ones) whose needed strings occur."""
        for combined in self.combined:
            if combined.need.met(present):
                for match in combined.regex.finditer(text):
                    found.extend(self._from_combined(match))
        for fmt in self.formats:
            gate = fmt.need.gate
            if gate and not present & gate:
                continue  # the common case, decided without a call
            if fmt.need.met(present):
                for match in fmt.regex.finditer(text):
                    one = self._from_format(fmt, match)
                    if one is not None:
                        found.append(one)

    def _history_slots(self, text: str, turns_ago: int) -> tuple[Slot, ...]:
        return self.find(normalize(text), "history", turns_ago)

    @staticmethod
    def _word_fits(text: str, word: str, start: int, end: int) -> bool:
        """A Latin word stands alone: m is no size inside cm, s none inside sf, nor after a hidden number."""
        if not word[:1].isascii() and not word[-1:].isascii():
            return True
        before = text[start - 1] if start > 0 else ""
        after = text[end] if end < len(text) else ""
        return not (word[:1].isascii() and _LATIN_OR_DIGIT.match(before)) and \
            not (word[-1:].isascii() and _LATIN_OR_DIGIT.match(after))

    def _number(self, spec: _Spec, raw: str, parse: str, unit: str | None) -> Any:
        """A number as typed, in the slot's own unit and range; None when it is no such slot."""
        if parse == "text":
            return raw.upper()
        if parse == "day":
            day = parse_number(raw)
            return f"day {int(day)}" if day is not None else None
        if parse == "meters" or (parse == "auto" and ("米" in raw or "m" in raw)):
            number = parse_meters(raw)
        else:
            number = parse_number(raw)
        if number is None:
            return None
        if unit is None:
            unit = next((u for start, u in spec.bare if number >= start), None)
        number *= spec.units.get(unit, 1.0) if unit is not None else 1.0
        if not spec.low <= number <= spec.high:
            return None
        return _tidy(number)

    def _from_format(self, fmt: _Format, match: re.Match[str]) -> _Found | None:
        start, end = match.span()
        if end <= start:
            return None
        if fmt.value is not None:
            return (fmt.spec.order, start, end, fmt.spec.name, fmt.value, start, end)
        unit_text = match.groupdict().get("unit")
        value = self._number(fmt.spec, match.group("n"), fmt.parse, unit_text if unit_text is not None else fmt.unit)
        if value is None:
            return None
        return (fmt.spec.order, start, end, fmt.spec.name, value, start, end)

    def _from_combined(self, match: re.Match[str]) -> list[_Found]:
        out: list[_Found] = []
        groups = match.groupdict()
        for name, raw in groups.items():
            if name.endswith("_unit") or raw is None:
                continue
            spec = self.by_name[name]
            unit = groups.get(f"{name}_unit")
            value = self._number(spec, raw, "auto", unit)
            if value is None:
                return []  # one implausible number: the pair is not a height and a weight
            end = match.end(f"{name}_unit") if unit is not None else match.end(name)
            # ordered before every slot (-1): the pair claims both numbers
            out.append((-1, match.start(name), end, name, value, match.start(name), end))
        return out

    @staticmethod
    def _slot(norm: Normalized, item: _Found, source: str, turns_ago: int) -> Slot:
        _, _, _, name, value, start, end = item
        o_start, o_end = norm.span(start, end)
        return Slot(name, value, norm.original[o_start:o_end], o_start, o_end, source, turns_ago)


def _without_overlaps(found: list[_Found]) -> list[_Found]:
    """First slot in file order, then the longer match, wins a stretch of text."""
    taken: list[tuple[int, int]] = []
    kept: list[_Found] = []
    for item in sorted(found, key=lambda f: (f[0], -(f[2] - f[1]), f[1])):
        start, end = item[1], item[2]
        if any(start < b and a < end for a, b in taken):
            continue
        taken.append((start, end))
        kept.append(item)
    return kept
