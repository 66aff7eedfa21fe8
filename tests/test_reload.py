"""``Engine.reload()``: broken packs never replace good ones; readers never see half an engine."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from suggest import Analysis, Engine, PackError

NEW_WORD = "呱呱呱"  # a word no bundled pack knows
MESSAGES = ["包邮吗", "这个多少钱能便宜点吗", "尺码怎么选 165 50kg", "质量太差了我要退货", "在吗", "谢谢",
            "拍了还没付可以改地址吗", "什么时候发货", NEW_WORD, f"{NEW_WORD}吗"]


def _engine(root: Path) -> Engine:
    return Engine(intents=root / "intents", tags=root / "tags", replies=root / "replies")


def _shipping(root: Path) -> Path:
    return root / "intents" / "shipping.yaml"


def _with_new_word(text: str) -> str:
    assert "\nkeywords:\n" in text
    return text.replace("\nkeywords:\n", f"\nkeywords:\n  - {{text: {NEW_WORD}, weight: 0.95}}\n", 1)


BROKEN = "id: shipping\nkeywords: [包邮, 发货\n"  # an unclosed list


def _answers(engine: Engine) -> dict[str, Analysis]:
    return {m: engine.analyze(m) for m in MESSAGES}


def test_broken_packs_raise_and_the_old_ones_keep_serving(packs: Path) -> None:
    engine = _engine(packs)
    before = _answers(engine)
    ids_before = engine.intent_ids
    good = _shipping(packs).read_text(encoding="utf-8")

    _shipping(packs).write_text(BROKEN, encoding="utf-8")
    with pytest.raises(PackError) as raised:
        engine.reload()
    assert Path(raised.value.file).name == "shipping.yaml"
    assert raised.value.line > 0
    assert _answers(engine) == before
    assert engine.intent_ids == ids_before

    # Broken again in another way: still the old packs.
    _shipping(packs).write_text(good.replace("threshold:", "threshold: 9\nthresholdz:"), encoding="utf-8")
    with pytest.raises(PackError):
        engine.reload()
    assert _answers(engine) == before


def test_fixed_packs_are_picked_up(packs: Path) -> None:
    engine = _engine(packs)
    assert "shipping" not in engine.analyze(NEW_WORD).intent_ids
    good = _shipping(packs).read_text(encoding="utf-8")

    _shipping(packs).write_text(BROKEN, encoding="utf-8")
    with pytest.raises(PackError):
        engine.reload()
    _shipping(packs).write_text(_with_new_word(good), encoding="utf-8")
    engine.reload()
    assert "shipping" in engine.analyze(NEW_WORD).intent_ids
    assert "shipping" in engine.analyze("包邮吗").intent_ids

    # And back: the change is undone by the next reload.
    _shipping(packs).write_text(good, encoding="utf-8")
    engine.reload()
    assert "shipping" not in engine.analyze(NEW_WORD).intent_ids


def test_reload_without_changes_changes_nothing(packs: Path) -> None:
    engine = _engine(packs)
    before = _answers(engine)
    engine.reload()
    assert _answers(engine) == before


def test_readers_never_see_half_an_engine(packs: Path) -> None:
    good = _shipping(packs).read_text(encoding="utf-8")
    changed = _with_new_word(good)

    engine = _engine(packs)
    answers_a = _answers(engine)
    _shipping(packs).write_text(changed, encoding="utf-8")
    engine.reload()
    answers_b = _answers(engine)
    assert answers_a[NEW_WORD] != answers_b[NEW_WORD]  # the two versions really differ
    allowed = {m: (answers_a[m], answers_b[m]) for m in MESSAGES}

    stop = threading.Event()
    failures: list[str] = []
    counts = [0] * 4

    def read(slot: int) -> None:
        while not stop.is_set():
            for message in MESSAGES:
                try:
                    got = engine.analyze(message)
                except Exception as exc:  # any exception at all is a failure here
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
                if got not in allowed[message]:
                    failures.append(f"{message!r}: {got.intent_ids} is neither version's answer")
                    return
                counts[slot] += 1
                time.sleep(0.001)  # leave the reloading thread some time to work

    readers = [threading.Thread(target=read, args=(i,)) for i in range(len(counts))]
    for thread in readers:
        thread.start()
    expected_errors = 0
    try:
        for round_ in range(3):
            for content in (BROKEN, good, "id: shipping\nkeywordz: []\n", changed):
                _shipping(packs).write_text(content, encoding="utf-8")
                try:
                    engine.reload()
                except PackError:
                    expected_errors += 1
                    assert content in (BROKEN, "id: shipping\nkeywordz: []\n"), f"round {round_}"
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
    assert not failures, failures[:5]
    assert expected_errors == 6  # two broken contents a round
    assert all(count > 0 for count in counts)
    assert _answers(engine) == answers_b  # the last good packs written win


def test_two_threads_reloading_at_once(packs: Path) -> None:
    engine = _engine(packs)
    before = _answers(engine)
    errors: list[BaseException] = []

    def reload_many() -> None:
        try:
            for _ in range(4):  # three threads, twelve reloads in all: enough to interleave
                engine.reload()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reload_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert _answers(engine) == before
