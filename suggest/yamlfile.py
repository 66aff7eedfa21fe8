"""Read a YAML file safely and remember the line of every key.

Pack files are edited by shops, so they are untrusted: only the safe loader
is used and nothing is built from tags (``!!python/object`` is an error, never
an object), duplicate keys are errors (YAML silently keeps the last one),
aliases of lists and mappings are refused (no "billion laughs"), and every
value can be traced back to ``file:line`` for error messages. Every way a file
can be wrong ends as a ``PackError``, never as another exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import PackError, Problem

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    path: str
    data: Any
    lines: dict[KeyPath, int]

    def line_of(self, key_path: KeyPath) -> int:
        """The line of ``key_path``, or of its closest ancestor that has one."""
        path = tuple(key_path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def format_key_path(key_path: KeyPath) -> str:
    out = ""
    for part in key_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(path: str | Path) -> YamlDocument:
    shown = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PackError([Problem(shown, 0, "", f"cannot read file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PackError([Problem(shown, line, "", "expected UTF-8 text, got invalid bytes")]) from None
    return parse_yaml(text, shown)


# Plain scalars only: the safe loader's own types for text, numbers, booleans, null.
_SCALAR_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null")}
_AS_TEXT = {"tag:yaml.org,2002:timestamp"}  # 2024-11-11 stays the text the shop typed
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
MAX_NODES = 100_000  # far above any real pack; stops "billion laughs" alias bombs early
# libyaml's parser (in C) when the installed PyYAML has it: a cache miss reads every pack
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, shown: str) -> YamlDocument:
    loader: Any = None
    # Checked here, not left to the parser: libyaml reports the place in other units.
    bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if bad is not None:
        line = text[: bad.start()].count("\n") + 1
        raise PackError([Problem(shown, line, "", f"expected printable text, got the character "
                                                  f"#x{ord(bad.group()):04x}, which YAML does not allow")])
    try:
        # The constructor already reads the text and rejects control characters.
        loader = _SAFE_LOADER(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise PackError([Problem(shown, line, "", f"invalid YAML: {exc.problem or exc}")]) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise PackError([Problem(shown, line, "", f"expected printable text, got the character "
                                                  f"#x{exc.character:04x}, which YAML does not allow")]) from None
    except yaml.YAMLError as exc:
        raise PackError([Problem(shown, 0, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise PackError([Problem(shown, 0, "", "expected lists and mappings nested a few levels deep, "
                                               "got nesting too deep to read")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[KeyPath, int] = {}
    problems: list[Problem] = []
    if node is None:
        return YamlDocument(shown, None, {(): 1})
    builder = _Builder(shown, loader, lines, problems)
    try:
        data = builder.build(node, ())
    except RecursionError:
        problems.append(Problem(shown, 0, "", "expected lists and mappings nested a few levels deep, "
                                              "got nesting too deep to read"))
    except _TooBig:
        problems.append(Problem(shown, builder.line, "", f"expected a pack of at most {MAX_NODES} values, "
                                                         "got more (aliases that repeat lists?)"))
    if problems:
        raise PackError(problems)
    return YamlDocument(shown, data, lines)


class _TooBig(Exception):
    pass


class _Builder:
    """Turn the composed node tree into plain data, noting the line of every key.

    Nothing is constructed from tags: only mappings, lists and plain scalars are
    accepted, so a ``!!python/object`` in a shop's pack is an error, never an
    object. An alias (``*name``) of a list or mapping is refused too: it makes
    the shared value easy to change by accident, and nested ones explode in size.
    """

    def __init__(self, shown: str, loader: Any, lines: dict[KeyPath, int], problems: list[Problem]) -> None:
        self.shown, self.loader, self.lines, self.problems = shown, loader, lines, problems
        self.seen: set[int] = set()
        self.count = 0
        self.line = 0

    def error(self, node: yaml.Node, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.shown, node.start_mark.line + 1, format_key_path(path), message))

    def build(self, node: yaml.Node, path: KeyPath, used_at: int = 0) -> Any:
        """Plain data for ``node``; ``used_at`` is the line that refers to it (for aliases)."""
        self.count += 1
        self.line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise _TooBig
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if id(node) in self.seen:
                # an alias: the node's own mark is where the anchor is, not where it is used
                self.problems.append(Problem(self.shown, used_at or self.line, format_key_path(path),
                                             "expected a list or mapping written out, got an alias "
                                             "(*name) of one written elsewhere"))
                return None
            self.seen.add(id(node))
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            wanted = _MAP_TAG if isinstance(node, yaml.MappingNode) else _SEQ_TAG
            if node.tag != wanted:
                self.error(node, path, f"expected a plain value, got the tag {_short(node.tag)}")
                return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), self.lines[path]) for i, item in enumerate(node.value)]
        if node.tag in _AS_TEXT:
            return str(node.value)
        if node.tag not in _SCALAR_TAGS:
            self.error(node, path, f"expected a plain value, got the tag {_short(node.tag)}")
            return None
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self.error(node, path, f"expected a plain value, got {node.value!r}, which cannot be read: {exc}")
            return None

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, path, "expected a plain key, got a nested value")
                continue
            key = self.loader.construct_scalar(key_node)
            child = (*path, key)
            if key in out:
                self.error(key_node, child, "duplicate key (the earlier value would be silently lost)")
                continue
            out[key] = self.build(value_node, child, key_node.start_mark.line + 1)
            self.lines[child] = key_node.start_mark.line + 1
        return out


def _short(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag
