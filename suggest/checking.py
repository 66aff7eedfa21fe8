"""``suggest check``: every problem of every pack, plus warnings a pack author wants.

Errors: schema problems, broken references, unsafe templates, and examples
that do not do what they say (a pack documents itself with
``examples: {match: [...], no_match: [...]}``). Warnings: rules that overlap
between packs (the same keyword twice, a keyword inside another pack's
keyword, an example that another pack also matches without saying so).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from .errors import PackError, Problem
from .packs import PackSet, load_packs, situation_packs
from .sources import PackSources
from .yamlfile import format_key_path


def check(intents: str | Path | None = None, replies: str | Path | None = None,
          tags: str | Path | None = None, shop: str | Path | None = None) -> list[Problem]:
    sources = PackSources.of(intents=intents, tags=tags, replies=replies, shop=shop)
    packs = load_packs(sources)
    problems = list(packs.problems)
    if packs.errors:
        return problems
    problems.extend(_overlaps(packs))
    problems.extend(_unreachable(packs))
    from .engine import Engine

    try:
        engine = Engine(intents=sources.intents, replies=sources.replies, tags=sources.tags,
                        shop=sources.shop)
    except PackError as exc:  # pragma: no cover - load_packs found nothing, so this is unexpected
        return problems + list(exc.problems)
    problems.extend(run_examples(engine, packs))
    return problems


def _line(pack: dict[str, Any], *path: Any) -> int:
    lines: dict[Any, int] = pack["_lines"]
    key = tuple(path)
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return lines.get((), 1)


def _example(item: Any) -> tuple[str, tuple[Any, ...], frozenset[str]]:
    if isinstance(item, str):
        return item, (), frozenset()
    return item["text"], tuple(item.get("history", [])), frozenset(item.get("also", []))


def _shown(pack: dict[str, Any], key_path: str) -> str:
    """A key path as the author sees it (a situation's keys sit inside its reply pack)."""
    prefix = pack.get("_key_prefix")
    return f"{format_key_path(prefix)}.{key_path}" if prefix else key_path


def _template_lines(pack: dict[str, Any]) -> list[tuple[int, str, str, tuple[Any, ...]]]:
    """(index, source, name in evidence, key path) of each of the pack's own templates (not guards)."""
    from .rule_templates import shown_name

    out = []
    for i, item in enumerate(pack.get("templates", [])):
        source = item if isinstance(item, str) else item["template"]
        agent = None if isinstance(item, str) else item.get("agent")
        out.append((i, source, shown_name(source, agent), ("templates", i)))
    return out


def run_examples(engine: Any, packs: PackSet) -> list[Problem]:
    """Each pack's ``match`` examples must yield it, ``no_match`` ones must not, and
    each template must fire on at least one of the ``match`` examples it was written for."""
    problems: list[Problem] = []
    situations = [s for reply_pack in packs.replies for s in situation_packs(reply_pack)]
    for kind, bucket in (("intent", packs.intents), ("tag", packs.tags), ("situation", situations)):
        for pack in bucket:
            examples = pack.get("examples", {})
            fired: set[str] = set()
            for expect in ("match", "no_match"):
                for i, item in enumerate(examples.get(expect, [])):
                    text, history, also = _example(item)
                    if expect == "match" and pack.get("templates"):
                        explained = engine.explain(text, history, near_misses=False)
                        analysis = explained.analysis
                        for row in explained.rows:
                            if row.id == pack["id"] and row.kind == kind:
                                fired.update(e.pattern for e in row.evidence if e.kind == "template")
                    else:
                        analysis = engine.analyze(text, history)
                    found = set(analysis.intent_ids if kind == "intent" else analysis.tag_ids if kind == "tag"
                                else analysis.situations)
                    where = (pack["_file"], _line(pack, "examples", expect, i))
                    shown = _shown(pack, f"examples.{expect}[{i}]")
                    if expect == "match" and pack["id"] not in found:
                        problems.append(Problem(*where, shown,
                                                f"expected {text!r} to match {pack['id']}, got "
                                                f"{', '.join(sorted(found)) or 'nothing'}"))
                    elif expect == "no_match" and pack["id"] in found:
                        problems.append(Problem(*where, shown,
                                                f"expected {text!r} not to match {pack['id']}, but it does"))
                    elif expect == "match" and kind == "intent":
                        extra = found - {pack["id"]} - also
                        if extra:
                            problems.append(Problem(*where, f"examples.{expect}[{i}]",
                                                    f"{text!r} also matches {', '.join(sorted(extra))}: "
                                                    "overlapping packs (list them under 'also' if intended)",
                                                    "warning"))
            if examples.get("match"):
                for i, source, shown, key_path in _template_lines(pack):
                    if shown not in fired:
                        problems.append(Problem(pack["_file"], _line(pack, *key_path), _shown(pack, f"templates[{i}]"),
                                                f"template {source!r} matches none of the pack's "
                                                "examples.match lines: add the kind of message it was "
                                                "written for"))
    return problems


def _unreachable(packs: PackSet) -> list[Problem]:
    """Regex characters that normalising the message removes: they can never match."""
    problems: list[Problem] = []
    for pack in packs.intents + packs.tags:
        places: list[tuple[tuple[Any, ...], str]] = [
            (("regex", i, "pattern"), r if isinstance(r, str) else r["pattern"])
            for i, r in enumerate(pack.get("regex", []))]
        places += [((key, i), p) for key in ("negations", "exclude") for i, p in enumerate(pack.get(key, []))]
        for key_path, pattern in places:
            changed = sorted({c for c in pattern if not c.isascii() and unicodedata.normalize("NFKC", c) != c})
            if changed:
                problems.append(Problem(pack["_file"], _line(pack, *key_path), format_key_path(key_path),
                                        f"{''.join(changed)} never occurs in a normalised message "
                                        "(full-width forms become half-width): use the half-width form",
                                        "warning"))
    return problems


def _positive_classes(pack: dict[str, Any]) -> set[str]:
    """Names of the classes a pack's own templates (not its guards) use."""
    from .rule_templates import TemplateSyntaxError, parse

    names: set[str] = set()
    for _i, source, _shown, _path in _template_lines(pack):
        try:
            names.update(name for fragment in parse(source, lambda t: t) for name, _ in fragment)
        except TemplateSyntaxError:
            continue
    return names


def _overlaps(packs: PackSet) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[str, list[tuple[dict[str, Any], int]]] = {}
    for pack in packs.intents:
        for i, item in enumerate(pack.get("keywords", [])):
            word = (item if isinstance(item, str) else item["text"]).strip().lower()
            owners.setdefault(word, []).append((pack, i))
    # a class word of one pack that is a keyword of another: the two packs compete for it
    # (classes only its negations and exclusions use are meant to name other packs' words)
    for pack in packs.intents:
        positive = _positive_classes(pack)
        for name, words in pack.get("classes", {}).items():
            if name not in positive:
                continue
            for j, word in enumerate(words):
                folded = str(word).strip().lower()
                others = sorted({p["id"] for p, _ in owners.get(folded, []) if p["id"] != pack["id"]})
                if others:
                    problems.append(Problem(pack["_file"], _line(pack, "classes", name, j),
                                            f"classes.{name}[{j}]",
                                            f"class word {folded!r} is also a keyword of {', '.join(others)}",
                                            "warning"))
    for word, places in sorted(owners.items()):
        ids = sorted({p["id"] for p, _ in places})
        if len(ids) > 1:
            pack, i = places[-1]
            problems.append(Problem(pack["_file"], _line(pack, "keywords", i), f"keywords[{i}]",
                                    f"keyword {word!r} is in several packs: {', '.join(ids)}", "warning"))
    words = sorted(owners)
    for word in words:
        if len(word) < 2:
            continue
        for other in words:
            if other != word and word in other:
                mine = {p["id"] for p, _ in owners[word]}
                theirs = {p["id"] for p, _ in owners[other]}
                if mine.isdisjoint(theirs):
                    pack, i = owners[word][0]
                    problems.append(Problem(pack["_file"], _line(pack, "keywords", i), f"keywords[{i}]",
                                            f"keyword {word!r} ({', '.join(sorted(mine))}) is inside "
                                            f"{other!r} of {', '.join(sorted(theirs))}", "warning"))
    return problems
