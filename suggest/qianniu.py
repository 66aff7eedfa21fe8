"""千牛 quick phrases: the reply packs out to a 千牛 import file, and a shop's export back in.

A 千牛 quick-phrase file is a CSV with the columns 快捷短语编码 (a short code
the agent types), 快捷短语 (the text) and 快捷短语分组 (the group). Export
fills the templates from the shop profile and names each group after its
intent in Chinese (the intent pack's ``zh``); import picks the intent from the
group, or from the engine's reading of the phrase when the group says
nothing, and writes reply packs that ``suggest check`` accepts. Phrases with
no intent go to ``unsorted.csv`` (千牛 format) for the shop to sort.

Codes are the initials of the group's pinyin and a number (快递物流 -> kdwl1),
assigned in pack order, so the same packs always give the same codes. An
imported code is kept in the reply id (``shipping.qn_kdwl1``) and exported
again unchanged, so a round trip keeps the codes the agents have learnt.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import PackError

if TYPE_CHECKING:
    from .engine import Engine

CODE = "快捷短语编码"
PHRASE = "快捷短语"
GROUP = "快捷短语分组"
HEADER = (CODE, PHRASE, GROUP)
# Column names other 千牛 versions and hand-made sheets use for the same thing.
_ALIASES = {CODE: (CODE, "快捷编码", "编码", "短语编码"), PHRASE: (PHRASE, "短语", "短语内容", "内容", "快捷短语内容"),
            GROUP: (GROUP, "分组", "分组名称", "短语分组", "分组名")}
MAX_FILE_BYTES = 20 * 1024 * 1024  # a real export is a few hundred kilobytes
UNSORTED_FILE = "unsorted.csv"
_IMPORTED_ID = re.compile(r"\.qn_([a-z][a-z0-9]*)$")
_CODE_CHARS = re.compile(r"[^a-z0-9]")
# Dropped from imported text: a pack file may not hold control characters (tabs and newlines stay).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\ufeff]")


class QianniuError(ValueError):
    """A quick-phrase file that cannot be read, as ``FILE:LINE: message``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file, self.line = file, line
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


@dataclass(frozen=True)
class Phrase:
    code: str
    text: str
    group: str
    source: str  # the reply id (export) or FILE:LINE (import)


@dataclass(frozen=True)
class ExportResult:
    written: int
    unencodable: tuple[tuple[Phrase, str], ...]  # (phrase, the characters the encoding lacks)


@dataclass(frozen=True)
class ImportResult:
    written: tuple[tuple[str, int], ...]  # (pack file, replies)
    unsorted: int
    unsorted_file: str | None


# -- export ------------------------------------------------------------------------------------

def _initials(name: str) -> str:
    from pypinyin import Style, lazy_pinyin

    letters = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore")).lower()
    return _CODE_CHARS.sub("", letters)[:4] or "qn"


