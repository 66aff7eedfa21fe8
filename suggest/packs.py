"""Find, read and validate the pack folders and the shop profile.

The result is plain data (``PackSet``): the compiler turns it into the
matching program, and ``suggest check`` reports the problems it collected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PackError, Problem
from .schema import (
    CLASSES_PACK,
    INTENT_PACK,
    REPLY_PACK,
    SHARED_PACK,
    SHOP_PROFILE,
    TAG_PACK,
    Spec,
    validate,
)
from .sizechart import SIZE_CHARTS_KEY
from .sources import CLASSES_FILE, SLOTS_FILE, PackSources, pack_files
from .templates import TemplateError, template_fields
from .yamlfile import YamlDocument, read_yaml

SHARED_FILE = "_shared.yaml"


@dataclass
class PackSet:
    intents: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    shop: dict[str, Any] = field(default_factory=dict)
    # intents/_shared.yaml: exclusions that apply to every intent pack
    shared_exclude: list[Any] = field(default_factory=list)
    # intents/_classes.yaml: word classes every pack may use, and where each is defined
    shared_classes: dict[str, list[Any]] = field(default_factory=dict)
    shared_class_origins: dict[str, tuple[str, int]] = field(default_factory=dict)
    # intents/_slots.yaml (validated), or None when it is missing or broken
    slots: dict[str, Any] | None = None
    # ids of packs that failed validation (already reported)
    broken_ids: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    # where each pack came from, for messages: pack id -> (file, line)
    origins: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def load_packs(sources: PackSources) -> PackSet:
    """Read and validate everything; problems are collected, not raised."""
    packs = PackSet()
    for folder, spec, bucket, what in ((sources.intents, INTENT_PACK, packs.intents, "intent"),
                                       (sources.tags, TAG_PACK, packs.tags, "customer-type")):
        if not folder.is_dir():
            packs.problems.append(Problem(str(folder), 0, "", f"expected a folder of {what} packs, found none"))
            continue
        for path in pack_files(folder):
            if path.name == SHARED_FILE and spec is INTENT_PACK:
                shared = read_validated(path, SHARED_PACK, packs.problems)
                if shared is not None:
                    packs.shared_exclude = list(shared.data.get("exclude", []))
                continue
            if path.name == SLOTS_FILE and spec is INTENT_PACK:
                continue  # the slot extractors (see slots.py), read below, not an intent pack
            if path.name == CLASSES_FILE and spec is INTENT_PACK:
                continue  # read below, from this folder or the bundled one
            if path.name.startswith("_") and spec is INTENT_PACK:
                continue  # data of another module (e.g. slots), read there
            doc = read_validated(path, spec, packs.problems)
            if doc is None:
                # still known by its id: one broken pack should not make every reference
                # to it an error of its own
                broken_id = _id_of(path)
                if broken_id:
                    packs.broken_ids.add(broken_id)
                continue
            pack = dict(doc.data)
            pack["_file"], pack["_lines"] = doc.path, doc.lines
            key = f"{what}:{pack['id']}"
            if key in packs.origins:
                first = packs.origins[key]
                packs.problems.append(Problem(doc.path, doc.line_of(("id",)), "id",
                                              f"expected a unique {what} id, got {pack['id']!r} "
                                              f"which {first[0]}:{first[1]} already defines"))
                continue
            packs.origins[key] = (doc.path, doc.line_of(("id",)))
            bucket.append(pack)
    if sources.replies.is_dir():
        for path in pack_files(sources.replies, skip=sources.shop):
            doc = read_validated(path, REPLY_PACK, packs.problems)
            if doc is not None:
                pack = dict(doc.data)
                pack["_file"], pack["_lines"] = doc.path, doc.lines
                packs.replies.append(pack)
    else:
        packs.problems.append(Problem(str(sources.replies), 0, "", "expected a folder of reply packs, found none"))
    from .slots import read_slots

    packs.slots = read_slots(sources.slots_file(), packs.problems)
    if sources.classes_file().is_file():
        classes = read_validated(sources.classes_file(), CLASSES_PACK, packs.problems)
        if classes is not None:
            packs.shared_classes = dict(classes.data["classes"])
            packs.shared_class_origins = {name: (classes.path, classes.line_of(("classes", name)))
                                          for name in packs.shared_classes}
    shop_doc = read_validated(sources.shop, SHOP_PROFILE, packs.problems)
    if shop_doc is not None:
        packs.shop = dict(shop_doc.data)
    _cross_check(packs, shop_doc)
    return packs


def _id_of(path: Path) -> str | None:
    try:
        data = read_yaml(path).data
    except PackError:
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def read_validated(path: Path, spec: Spec, problems: list[Problem]) -> YamlDocument | None:
    """The YAML file at ``path`` if it is valid against ``spec``; its problems go to ``problems``."""
    try:
        doc = read_yaml(path)
    except PackError as exc:
        problems.extend(exc.problems)
        return None
    found = validate(doc, spec)
    problems.extend(found)
    return None if found else doc


def situation_packs(reply_pack: dict[str, Any]) -> list[dict[str, Any]]:
    """The situations of a reply pack as rule packs of their own (id ``intent.name``),
    carrying the reply pack's file and lines so problems point into it."""
    out = []
    for name, rules in reply_pack.get("situations", {}).items():
        prefix = ("situations", name)
        lines = {k[2:]: v for k, v in reply_pack["_lines"].items() if k[:2] == prefix}
        lines[()] = reply_pack["_lines"].get(prefix, 1)
        out.append({**rules, "id": f"{reply_pack['intent']}.{name}", "_file": reply_pack["_file"],
                    "_lines": lines, "_key_prefix": prefix})
    return out


