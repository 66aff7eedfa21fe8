"""The compiled-program cache: never stale, never trusted when damaged, safe with two writers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import marshal
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suggest import Engine, cache
from suggest.program import KeywordRule, Program, RuleSet, StageCue, TemplateRule, WordClass
from suggest.sources import PackSources, bundled_dir

ROOT = Path(__file__).resolve().parent.parent
# A small program of the real model (records, nested tuples, dicts), built by hand.
PROGRAM = Program(
    intents=(RuleSet(id="shipping", zh="快递", threshold=0.5, yields_to=(), lift=True, other=False,
                     stage="in_sale", stage_cues=(StageCue("pre_sale", ("包邮",)),),
                     keywords=(KeywordRule("包邮", 0.8, False, ("bao you",)),), regexes=(), phrases=None,
                     together=(), only=(),
                     templates=(TemplateRule("{when} {send}", (("when",), ("send",)), 0.7, 4, False),),
                     negations=(), exclude=(), signals=()),),
    tags=(), situations=(), classes=(WordClass("when", ("几天",), ((),)), WordClass("send", ("发货",), (("fa huo",),))),
    replies=({"intent": "shipping", "replies": ({"id": "a", "text": "亲"},)},), shop={"name": "小店"}, slots={},
    jieba=({"包邮": 200000}, 200000), pinyin={"包": "bao"})


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "cache"
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(target))
    monkeypatch.delenv("SUGGEST_NO_CACHE", raising=False)
    return target


class Builder:
    """A build function that counts its calls."""

    def __init__(self, program: Program | None = None) -> None:
        self.calls = 0
        self.program = program if program is not None else PROGRAM

    def __call__(self) -> Program:
        self.calls += 1
        return self.program


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("program-*.bin"))


# -- the cache on its own ------------------------------------------------------------


def test_built_once_then_read(folder: Path) -> None:
    build = Builder()
    assert cache.load_or_build("packs-1", build) == PROGRAM
    assert cache.load_or_build("packs-1", build) == PROGRAM
    assert build.calls == 1
    assert len(_entries(folder)) == 1


def test_changed_packs_get_a_new_entry(folder: Path) -> None:
    build = Builder()
    cache.load_or_build("packs-1", build)
    cache.load_or_build("packs-2", build)
    assert build.calls == 2
    assert len(_entries(folder)) == 2


def _damage(kind: str, path: Path) -> None:
    raw = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif kind == "cut in the header":
        path.write_bytes(raw[:10])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "flipped byte":
        middle = len(raw) - 5
        path.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1:])
    elif kind == "foreign":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    elif kind == "random":
        path.write_bytes(os.urandom(len(raw)))
    elif kind == "old format":
        path.write_bytes(raw.replace(cache.MAGIC, b"SUGGEST-PROGRAM\n", 1))
    elif kind == "other key":
        header, _, rest = raw.partition(b"\n")
        key, _, body = rest.partition(b"\n")
        path.write_bytes(header + b"\n" + b"0" * len(key) + b"\n" + body)
    elif kind == "sound entry of the wrong thing":
        payload = marshal.dumps([1, 2, 3])
        header_end = raw.index(b"\n", len(cache.MAGIC)) + 1
        path.write_bytes(raw[:header_end] + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    elif kind == "a folder":
        path.unlink()
        path.mkdir()
    else:
        raise AssertionError(kind)


DAMAGE = ["truncated", "cut in the header", "empty", "flipped byte", "foreign", "random", "old format",
          "other key", "sound entry of the wrong thing", "a folder"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_entry_is_ignored_and_rebuilt(folder: Path, kind: str) -> None:
    build = Builder()
    cache.load_or_build("packs-1", build)
    (path,) = _entries(folder)
    _damage(kind, path)
    assert cache.load_or_build("packs-1", build) == PROGRAM
    assert build.calls == 2
    if kind != "a folder":
        # repaired: the next start reads it again
        assert cache.read_entry(path, cache.cache_key("packs-1")) == PROGRAM
        assert cache.load_or_build("packs-1", build) == PROGRAM
        assert build.calls == 2


def test_unstorable_program_is_answered_not_cached(folder: Path) -> None:
    build = Builder(dataclasses.replace(PROGRAM, shop={"odd": object()}))
    assert "odd" in cache.load_or_build("packs-1", build).shop
    assert _entries(folder) == []


def test_unwritable_cache_costs_only_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("SUGGEST_CACHE_DIR", str(blocker / "cache"))
    build = Builder()
    assert cache.load_or_build("packs-1", build) == PROGRAM
    assert cache.load_or_build("packs-1", build) == PROGRAM
    assert build.calls == 2


def test_cache_can_be_turned_off(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUGGEST_NO_CACHE", "1")
    build = Builder()
    cache.load_or_build("packs-1", build)
    cache.load_or_build("packs-1", build)
    assert build.calls == 2
    assert not folder.exists()


def test_packs_changed_while_building_are_not_stored_under_the_old_key(folder: Path) -> None:
    build = Builder()
    cache.load_or_build("packs-1", build, recheck=lambda: "packs-2")
    assert _entries(folder) == []
    cache.load_or_build("packs-1", build, recheck=lambda: "packs-1")
    assert len(_entries(folder)) == 1


def test_old_entries_and_dead_temporary_files_are_pruned(folder: Path) -> None:
    build = Builder()
    for i in range(cache.KEEP_ENTRIES + 5):
        cache.load_or_build(f"packs-{i}", build)
    assert len(_entries(folder)) == cache.KEEP_ENTRIES
    stale = folder / ".program-dead.tmp"
    stale.write_bytes(b"half")
    old = time.time() - cache.STALE_TEMP_SECONDS - 10
    os.utime(stale, (old, old))
    fresh = folder / ".program-writing.tmp"
    fresh.write_bytes(b"half")
    cache.load_or_build("packs-new", build)
    assert not stale.exists()
    assert fresh.exists()  # another process may be writing it right now


# -- with the engine ------------------------------------------------------------------


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    root = tmp_path / "packs"
    for name in ("intents", "tags", "replies"):
        shutil.copytree(bundled_dir(name), root / name)
    return root


def _engine(root: Path) -> Engine:
    return Engine(intents=root / "intents", tags=root / "tags", replies=root / "replies")


def test_changed_pack_invalidates_the_cache(folder: Path, packs: Path) -> None:
    word = "呱呱呱"
    assert "shipping" not in _engine(packs).analyze(word).intent_ids
    assert len(_entries(folder)) == 1
    shipping = packs / "intents" / "shipping.yaml"
    text = shipping.read_text(encoding="utf-8")
    shipping.write_text(text.replace("\nkeywords:\n", f"\nkeywords:\n  - {{text: {word}, weight: 0.95}}\n", 1),
                        encoding="utf-8")
    assert "shipping" in _engine(packs).analyze(word).intent_ids
    assert len(_entries(folder)) == 2
    # a one-byte change anywhere (even a comment) is a new key
    shipping.write_text(shipping.read_text(encoding="utf-8") + "# note\n", encoding="utf-8")
    _engine(packs)
    assert len(_entries(folder)) == 3


def test_damaged_real_entry_still_gives_the_same_answers(folder: Path, packs: Path) -> None:
    messages = ["包邮吗", "能便宜点吗", "尺码怎么选", "质量太差了"]
    engine = _engine(packs)
    before = [engine.analyze(m) for m in messages]
    (path,) = _entries(folder)
    for kind in ("truncated", "flipped byte"):
        _damage(kind, path)
        engine = _engine(packs)
        assert [engine.analyze(m) for m in messages] == before


def test_packs_edited_during_a_build_are_not_cached_as_the_old_ones(
        folder: Path, packs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import suggest.packs

    word = "呱呱呱"
    shipping = packs / "intents" / "shipping.yaml"
    before = shipping.read_text(encoding="utf-8")
    edited = before.replace("\nkeywords:\n", f"\nkeywords:\n  - {{text: {word}, weight: 0.95}}\n", 1)
    original_load = suggest.packs.load_packs

    def load_while_someone_saves(sources: PackSources) -> suggest.packs.PackSet:
        shipping.write_text(edited, encoding="utf-8")  # saved just after the fingerprint was taken
        return original_load(sources)

    monkeypatch.setattr(suggest.packs, "load_packs", load_while_someone_saves)
    _engine(packs)
    monkeypatch.setattr(suggest.packs, "load_packs", original_load)
    shipping.write_text(before, encoding="utf-8")
    # The packs on disk are the old ones again: the answer must be theirs.
    assert "shipping" not in _engine(packs).analyze(word).intent_ids


def _package_files() -> dict[str, float]:
    here = Path(cache.__file__).resolve().parent
    out: dict[str, float] = {}
    for base in (here, bundled_dir("intents"), bundled_dir("tags"), bundled_dir("replies")):
        for path in base.rglob("*"):
            if "__pycache__" not in path.parts:
                out[str(path)] = path.stat().st_mtime
    return out


def test_nothing_is_written_into_the_package(folder: Path, packs: Path) -> None:
    before = _package_files()
    Engine().analyze("包邮吗")
    _engine(packs).analyze("包邮吗")
    assert _package_files() == before
    assert _entries(folder)
    here = Path(cache.__file__).resolve().parent
    assert all(here not in path.resolve().parents for path in _entries(folder))


def test_default_folder_is_outside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUGGEST_CACHE_DIR", raising=False)
    monkeypatch.delenv("SUGGEST_NO_CACHE", raising=False)
    default = cache.cache_dir()
    assert default is not None
    package = Path(cache.__file__).resolve().parent
    assert package not in default.resolve().parents and default.resolve() != package


BUILD_SCRIPT = """
import json, sys
from suggest import Engine
engine = Engine(intents=sys.argv[1], tags=sys.argv[2], replies=sys.argv[3])
out = {m: engine.analyze(m).to_dict() for m in json.loads(sys.argv[4])}
for row in out.values():
    row.pop("timings_ms", None)
