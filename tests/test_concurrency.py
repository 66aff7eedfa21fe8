"""One engine shared by many threads answers as it does alone; engines keep their own jieba."""

from __future__ import annotations

import random
import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from suggest import Analysis, Engine, InputError
from suggest.sources import bundled_dir

THREADS = 8
NEW_WORD = "七彩云朵"  # jieba splits it; a pack that lists it keeps it whole


def _pack_examples() -> list[str]:
    out: list[str] = []
    for folder in ("intents", "tags"):
        for path in sorted(bundled_dir(folder).glob("*.yaml")):
            pack = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for key in ("match", "no_match"):
                for item in (pack.get("examples") or {}).get(key, []):
                    out.append(item if isinstance(item, str) else item["text"])
    return out


def _messages() -> list[tuple[str, tuple[str, ...]]]:
    """A few hundred varied messages, some with history; the same list every run."""
    rng = random.Random(5)
    texts = _pack_examples()
    words = ["包邮", "尺码", "退货", "发货", "便宜", "在吗", "谢谢", "？", "！！", "😡", "亲", "M码", "50kg"]
    for _ in range(300):
        texts.append("".join(rng.choice(words) for _ in range(rng.randint(1, 5))))
    texts += ["😡😡", "\x00包邮", "包郵嗎", "Hello 包邮吗", "哈" * 3000, "?", "[图片]", NEW_WORD]
    out: list[tuple[str, tuple[str, ...]]] = []
    for i, text in enumerate(texts):
        history = (texts[i - 1],) if i % 4 == 0 and i else ()
        out.append((text, history))
    return out


MESSAGES = _messages()


def _answer(engine: Engine, text: str, history: tuple[str, ...]) -> Analysis | str:
    try:
        return engine.analyze(text, history)
    except InputError as exc:
        return f"InputError: {exc}"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("cache")
        mp.setenv("SUGGEST_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def engine(cache_dir: Path) -> Engine:
    return Engine()


def test_eight_threads_answer_as_one(engine: Engine) -> None:
    assert len(MESSAGES) >= 300
    sequential = [_answer(engine, text, history) for text, history in MESSAGES]
    work = list(range(len(MESSAGES))) * 4  # over a thousand calls, in a shuffled order
    random.Random(8).shuffle(work)
    assert len(work) >= 3000
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # switch threads often, to interleave inside analyze
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(lambda i: (i, _answer(engine, *MESSAGES[i])), work))
    finally:
        sys.setswitchinterval(old_interval)
    mismatches = [MESSAGES[i][0] for i, got in results if got != sequential[i]]
    assert not mismatches, mismatches[:5]
    # and the sequential answers themselves did not drift
    assert [_answer(engine, t, h) for t, h in MESSAGES[:50]] == sequential[:50]


def test_threads_share_the_history_memo_safely(engine: Engine) -> None:
    # Follow-ups read the buyer's earlier messages through a shared memo.
    pairs = [("？", (text,)) for text, _ in MESSAGES[:120]]
    sequential = [_answer(engine, t, h) for t, h in pairs]
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(lambda p: _answer(engine, *p), pairs * 5))
    assert results == sequential * 5


@pytest.fixture(scope="module")
def two_engines(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Engine]:
    """The bundled packs, and a copy whose shipping pack also lists NEW_WORD."""
    root = tmp_path_factory.mktemp("packs")
    for name in ("intents", "tags", "replies"):
        shutil.copytree(bundled_dir(name), root / name)
    shipping = root / "intents" / "shipping.yaml"
    text = shipping.read_text(encoding="utf-8")
    shipping.write_text(text.replace("\nkeywords:\n", f"\nkeywords:\n  - {{text: {NEW_WORD}, weight: 0.95}}\n", 1),
                        encoding="utf-8")
    plain = Engine()
    extra = Engine(intents=root / "intents", tags=root / "tags", replies=root / "replies")
    return plain, extra


def test_engines_keep_their_own_words(two_engines: tuple[Engine, Engine]) -> None:
    plain, extra = two_engines
    message = f"{NEW_WORD}什么时候到"
    assert NEW_WORD in [t[0] for t in extra.explain(message).tokens]
    assert NEW_WORD not in [t[0] for t in plain.explain(message).tokens]
    assert "shipping" in extra.analyze(NEW_WORD).intent_ids
    assert "shipping" not in plain.analyze(NEW_WORD).intent_ids
    # A third engine made afterwards leaves both as they were.
    Engine()
    assert NEW_WORD in [t[0] for t in extra.explain(message).tokens]
    assert NEW_WORD not in [t[0] for t in plain.explain(message).tokens]


def test_jieba_global_dictionary_is_not_touched(two_engines: tuple[Engine, Engine]) -> None:
    jieba = sys.modules.get("jieba")
    if jieba is None:
        return  # never even imported: nothing global to leak into
    assert NEW_WORD not in jieba.dt.FREQ
    assert NEW_WORD not in getattr(jieba.dt, "user_word_tag_tab", {})


def test_interleaved_engines_in_threads(two_engines: tuple[Engine, Engine]) -> None:
    plain, extra = two_engines
    texts = [t for t, _ in MESSAGES[:150]] + [NEW_WORD, f"{NEW_WORD}包邮吗", f"亲{NEW_WORD}"]
    alone = {id(e): [(_answer(e, t, ()), tuple(e.explain(t).tokens)) for t in texts] for e in (plain, extra)}
    assert alone[id(plain)] != alone[id(extra)]

    jobs = [(e, i) for i in range(len(texts)) for e in (plain, extra)] * 2
    random.Random(3).shuffle(jobs)
    failures: list[str] = []
    lock = threading.Lock()

    def run(job: tuple[Engine, int]) -> None:
        e, i = job
        got = (_answer(e, texts[i], ()), tuple(e.explain(texts[i]).tokens))
        if got != alone[id(e)][i]:
            with lock:
                failures.append(f"{'extra' if e is extra else 'plain'}: {texts[i]!r}")

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(run, jobs))
    assert not failures, failures[:5]
