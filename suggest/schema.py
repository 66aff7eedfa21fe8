"""The pack schemas, as data in one place, and the validator that reads them.

Every problem names the key path and says what was expected against what was
found, with the line from the YAML marks (see ``yamlfile``). Unknown keys are
errors: a misspelt ``keywordz`` must not silently drop rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import Problem
from .sizechart import SIZE_CHARTS_KEY
from .yamlfile import KeyPath, YamlDocument, format_key_path

STAGES = ("pre_sale", "in_sale", "after_sale")


class Spec:
    expected = "a value"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        raise NotImplementedError


@dataclass
class Reporter:
    doc: YamlDocument
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.doc.path, self.doc.line_of(path), format_key_path(path), message))

    def mismatch(self, path: KeyPath, expected: str, value: Any) -> None:
        self.error(path, f"expected {expected}, got {describe(value)}")


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else f"the text {value!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Text(Spec):
    def __init__(self, *, choices: tuple[str, ...] = (), allow_empty: bool = False) -> None:
        self.choices = choices
        self.allow_empty = allow_empty
        self.expected = f"one of {', '.join(choices)}" if choices else "a non-empty text"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, str) or (not self.allow_empty and not value.strip()) or self.choices and value not in self.choices:
            report.mismatch(path, self.expected, value)


class Identifier(Spec):
    expected = "an id of lower-case letters, digits, '_' and '.'"
    _shape = re.compile(r"^[a-z][a-z0-9_.]*$")

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, str) or not self._shape.match(value):
            report.mismatch(path, self.expected, value)


class Number(Spec):
    def __init__(self, low: float, high: float, *, integer: bool = False) -> None:
        self.low, self.high, self.integer = low, high, integer
        kind = "a whole number" if integer else "a number"
        self.expected = f"{kind} from {low:g} to {high:g}"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        ok_type = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or not (self.low <= value <= self.high):
            report.mismatch(path, self.expected, value)


class Flag(Spec):
    expected = "true or false"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, bool):
            report.mismatch(path, self.expected, value)


class Regex(Spec):
    """A regular expression that compiles and cannot backtrack catastrophically."""

    expected = "a regular expression"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, str) or not value:
            report.mismatch(path, self.expected, value)
            return
        from .regexguard import regex_problem

        problem = regex_problem(value)
        if problem:
            report.error(path, problem)


class TemplateText(Spec):
    """A rule template (see rule_templates): fragments of class names and literal text."""

    expected = "a template such as '{when} {send}'"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, str):
            report.mismatch(path, self.expected, value)
            return
        from .rule_templates import TemplateSyntaxError, parse

        try:
            parse(value, lambda text: text)
        except TemplateSyntaxError as exc:
            report.error(path, str(exc))


class ClassMap(Spec):
    """``classes:``: class names to lists of words."""

    expected = "a mapping of class names to lists of words"
    _name = re.compile(r"^[a-z][a-z0-9_]*$")

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, dict):
            report.mismatch(path, self.expected, value)
            return
        for name, words in value.items():
            if not isinstance(name, str) or not self._name.match(name):
                report.error((*path, name), f"expected a class name of lower-case letters, digits and '_', "
                                            f"got {name!r}")
            elif not isinstance(words, list) or not words:
                report.error((*path, name), f"expected a non-empty list of words for class {name!r}, "
                                            f"got {describe(words)}")
            else:
                for i, word in enumerate(words):
                    if not isinstance(word, (str, int)) or isinstance(word, bool) or not str(word).strip():
                        report.mismatch((*path, name, i), "a non-empty word", word)


class ListOf(Spec):
    def __init__(self, item: Spec, *, min_items: int = 0) -> None:
        self.item, self.min_items = item, min_items
        self.expected = f"a list of {item.expected}" + (" (at least one)" if min_items else "")

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, list) or len(value) < self.min_items:
            report.mismatch(path, self.expected, value)
            return
        for i, item in enumerate(value):
            self.item.check(item, (*path, i), report)


class Mapping(Spec):
    def __init__(self, name: str, fields: dict[str, Spec], required: tuple[str, ...] = (),
                 shorthand: tuple[str, Spec] | None = None,
                 extra: Callable[[dict[str, Any], KeyPath, Reporter], None] | None = None) -> None:
        self.name, self.fields, self.required = name, fields, required
        self.shorthand = shorthand  # a bare value stands for {key: value}
        self.extra = extra
        self.expected = f"a {name} mapping" + (" or a text" if shorthand else "")

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if self.shorthand is not None and not isinstance(value, dict):
            self.shorthand[1].check(value, path, report)
            return
        if not isinstance(value, dict):
            report.mismatch(path, self.expected, value)
            return
        for key, item in value.items():
            spec = self.fields.get(key)
            if spec is None:
                known = ", ".join(sorted(self.fields))
                report.error((*path, key), f"unknown key {key!r} in a {self.name} (expected one of: {known})")
                continue
            spec.check(item, (*path, key), report)
        for key in self.required:
            if key not in value:
                report.error(path, f"missing key {key!r} in a {self.name}")
        if self.extra is not None:
            self.extra(value, path, report)


WEIGHT = Number(0.0, 1.0)
# ``also``: other intents the example is expected to carry (silences overlap warnings).
# a history entry: the buyer's earlier message, or {role: agent, text: ...} for what the agent said
HISTORY_ENTRY = Mapping("history entry", {"role": Text(choices=("buyer", "agent")), "text": Text()},
                        ("role", "text"), shorthand=("text", Text()))
EXAMPLE = Mapping("example", {"text": Text(), "history": ListOf(HISTORY_ENTRY), "also": ListOf(Identifier())},
                  ("text",), shorthand=("text", Text()))
EXAMPLES = Mapping("examples", {"match": ListOf(EXAMPLE), "no_match": ListOf(EXAMPLE)})

KEYWORD = Mapping(
    "keyword",
    {
        "text": Text(),
        "weight": WEIGHT,
        # Derive homophone / pinyin-input slips of this keyword (包油 for 包邮).
        "variants": Flag(),
        # Count only when the keyword is a whole jieba token (for one-character words).
        "token": Flag(),
    },
    ("text",),
    shorthand=("text", Text()),
)
PATTERN = Mapping("regex rule", {"pattern": Regex(), "weight": WEIGHT}, ("pattern",),
                  shorthand=("pattern", Regex()))
PHRASES = Mapping("phrases", {"threshold": Number(50, 100, integer=True), "weight": WEIGHT,
                              "items": ListOf(Text(), min_items=1)}, ("items",))
# The whole message is made of these words (and punctuation): 好的 谢谢, 在吗 在吗.
ONLY = Mapping("only rule", {"words": ListOf(Text(), min_items=1), "particles": ListOf(Text()),
                             "weight": WEIGHT}, ("words",))
TOGETHER = Mapping("together rule", {"all": ListOf(ListOf(Text(), min_items=1), min_items=2),
                                     "weight": WEIGHT}, ("all",))

TEMPLATE = Mapping(
    "template rule",
    {
        "template": TemplateText(),
        "weight": WEIGHT,
        # characters allowed between two fragments (a space in the template)
        "gap": Number(0, 40, integer=True),
        "any_order": Flag(),
        # the agent's last message must match this template for the rule to count
        "agent": TemplateText(),
    },
    ("template",),
    shorthand=("template", TemplateText()),
)


def _one_of_pattern_template(value: dict[str, Any], path: KeyPath, report: Reporter) -> None:
    if ("pattern" in value) == ("template" in value):
        report.error(path, "expected exactly one of 'pattern' or 'template'")


# A negation or exclusion: a regex (a bare text) or a template.
GUARD = Mapping("negation or exclusion", {"pattern": Regex(), "template": TemplateText(),
                                          "gap": Number(0, 40, integer=True), "any_order": Flag()},
                shorthand=("pattern", Regex()), extra=_one_of_pattern_template)
STAGE_CUE = Mapping("stage cue", {"stage": Text(choices=STAGES), "words": ListOf(Text(), min_items=1)},
                    ("stage", "words"))

_RULE_FIELDS: dict[str, Spec] = {
    "classes": ClassMap(),
    "templates": ListOf(TEMPLATE),
    "keywords": ListOf(KEYWORD),
    "regex": ListOf(PATTERN),
    "phrases": PHRASES,
    "together": ListOf(TOGETHER),
    "only": ListOf(ONLY),
    # Matches inside these spans do not count (不用包邮, 不是质量问题).
    "negations": ListOf(GUARD),
    # Any match of these vetoes the whole intent or tag for the message.
    "exclude": ListOf(GUARD),
    "examples": EXAMPLES,
}

INTENT_PACK = Mapping(
    "intent pack",
    {
        "id": Identifier(),
        "zh": Text(),
        "description": Text(),
        "threshold": WEIGHT,
        # Drop this intent when any of these is present ("any": any other intent).
        "yields_to": ListOf(Text()),
        # May a short follow-up inherit this intent from the buyer's history?
        "lift": Flag(),
        # a need outside the label taxonomy (invoice): answered, never scored as an intent
        "other": Flag(),
        # found only when no other intent is (after the history): a holding reply for a
        # question or request no pack recognises; never scored as an intent
        "fallback": Flag(),
        # the sales stage this need usually belongs to, and words that move it
        "stage": Text(choices=STAGES),
        "stage_cues": ListOf(STAGE_CUE),
        **_RULE_FIELDS,
    },
    ("id",),
)

# intents/_shared.yaml: text that is never a buyer's need, whatever pack would match it
# (an agent's own words pasted back, platform notices).
SHARED_PACK = Mapping("shared rules", {"description": Text(), "exclude": ListOf(GUARD)})
# intents/_classes.yaml: word classes every pack may use
CLASSES_PACK = Mapping("shared classes", {"description": Text(), "classes": ClassMap()}, ("classes",))

SIGNALS = Mapping(
    "signals",
    {
        "exclamations": Mapping("exclamations signal", {"min": Number(1, 100, integer=True),
                                                        "weight": WEIGHT}, ("min", "weight")),
        "questions": Mapping("questions signal", {"min": Number(1, 100, integer=True),
                                                  "weight": WEIGHT}, ("min", "weight")),
        "short_messages": Mapping("short_messages signal",
                                  {"max_chars": Number(1, 100, integer=True),
                                   "min_history": Number(0, 20, integer=True), "weight": WEIGHT},
                                  ("max_chars", "weight")),
        "long_message": Mapping("long_message signal", {"min_chars": Number(1, 10000, integer=True),
                                                        "weight": WEIGHT}, ("min_chars", "weight")),
        "history_intents": Mapping("history_intents signal",
                                   {"intents": ListOf(Identifier(), min_items=1),
                                    "min": Number(1, 20, integer=True),
                                    "window": Number(1, 20, integer=True), "weight": WEIGHT},
                                   ("intents", "min", "weight")),
    },
)

TAG_PACK = Mapping(
    "customer-type pack",
    {"id": Identifier(), "zh": Text(), "description": Text(), "threshold": WEIGHT,
     "signals": SIGNALS, **_RULE_FIELDS},
    ("id",),
)

REPLY = Mapping(
    "reply",
    {
        "id": Identifier(),
        "text": Text(),
        "types": ListOf(Identifier()),
        "stages": ListOf(Text(choices=STAGES)),
        "with": ListOf(Identifier()),
        "without": ListOf(Identifier()),
        # written for these situations of the intent: offered only when one is present
        "situations": ListOf(Identifier(), min_items=1),
        # a generic reply that comes first in these situations
        "helps_in": ListOf(Identifier(), min_items=1),
        # never offered in these situations (it would contradict what the buyer said)
        # (a situation of another intent is named in full: order_change.already_cancelled)
        "not_in": ListOf(Identifier(), min_items=1),
        # the buyer's earlier messages carried (after) or did not carry (not_after) these intents
        "after": ListOf(Identifier(), min_items=1),
        "not_after": ListOf(Identifier(), min_items=1),
        # written for shops selling these categories (the shop profile's `categories`)
        "categories": ListOf(Identifier(), min_items=1),
        "priority": Number(0, 100),
        # slots this reply asks the buyer for: not offered when the buyer already gave one
        "asks": ListOf(Identifier()),
    },
    ("id", "text"),
)


class NamedMap(Spec):
    """A mapping of names (lower-case ids) to items of one spec."""

    _name = re.compile(r"^[a-z][a-z0-9_]*$")

    def __init__(self, item: Spec) -> None:
        self.item = item
        self.expected = f"a mapping of names to {item.expected}"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, dict):
            report.mismatch(path, self.expected, value)
            return
        for name, item in value.items():
            if not isinstance(name, str) or not self._name.match(name):
                report.error((*path, name), f"expected a name of lower-case letters, digits and '_', got {name!r}")
                continue
            self.item.check(item, (*path, name), report)


# A situation of an intent (shipping: shipped but not arrived): rules like an intent pack's.
SITUATION = Mapping(
    "situation",
    {"description": Text(), "threshold": WEIGHT, "stage": Text(choices=STAGES), **_RULE_FIELDS},
)

REPLY_PACK = Mapping(
    "reply pack",
    {"intent": Identifier(), "description": Text(), "situations": NamedMap(SITUATION),
     "replies": ListOf(REPLY, min_items=1)},
    ("intent", "replies"),
)

_SHOP_VALUE = Text(allow_empty=False)


def _check_shop(value: dict[str, Any], path: KeyPath, report: Reporter) -> None:
    for key, item in value.items():
        if key == SIZE_CHARTS_KEY:
            SIZE_CHARTS.check(item, (*path, key), report)
        elif not isinstance(key, str) or not re.match(r"^[a-z][a-z0-9_]*$", key):
            report.error((*path, key), f"expected a variable name of lower-case letters, digits and '_', got {key!r}")
        elif isinstance(item, bool) or not isinstance(item, (str, int, float, list)):
            report.mismatch((*path, key), "a text, a number or a list of texts", item)
        elif isinstance(item, list):
            for i, part in enumerate(item):
                if not isinstance(part, (str, int, float)) or isinstance(part, bool):
                    report.mismatch((*path, key, i), "a text or a number", part)


class ShopProfile(Spec):
    expected = "a mapping of variable names to values"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, dict):
            report.mismatch(path, self.expected, value)
            return
        _check_shop(value, path, report)


SHOP_PROFILE = ShopProfile()


def validate(doc: YamlDocument, spec: Spec) -> list[Problem]:
    report = Reporter(doc)
    spec.check(doc.data, (), report)
    return report.problems


# -- specs for slots and size charts (see slots.py, sizechart.py) -----------------------------

class MapOf(Spec):
    """A mapping whose keys are free (words, product names) and whose values share a spec."""

    def __init__(self, name: str, value: Spec, *, key: Spec | None = None, min_items: int = 0) -> None:
        self.name, self.value, self.key, self.min_items = name, value, key, min_items
        self.expected = f"a mapping of {name}" + (" (at least one)" if min_items else "")

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, dict) or len(value) < self.min_items:
            report.mismatch(path, self.expected, value)
            return
        for key, item in value.items():
            if self.key is not None:
                self.key.check(key, (*path, key), report)
            self.value.check(item, (*path, key), report)


class Scalar(Spec):
    """A text or a number (a normalised slot value)."""

    expected = "a text or a number"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) \
                or isinstance(value, str) and not value.strip():
            report.mismatch(path, self.expected, value)


class Range(Spec):
    """[low, high], two numbers with low <= high, within [floor, ceiling]."""

    def __init__(self, floor: float = 0, ceiling: float = 1e9) -> None:
        self.floor, self.ceiling = floor, ceiling
        self.expected = f"[low, high]: two numbers from {floor:g} to {ceiling:g}, low <= high"

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, list) or len(value) != 2 or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not self.floor <= v <= self.ceiling
                for v in value) or value[0] > value[1]:
            report.mismatch(path, self.expected, value)

# -- the shop's size charts (replies/shop.yaml: size_charts) ---------------------------------

_HOLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_size_rows(rows: Any, path: KeyPath, report: Reporter) -> None:
    """Rows run from the smallest size up: the next row is the size up for a loose fit."""
    if not isinstance(rows, list):
        return
    for dimension in ("height", "weight", "weight_jin", "chest", "waist", "foot"):
        last: float | None = None
        for i, row in enumerate(rows):
            span = row.get(dimension) if isinstance(row, dict) else None
            if not (isinstance(span, list) and len(span) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in span)):
                continue
            if last is not None and span[0] < last:
                report.error((*path, i, dimension), f"expected rows from the smallest size up: {dimension} "
                                                    f"starts at {span[0]:g}, below the row before ({last:g})")
            last = span[0]


def _check_size_row(row: dict[str, Any], path: KeyPath, report: Reporter) -> None:
    if not set(row) & {"height", "weight", "weight_jin"}:
        report.error(path, "expected a height, weight or weight_jin range in a size chart row")
    if "weight" in row and "weight_jin" in row:
        report.error(path, "expected either weight (kg) or weight_jin (斤) in a size chart row, not both")


SIZE_ROW = Mapping(
    "size chart row",
    {
        "size": Scalar(),
        "height": Range(50, 250),  # centimetres
        "weight": Range(2, 250),  # kilograms
        "weight_jin": Range(4, 500),  # 斤, as Chinese shops often write it
        "chest": Range(30, 200),  # centimetres
        "waist": Range(30, 200),
        "foot": Range(10, 35),  # foot length, centimetres
    },
    ("size",),
    extra=_check_size_row,
)


class SizeRows(Spec):
    def __init__(self) -> None:
        self.rows = ListOf(SIZE_ROW, min_items=1)
        self.expected = self.rows.expected

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        self.rows.check(value, path, report)
        _check_size_rows(value, path, report)


# default: the chart for every product; other keys are product words (连衣裙, 运动鞋)
# whose chart is used when the buyer's message or history names them
SIZE_CHARTS = MapOf("product names to size chart rows", SizeRows(), key=Text(), min_items=1)

# -- the slots file (intents/_slots.yaml) ---------------------------------------------------

SLOT_PARSERS = ("number", "meters", "text", "day")


def _check_slot_format(item: dict[str, Any], path: KeyPath, report: Reporter) -> None:
    pattern = item.get("pattern")
    if not isinstance(pattern, str):
        return
    try:
        groups = set(re.compile(pattern).groupindex)
    except re.error:
        return  # Regex() has reported it
    if "value" not in item and "n" not in groups:
        report.error((*path, "pattern"), "expected a named group (?P<n>...) for the number, or a 'value'")
    if "unit" in item and "unit" in groups:
        report.error((*path, "unit"), "expected either a (?P<unit>...) group or a 'unit', not both")


SLOT_FORMAT = Mapping(
    "slot format",
    {"pattern": Regex(), "parse": Text(choices=SLOT_PARSERS), "value": Scalar(), "unit": Text()},
    ("pattern",),
    shorthand=("pattern", Regex()),
    extra=_check_slot_format,
)


def _check_slot(slot: dict[str, Any], path: KeyPath, report: Reporter) -> None:
    hole = slot.get("hole")
    if isinstance(hole, str) and not _HOLE_NAME.match(hole):
        report.mismatch((*path, "hole"), "a hole name of lower-case letters, digits and '_'", hole)
    units = slot.get("units", {})
    units = units if isinstance(units, dict) else {}
    for i, bare in enumerate(slot.get("bare", []) or []):
        if isinstance(bare, dict) and isinstance(bare.get("unit"), str) and bare["unit"] not in units:
            report.error((*path, "bare", i, "unit"), f"expected a unit of 'units', got {bare['unit']!r}")
    for i, item in enumerate(slot.get("formats", []) or []):
        if isinstance(item, dict) and isinstance(item.get("unit"), str) and item["unit"] not in units:
            report.error((*path, "formats", i, "unit"), f"expected a unit of 'units', got {item['unit']!r}")
    if not any(slot.get(key) for key in ("words", "formats", "placeholders")):
        report.error(path, "expected words, formats or placeholders in a slot")


SLOT = Mapping(
    "slot",
    {
        "description": Text(),
        "hole": Text(),
        "words": MapOf("words to values", Scalar(), key=Text(), min_items=1),
        "formats": ListOf(SLOT_FORMAT, min_items=1),
        "units": MapOf("units to factors", Number(1e-6, 1e6), key=Text(), min_items=1),
        "bare": ListOf(Mapping("bare unit", {"from": Number(0, 1e9), "unit": Text()}, ("from", "unit"))),
        "range": Range(-1e9, 1e9),
        "placeholders": ListOf(Text(), min_items=1),
    },
    extra=_check_slot,
)


def _check_slots_file(doc: dict[str, Any], path: KeyPath, report: Reporter) -> None:
    slots = doc.get("slots")
    names = set(slots) if isinstance(slots, dict) else set()
    for key in names:
        if not isinstance(key, str) or not _HOLE_NAME.match(key):
            report.error((*path, "slots", key), f"expected a slot name of lower-case letters, digits and '_', "
                                                f"got {key!r}")
    for i, item in enumerate(doc.get("combined", []) or []):
        pattern = item.get("pattern") if isinstance(item, dict) else item
        try:
            groups = set(re.compile(pattern).groupindex) if isinstance(pattern, str) else set()
        except re.error:
            continue
        slot_groups = {g for g in groups if not g.endswith("_unit")}
        if len(slot_groups) < 2:
            report.error((*path, "combined", i), "expected two or more named groups, each a slot")
        for group in sorted(groups):
            base = group[:-5] if group.endswith("_unit") else group
            if base not in names:
                report.error((*path, "combined", i), f"expected named groups that are slots, got (?P<{group}>...)")


SLOTS = Mapping(
    "slots file",
    {
        "description": Text(),
        "slots": MapOf("slot names to slots", SLOT, min_items=1),
        "combined": ListOf(Mapping("combined format", {"pattern": Regex()}, ("pattern",),
                                   shorthand=("pattern", Regex()))),
    },
    ("slots",),
    extra=_check_slots_file,
)