def _prefixes(groups: Sequence[tuple[str, str]]) -> dict[str, str]:
    """A code prefix per intent: the initials of its Chinese name, made unique in order."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for intent, name in groups:
        base = _initials(name)
        prefix, n = base, 2
        while prefix in taken or any(p.startswith(prefix) or prefix.startswith(p) for p in taken):
            prefix, n = f"{base}{'abcdefghijklmnopqrstuvwxyz'[(n - 2) % 26]}", n + 1
        taken.add(prefix)
        out[intent] = prefix
    return out


def phrases_from_packs(intents: str | Path | None = None, replies: str | Path | None = None,
                       tags: str | Path | None = None, shop: str | Path | None = None) -> list[Phrase]:
    """Every reply of the packs as a quick phrase, filled from the shop profile, in pack order."""
    from .packs import load_packs
    from .sources import PackSources
    from .templates import render, template_fields

    packs = load_packs(PackSources.of(intents=intents, tags=tags, replies=replies, shop=shop))
    if packs.errors:
        raise PackError(packs.errors)
    names = {p["id"]: p.get("zh") or p["id"] for p in packs.intents}
    order = {p["id"]: i for i, p in enumerate(packs.intents)}
    reply_packs = sorted(packs.replies, key=lambda p: order.get(p["intent"], len(order)))
    intents_in_order = list(dict.fromkeys(p["intent"] for p in reply_packs))
    prefixes = _prefixes([(i, names.get(i, i)) for i in intents_in_order])
    # codes kept from an import first, so a new reply never takes one of them
    # (the first reply to claim a code keeps it: shipping.qn_a1 and size.qn_a1 cannot both be a1)
    used: set[str] = set()
    kept_codes: dict[str, str] = {}
    for pack in reply_packs:
        for reply in pack["replies"]:
            kept = _IMPORTED_ID.search(reply["id"])
            if kept and kept.group(1) not in used:
                used.add(kept.group(1))
                kept_codes[reply["id"]] = kept.group(1)
    counters: dict[str, int] = {}
    out: list[Phrase] = []
    for pack in reply_packs:
        intent = pack["intent"]
        for reply in pack["replies"]:
            if any(name not in packs.shop for name in template_fields(reply["text"])):
                continue  # filled per message from what the buyer said ({size_pick}): no fixed phrase
            if reply["id"] in kept_codes:
                code = kept_codes[reply["id"]]
            else:
                while True:
                    counters[intent] = counters.get(intent, 0) + 1
                    code = f"{prefixes[intent]}{counters[intent]}"
                    if code not in used:
                        break
                used.add(code)
            out.append(Phrase(code, render(reply["text"], packs.shop), names.get(intent, intent), reply["id"]))
    return out


def _missing(text: str, encoding: str) -> str:
    return "".join(dict.fromkeys(c for c in text if not _encodable(c, encoding)))


def _encodable(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def write_csv(phrases: Sequence[Phrase], out: str | Path, encoding: str = "utf-8-sig") -> ExportResult:
    """Write a 千牛 import file; phrases the encoding cannot hold are left out and returned."""
    codecs.lookup(encoding)  # an unknown name fails before anything is written
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # 千牛 runs on Windows; Excel reads it too
    writer.writerow(HEADER)
    bad: list[tuple[Phrase, str]] = []
    written = 0
    for phrase in phrases:
        lacking = _missing(phrase.code + phrase.text + phrase.group, encoding)
        if lacking:
            bad.append((phrase, lacking))
            continue
        writer.writerow((phrase.code, phrase.text, phrase.group))
        written += 1
    Path(out).write_bytes(buffer.getvalue().encode(encoding))
    return ExportResult(written, tuple(bad))



# -- import ------------------------------------------------------------------------------------

def _decode(data: bytes, file: str, encoding: str) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data, encoding = data[len(codecs.BOM_UTF8):], "utf-8"
    tries = ("utf-8", "gbk") if encoding == "auto" else (encoding,)
    furthest = -1  # the reading that got furthest says where the file goes wrong
    for name in tries:
        try:
            return data.decode(name)
        except UnicodeDecodeError as exc:
            furthest = max(furthest, exc.start)
    line = data.count(b"\n", 0, furthest) + 1
    what = " or ".join(t.upper() for t in tries)
    raise QianniuError(file, line, f"the file is not {what} text (byte 0x{data[furthest]:02x}); "
                                   "save it again as UTF-8 or GBK")


def _columns(header: list[str], file: str) -> dict[str, int]:
    cleaned = [h.strip() for h in header]
    found: dict[str, int] = {}
    for column, names in _ALIASES.items():
        for name in names:
            if name in cleaned:
                found[column] = cleaned.index(name)
                break
    if PHRASE not in found:
        raise QianniuError(file, 1, f"expected a header row with a {PHRASE} column (and {CODE}, {GROUP}), "
                                    f"got {', '.join(cleaned) or 'an empty line'}")
    return found


def read_phrases(path: str | Path, encoding: str = "auto") -> list[Phrase]:
    """The phrases of a 千牛 quick-phrase CSV (UTF-8 with or without BOM, or GBK)."""
    file = str(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise QianniuError(file, 0, f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise QianniuError(file, 0, f"the file is larger than {MAX_FILE_BYTES} bytes")
    text = _decode(data, file, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[Phrase] = []
    columns: dict[str, int] | None = None
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                columns = _columns(row, file)
                continue
            cells = {k: (row[i] if i < len(row) else "") for k, i in columns.items()}
            phrase = _CONTROLS.sub("", cells[PHRASE].replace("\r\n", "\n").replace("\r", "\n")).strip()
            if not phrase:
                raise QianniuError(file, line, f"the {PHRASE} column is empty")
            out.append(Phrase(cells.get(CODE, "").strip(), phrase, cells.get(GROUP, "").strip(), f"{file}:{line}"))
    except csv.Error as exc:
        raise QianniuError(file, reader.line_num, f"not a readable CSV file: {exc}") from None
    if columns is None:
        raise QianniuError(file, 1, f"the file is empty (expected a header row with {', '.join(HEADER)})")
    return out


def _group_intent(group: str, names: dict[str, str], engine: Engine) -> str | None:
    label = group.strip().lower()
    if not label:
        return None
    for intent, zh in names.items():
        if label in (intent, zh.lower()):
            return intent
    for intent, zh in names.items():
        if len(label) >= 2 and (label in zh or zh in label):
            return intent
    return _reading(group, engine)  # a label of the shop's own: 物流问题, 售后


def _reading(text: str, engine: Engine) -> str | None:
    from .errors import InputError

    try:
        found = engine.analyze(text, top=0).intent_ids
    except InputError:
        return None
    # the fallback (a holding reply for what no pack knows) is no reading: the shop sorts it
    found = tuple(i for i in found if i not in engine.fallback_intents)
    return found[0] if found else None


def choose_intent(phrase: Phrase, names: dict[str, str], engine: Engine) -> str | None:
    """The group's intent, else the engine's reading of the phrase, else None."""
    return _group_intent(phrase.group, names, engine) or _reading(phrase.text, engine)


def _code_for_id(code: str) -> str:
    cleaned = _CODE_CHARS.sub("", code.lower())
    return cleaned if cleaned[:1].isalpha() else ""


def import_phrases(phrases: Sequence[Phrase], out_dir: str | Path, engine: Engine,
                   intents: str | Path | None = None, source_name: str = "") -> ImportResult:
    """Write one reply pack per intent into ``out_dir`` (plus unsorted.csv for the rest)."""
    import yaml

    from .packs import load_packs
    from .sources import PackSources

    packs = load_packs(PackSources.of(intents=intents))
    names = {p["id"]: p.get("zh") or p["id"] for p in packs.intents}
    grouped: dict[str, list[dict[str, Any]]] = {}
    unsorted: list[Phrase] = []
    used_ids: set[str] = set()
    for number, phrase in enumerate(phrases, 1):
        intent = choose_intent(phrase, names, engine)
        if intent is None:
            unsorted.append(phrase)
            continue
        code = _code_for_id(phrase.code) or f"n{number}"
        reply_id, n = f"{intent}.qn_{code}", 2
        while reply_id in used_ids:
            reply_id, n = f"{intent}.qn_{code}x{n}", n + 1
        used_ids.add(reply_id)
        # braces are template holes in a pack; the phrase's own braces stay literal
        text = phrase.text.replace("{", "{{").replace("}", "}}")
        grouped.setdefault(intent, []).append({"id": reply_id, "text": text})
    folder = Path(out_dir)
    targets = [folder / f"{intent}.yaml" for intent in grouped]
    if unsorted:
        targets.append(folder / UNSORTED_FILE)
    for target in targets:
        if target.exists():
            raise QianniuError(str(target), 0, "already exists; import into an empty folder (nothing was written)")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    order = {intent: i for i, intent in enumerate(names)}
    for intent in sorted(grouped, key=lambda i: order.get(i, len(order))):
        pack = {"intent": intent,
                "description": f"Imported from 千牛 quick phrases{f' ({source_name})' if source_name else ''}.",
                "replies": grouped[intent]}
        path = folder / f"{intent}.yaml"
        path.write_text(yaml.safe_dump(pack, allow_unicode=True, sort_keys=False, width=10_000),
                        encoding="utf-8")
        written.append((str(path), len(grouped[intent])))
    unsorted_file = None
    if unsorted:
        unsorted_file = str(folder / UNSORTED_FILE)
        write_csv(unsorted, unsorted_file)
    return ImportResult(tuple(written), len(unsorted), unsorted_file)