print(json.dumps(out, ensure_ascii=False, sort_keys=True))
"""


def test_two_processes_building_at_once(folder: Path, packs: Path) -> None:
    messages = ["包邮吗", "能便宜点吗", "尺码怎么选 165 50kg", "质量太差了我要退货", "😡😡😡"]
    env = dict(os.environ, SUGGEST_CACHE_DIR=str(folder))
    args = [sys.executable, "-c", BUILD_SCRIPT, str(packs / "intents"), str(packs / "tags"),
            str(packs / "replies"), json.dumps(messages, ensure_ascii=False)]
    assert not folder.exists() or not any(folder.iterdir())
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode("utf-8", "replace")
    answers = [json.loads(out) for out, _ in outputs]
    assert answers[0] == answers[1]

    # The entry they left is whole, and this process reads it and agrees.
    entries = _entries(folder)
    assert len(entries) == 1
    assert not list(folder.glob(".program-*"))  # no half-written files left behind
    key = cache.cache_key(PackSources.of(intents=packs / "intents", tags=packs / "tags",
                                         replies=packs / "replies").fingerprint())
    assert cache.read_entry(entries[0], key) is not None
    engine = _engine(packs)
    mine = {m: engine.analyze(m).to_dict() for m in messages}
    for row in mine.values():
        row.pop("timings_ms", None)
    assert json.loads(json.dumps(mine, ensure_ascii=False, sort_keys=True)) == answers[0]
    assert len(_entries(folder)) == 1  # read, not rebuilt


ANSWER_SCRIPT = """
import json, sys
from suggest import Engine
engine = Engine()
out = [engine.analyze(m).to_dict() for m in json.loads(sys.argv[1])]
for row in out:
    row.pop("timings_ms", None)