def template_sources(pack: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Every rule template of a pack with its key path: templates, their agent
    conditions, and negations or exclusions written as templates."""
    found: list[tuple[tuple[Any, ...], str]] = []
    for i, item in enumerate(pack.get("templates", [])):
        rule = {"template": item} if isinstance(item, str) else item
        found.append((("templates", i, "template") if isinstance(item, dict) else ("templates", i),
                      rule["template"]))
        if "agent" in rule:
            found.append((("templates", i, "agent"), rule["agent"]))
    for key in ("negations", "exclude"):
        for i, item in enumerate(pack.get(key, [])):
            if isinstance(item, dict) and "template" in item:
                found.append(((key, i, "template"), item["template"]))
    return found


def _check_classes(packs: PackSet) -> None:
    """Every class a template names exists (in the pack or shared); none is defined twice."""
    from .rule_templates import LITERAL, TemplateSyntaxError, parse

    shared = packs.shared_classes
    situations = [s for reply_pack in packs.replies for s in situation_packs(reply_pack)]
    for pack in packs.intents + packs.tags + situations:
        own = pack.get("classes", {})
        for name in own:
            if name in shared:
                where = packs.shared_class_origins.get(name, ("", 0))
                _problem(packs, pack, ("classes", name),
                         f"class {name!r} is defined twice: here and in {where[0]}:{where[1]}")
        for key_path, source in template_sources(pack):
            try:
                fragments = parse(source, lambda text: text)
            except TemplateSyntaxError:
                continue  # reported by the schema
            for fragment in fragments:
                for name, _optional in fragment:
                    if not name.startswith(LITERAL) and name not in own and name not in shared:
                        _problem(packs, pack, key_path,
                                 f"expected a class defined in this pack or in {CLASSES_FILE}, "
                                 f"got {{{name}}}, which neither defines")


def _cross_check(packs: PackSet, shop_doc: YamlDocument | None) -> None:
    """Checks that span files: references, template variables, word classes."""
    _check_classes(packs)
    intent_ids = {p["id"] for p in packs.intents} | packs.broken_ids
    tag_ids = {p["id"] for p in packs.tags} | packs.broken_ids
    for pack in packs.intents:
        for i, other in enumerate(pack.get("yields_to", [])):
            if other != "any" and other not in intent_ids:
                _problem(packs, pack, ("yields_to", i), f"expected an intent id or 'any', got {other!r}, "
                                                          "which no intent pack defines")
    for pack in packs.tags:
        signal = pack.get("signals", {}).get("history_intents")
        for i, other in enumerate(signal["intents"] if signal else []):
            if other not in intent_ids:
                _problem(packs, pack, ("signals", "history_intents", "intents", i),
                         f"expected an intent id, got {other!r}, which no intent pack defines")
    from .slots import hole_names, slot_problems

    slot_holes = hole_names(packs.slots)
    reply_ids: dict[str, tuple[str, int]] = {}
    known_situations = {s["id"] for p in packs.replies for s in situation_packs(p)}
    for pack in packs.replies:
        if pack["intent"] not in intent_ids:
            _problem(packs, pack, ("intent",), f"expected an intent id, got {pack['intent']!r}, "
                                               "which no intent pack defines")
        for i, reply in enumerate(pack["replies"]):
            where = (pack["_file"], pack["_lines"].get(("replies", i, "id"), 0))
            if reply["id"] in reply_ids:
                first = reply_ids[reply["id"]]
                _problem(packs, pack, ("replies", i, "id"),
                         f"expected a unique reply id, got {reply['id']!r} which {first[0]}:{first[1]} already uses")
            reply_ids.setdefault(reply["id"], where)
            for key in ("situations", "helps_in", "not_in"):
                for j, name in enumerate(reply.get(key, [])):
                    if key == "not_in" and "." in name:
                        # another intent's situation, named in full (order_change.already_cancelled)
                        if name not in known_situations:
                            _problem(packs, pack, ("replies", i, key, j),
                                     f"expected a situation as intent.name, got {name!r}, which no reply "
                                     "pack defines")
                        continue
                    if name not in pack.get("situations", {}):
                        _problem(packs, pack, ("replies", i, key, j),
                                 f"expected a situation of this reply pack, got {name!r}, which its "
                                 "situations: do not define")
            for key, known, what in (("types", tag_ids, "customer-type"), ("with", intent_ids, "intent"),
                                     ("without", intent_ids, "intent"), ("after", intent_ids, "intent"),
                                     ("not_after", intent_ids, "intent")):
                for j, ref in enumerate(reply.get(key, [])):
                    if ref not in known:
                        _problem(packs, pack, ("replies", i, key, j),
                                 f"expected {'an' if what == 'intent' else 'a'} {what} id, got {ref!r}, "
                                 "which no pack defines")
            try:
                names = template_fields(reply["text"])
            except TemplateError as exc:
                _problem(packs, pack, ("replies", i, "text"), str(exc))
                continue
            if shop_doc is None:
                continue
            for name in names:
                # (with the slots file broken, its own problems are the report)
                if name == SIZE_CHARTS_KEY or (name not in packs.shop and name not in slot_holes
                                               and packs.slots is not None):
                    _problem(packs, pack, ("replies", i, "text"),
                             f"expected a variable of the shop profile {shop_doc.path} or a slot hole, "
                             f"got {{{name}}}, which neither defines")
    packs.problems.extend(slot_problems(packs, shop_doc))


def _problem(packs: PackSet, pack: dict[str, Any], key_path: tuple[Any, ...], message: str,
             severity: str = "error") -> None:
    from .yamlfile import format_key_path

    lines: dict[Any, int] = pack["_lines"]
    path = tuple(key_path)
    line = 0
    while path:
        if path in lines:
            line = lines[path]
            break
        path = path[:-1]
    if not line:
        line = lines.get((), 0)
    shown = (*pack.get("_key_prefix", ()), *key_path)  # a situation's keys sit inside its reply pack
    packs.problems.append(Problem(pack["_file"], line, format_key_path(shown), message, severity))
