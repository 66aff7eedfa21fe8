"""Read a YAML file safely and remember the line of every key.

Pack files are edited by shops, so they are untrusted: only the safe loader
is used, duplicate keys are errors (YAML silently keeps the last one), and
every value can be traced back to ``file:line`` for error messages.
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


def parse_yaml(text: str, shown: str) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise PackError([Problem(shown, line, "", f"invalid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise PackError([Problem(shown, 0, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    problems: list[Problem] = []
    if node is None:
        return YamlDocument(shown, None, {(): 1})
    data = _build(node, (), lines, problems, shown, loader)
    if problems:
        raise PackError(problems)
    return YamlDocument(shown, data, lines)


def _build(
    node: yaml.Node,
    path: KeyPath,
    lines: dict[KeyPath, int],
    problems: list[Problem],
    shown: str,
    loader: yaml.SafeLoader,
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(shown, key_node.start_mark.line + 1,
                                        format_key_path(path), "expected a plain key, got a nested value"))
                continue
            key = loader.construct_scalar(key_node)
            child = (*path, key)
            if key in out:
                problems.append(Problem(shown, key_node.start_mark.line + 1, format_key_path(child),
                                        "duplicate key (the earlier value would be silently lost)"))
                continue
            out[key] = _build(value_node, child, lines, problems, shown, loader)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, problems, shown, loader)
                for i, item in enumerate(node.value)]
    if node.tag.startswith("tag:yaml.org,2002:"):
        # Plain scalars only: the safe constructor turns them into str/int/float/bool/None.
        try:
            return loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problems.append(Problem(shown, node.start_mark.line + 1, format_key_path(path),
                                    f"bad value: {exc}"))
            return None
    problems.append(Problem(shown, node.start_mark.line + 1, format_key_path(path),
                            f"expected a plain value, got the tag {node.tag}"))
    return None