print(json.dumps(out, ensure_ascii=False, sort_keys=True))
"""


def test_processes_with_other_hash_seeds_give_the_same_answers(tmp_path: Path) -> None:
    # Each process builds its own program (no cache), as two machines or two cache folders would.
    messages = ["在不在呀", "哈喽 有人在吗", "包邮吗", "能便宜点吗", "好的谢谢", "嗯嗯", "在吗？"]
    outputs = []
    for seed in ("0", "1", "2"):
        env = dict(os.environ, SUGGEST_NO_CACHE="1", PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", ANSWER_SCRIPT, json.dumps(messages, ensure_ascii=False)],
                              capture_output=True, env=env, cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == outputs[2]


def test_plain_data_is_cached_by_its_key(folder: Path) -> None:
    calls: list[int] = []

    def build() -> dict[str, int]:
        calls.append(1)
        return {"包邮": 3}

    assert cache.load_or_build_data("words", "v1", build) == {"包邮": 3}
    assert cache.load_or_build_data("words", "v1", build) == {"包邮": 3}
    assert len(calls) == 1  # read back, not built again
    assert cache.load_or_build_data("words", "v2", build) == {"包邮": 3}
    assert len(calls) == 2  # another key is another entry


def test_a_recompile_after_a_pack_edit_imports_no_pypinyin(tmp_path: Path) -> None:
    """The readings of the pack words are kept between compiles: after an edit, only a
    new word would need pypinyin (its import is a third of a compile)."""
    from suggest.sources import bundled_dir

    intents = tmp_path / "intents"
    shutil.copytree(bundled_dir("intents"), intents)
    env = {**os.environ, "SUGGEST_CACHE_DIR": str(tmp_path / "cache")}
    script = ("import sys\nfrom suggest import Engine\n"
              "engine = Engine(intents=sys.argv[1])\n"
              "print('pypinyin' in sys.modules, engine.analyze('包油吗').intent_ids)\n")
    first = subprocess.run([sys.executable, "-c", script, str(intents)], env=env, capture_output=True,
                           text=True, check=True, timeout=120)
    shipping = intents / "shipping.yaml"
    shipping.write_text(shipping.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    second = subprocess.run([sys.executable, "-c", script, str(intents)], env=env, capture_output=True,
                            text=True, check=True, timeout=120)
    assert first.stdout.split()[0] == "True"  # the first compile read the words with pypinyin
    assert second.stdout.split()[0] == "False"
    assert "shipping" in second.stdout  # and the slip 包油 still reads as 包邮
