"""Compile validated packs into the matching program: plain, cacheable data.

The program holds only lists, dicts, strings and numbers, so the cache can
store it with ``marshal`` (fast, and it constructs no objects of its own).
Expensive derived tables are built here, once per pack content:

* the compact jieba prefix dictionary (see ``tokenizer``);
* toneless pinyin of every CJK character, and of every keyword, so the
  matcher can recognise pinyin-input slips (包油 for 包邮, 推货 for 退货)
  without anyone listing misspellings by hand.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .normalize import normalize
from .packs import PackSet, situation_packs
from .program import (
    Guard,
    KeywordRule,
    Need,
    OnlyRule,
    PhraseRules,
    Program,
    RegexRule,
    RuleSet,
    Signal,
    StageCue,
    TemplateRule,
    TogetherRule,
    WordClass,
)
from .regexinfo import requirement
from .rule_templates import DEFAULT_GAP, LITERAL, OPTIONAL, parse
from .slots import compile_slots
from .tokenizer import build_prefix_dict


def is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def pinyin_table() -> dict[str, str]:
    """Toneless reading of each CJK character (its most common reading), cached: a
    compile after a pack edit need not import pypinyin at all."""
    from .cache import installed_key, load_or_build_data

    return dict(load_or_build_data("pinyin-table", installed_key("pypinyin"), _read_pinyin_table))


def _read_pinyin_table() -> dict[str, str]:
    """Read straight from pypinyin's table (the first reading listed is the one
    ``lazy_pinyin`` gives; a test checks they agree), with the tone marks taken
    off: 20,000 calls of ``lazy_pinyin`` would cost most of a compile.
    """
    from pypinyin.pinyin_dict import pinyin_dict

    table: dict[str, str] = {}
    for code, readings in pinyin_dict.items():
        if 0x4E00 <= code <= 0x9FFF:
            table[chr(code)] = toneless(readings.split(",")[0])
    return table


def toneless(reading: str) -> str:
    """pīn -> pin, lǜ -> lv (the spelling pypinyin's Style.NORMAL uses)."""
    decomposed = unicodedata.normalize("NFD", reading).replace("u\u0308", "v")
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _need(pattern: str) -> Need:
    """The strings any match needs (see regexinfo), stored so that a new process
    neither analyses nor compiles regexes that the message cannot match."""
    found = requirement(pattern)
    return None if found is None else tuple(tuple(tuple(atom) for atom in alt) for alt in found)


def _pinyin_keys(word: str, pinyin: dict[str, str]) -> list[str]:
    """Readings a slip of ``word`` may share: the word's own (便宜 = pian yi) and
    the characters' most common ones (bian yi), which is how a typed slip is read."""
    keys = {_reading(word), " ".join(pinyin[c] for c in word)}
    return sorted(keys)


class _Readings:
    """pypinyin's reading of whole words (its phrase dictionary knows 便宜 is pian yi),
    kept in the process and in the cache between compiles: packs repeat words across
    classes, and a pack edit changes a few words, so most compiles import no pypinyin."""

    def __init__(self) -> None:
        self.known: dict[str, str] | None = None
        self.added = False

    def get(self, word: str) -> str:
        if self.known is None:
            from .cache import installed_key, read_data

            stored = read_data("pinyin-readings", installed_key("pypinyin"))
            self.known = dict(stored) if isinstance(stored, dict) else {}
        found = self.known.get(word)
        if found is None:
            from pypinyin import Style, lazy_pinyin

            found = self.known[word] = " ".join(lazy_pinyin(word, style=Style.NORMAL))
            self.added = True
        return found

    def save(self) -> None:
        if self.added and self.known is not None:
            from .cache import installed_key, store_data

            store_data("pinyin-readings", installed_key("pypinyin"), self.known)
            self.added = False


_READINGS = _Readings()


def _reading(word: str) -> str:
    return _READINGS.get(word)


def _word(text: str) -> str:
    """A pack word as the matcher sees messages: 包郵 and ＸＬ read as 包邮 and xl."""
    folded = normalize(text).text
    return folded or text.strip().lower()


def _keyword(item: Any, pinyin: dict[str, str], slips: bool) -> KeywordRule:
    rule = {"text": item} if isinstance(item, str) else item
    text = _word(rule["text"])
    return KeywordRule(text, float(rule.get("weight", 0.6)), bool(rule.get("token", False)),
                       _slip_keys(text, pinyin, bool(rule.get("variants", slips))))


def _slip_keys(text: str, pinyin: dict[str, str], slips: bool) -> tuple[str, ...]:
    """Readings a slip of ``text`` may share; none for short, non-Chinese or unread words."""
    if slips and len(text) >= 2 and all(is_cjk(c) and c in pinyin for c in text):
        return tuple(_pinyin_keys(text, pinyin))
    return ()


def fold_words(words: list[Any]) -> tuple[str, ...]:
    """Class words as the matcher sees messages, each once, longest first."""
    folded = {_word(str(w)) for w in words}
    return tuple(sorted((w for w in folded if w), key=lambda w: (-len(w), w)))


class _Classes:
    """The word classes of a program: shared ones by name, a pack's own as ``pack:name``,
    literal template text as classes of one word. Each is made once."""

    def __init__(self, shared: dict[str, list[Any]], pinyin: dict[str, str]) -> None:
        self.pinyin = pinyin
        self.made: dict[str, WordClass] = {}
        self.shared = {name: fold_words(words) for name, words in shared.items()}

    def _make(self, name: str, words: tuple[str, ...], slips: bool) -> str:
        if name not in self.made:
            self.made[name] = WordClass(name, words, tuple(_slip_keys(w, self.pinyin, slips) for w in words))
        return name

    def resolve(self, name: str, own: dict[str, tuple[str, ...]], pack_id: str, slips: bool) -> str:
        if name.startswith(LITERAL):
            return self._make(name, (name[len(LITERAL):],), slips)
        if name in own:
            return self._make(f"{pack_id}:{name}", own[name], slips)
        return self._make(name, self.shared[name], slips)

    def template(self, rule: dict[str, Any], own: dict[str, tuple[str, ...]], pack_id: str,
                 slips: bool, source_key: str = "template") -> TemplateRule:
        source = rule[source_key]
        fragments = tuple(
            tuple((OPTIONAL if optional else "") + self.resolve(name, own, pack_id, slips)
                  for name, optional in fragment)
            for fragment in parse(source, _word))
        agent = None
        if source_key == "template" and "agent" in rule:
            agent = self.template({"template": rule["agent"]}, own, pack_id, False)
        return TemplateRule(source, fragments, float(rule.get("weight", 0.7)), int(rule.get("gap", DEFAULT_GAP)),
                            bool(rule.get("any_order", False)), agent)


def _guard(item: Any, classes: _Classes, own: dict[str, tuple[str, ...]], pack_id: str) -> Guard:
    if isinstance(item, str):
        return Guard(item, _need(item), None)
    if "pattern" in item:
        return Guard(item["pattern"], _need(item["pattern"]), None)
    return Guard(None, None, classes.template(item, own, pack_id, False))


def _signals(data: dict[str, Any]) -> tuple[Signal, ...]:
    out = []
    for name, rule in data.items():
        out.append(Signal(name, float(rule["weight"]),
                          minimum=int(rule.get("min", rule.get("min_chars", 0))),
                          max_chars=int(rule.get("max_chars", 0)), min_history=int(rule.get("min_history", 1)),
                          window=int(rule.get("window", 3)), intents=tuple(rule.get("intents", ()))))
    return tuple(out)


def _rule_set(pack: dict[str, Any], classes: _Classes, pinyin: dict[str, str], shared_exclude: list[Any],
              slips: bool = True) -> RuleSet:
    pack_id = pack["id"]
    own = {name: fold_words(words) for name, words in pack.get("classes", {}).items()}
    regexes = []
    for item in pack.get("regex", []):
        rule = {"pattern": item} if isinstance(item, str) else item
        regexes.append(RegexRule(rule["pattern"], float(rule.get("weight", 0.7)), _need(rule["pattern"])))
    phrases = pack.get("phrases")
    only = []
    for rule in pack.get("only", []):
        particles = sorted({_word(w) for w in rule.get("particles", [])})
        # longest first, then alphabetical: the same order in every process
        words = sorted({_word(w) for w in rule["words"]} | set(particles), key=lambda w: (-len(w), w))
        only.append(OnlyRule(tuple(words), tuple(particles), float(rule.get("weight", 0.8))))
    templates = tuple(classes.template({"template": t} if isinstance(t, str) else t, own, pack_id, slips)
                      for t in pack.get("templates", []))
    return RuleSet(
        id=pack_id,
        zh=pack.get("zh", ""),
        threshold=float(pack.get("threshold", 0.5)),
        yields_to=tuple(pack.get("yields_to", [])),
        lift=bool(pack.get("lift", True)),
        other=bool(pack.get("other", False)),
        fallback=bool(pack.get("fallback", False)),
        stage=pack.get("stage"),
        stage_cues=tuple(StageCue(c["stage"], tuple(_word(w) for w in c["words"]))
                         for c in pack.get("stage_cues", [])),
        keywords=tuple(_keyword(item, pinyin, slips) for item in pack.get("keywords", [])),
        regexes=tuple(regexes),
        phrases=PhraseRules(int(phrases.get("threshold", 85)), float(phrases.get("weight", 0.7)),
                            tuple(_word(p) for p in phrases["items"])) if phrases else None,
        together=tuple(TogetherRule(tuple(tuple(_word(w) for w in group) for group in rule["all"]),
                                    float(rule.get("weight", 0.8))) for rule in pack.get("together", [])),
        only=tuple(only),
        templates=templates,
        negations=tuple(_guard(g, classes, own, pack_id) for g in pack.get("negations", [])),
        exclude=tuple(_guard(g, classes, own, pack_id) for g in [*pack.get("exclude", []), *shared_exclude]),
        signals=_signals(pack.get("signals", {})),
    )


def compile_program(packs: PackSet) -> Program:
    pinyin = pinyin_table()
    classes = _Classes(packs.shared_classes, pinyin)
    intents = tuple(_rule_set(p, classes, pinyin, packs.shared_exclude) for p in packs.intents)
    # Customer types are read from tone and wording; typing slips matter little there.
    tags = tuple(_rule_set(p, classes, pinyin, [], slips=False) for p in packs.tags)
    situations = tuple(_rule_set(s, classes, pinyin, []) for p in packs.replies for s in situation_packs(p))
    every = intents + tags + situations
    words = [k.text for rs in every for k in rs.keywords]
    words += [w for rs in every for rule in rs.together for group in rule.groups for w in group]
    words += [w for wc in classes.made.values() for w in wc.words]
    freq, total = build_prefix_dict(words)
    replies = tuple({"intent": p["intent"], "replies": [dict(r) for r in p["replies"]]} for p in packs.replies)
    _READINGS.save()  # the words read for the first time, for the next compile
    return Program(intents=intents, tags=tags, situations=situations,
                   classes=tuple(classes.made[n] for n in sorted(classes.made)), replies=replies,
                   shop=dict(packs.shop), slots=compile_slots(packs.slots), jieba=(freq, total), pinyin=pinyin)
