"""The analysis on Dask: a LocalCluster of two worker processes against plain `suggest batch`."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dask.bag")
distributed = pytest.importorskip("distributed")

from conftest import invoke  # noqa: E402

from suggest import Engine  # noqa: E402
from suggest.batch import read_lines, run_batch  # noqa: E402
from suggest.chatlog import read_log  # noqa: E402
from suggest.report import count_log  # noqa: E402
from suggest.scale import PackBundle, analyze_bag, blocks_of, count_line_starts, report_bag  # noqa: E402
from suggest.sources import bundled_dir  # noqa: E402

MESSAGES = ["包邮吗", "几天能到", "衣服破了个洞", "在吗", "能便宜点吗", "这个拍了还没付款", "？",
            "170 120斤穿多大", "驿站取不了件", "谢谢亲"]


def batch_input() -> bytes:
    """Our own messages, with the bad lines a real file has: not JSON, not UTF-8, blank, empty text."""
    out = io.BytesIO()
    for i in range(90):
        if i == 5:
            out.write(b"not json\n")
        elif i == 17:
            out.write(b"\xff\xfe not utf-8\n")
        elif i in (9, 10):
            out.write(b"\n")
        elif i == 33:
            out.write(b'{"text": "   "}\n')
        else:
            row = {"id": i, "text": MESSAGES[i % len(MESSAGES)], "history": ["发货了吗"] if i % 3 == 0 else []}
            out.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return out.getvalue()[:-1]  # and no final newline


def without_timings(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in records]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster, distributed.Client(cluster) as c:
        yield c


def test_line_starts_are_counted_per_byte_range(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    data = batch_input()
    path.write_bytes(data)
    for size in (1, 7, 64, 10_000):
        [blocks] = blocks_of([path], size)
        assert sum(count_line_starts(b) for b in blocks) == data.count(b"\n") + 1


def test_the_bag_gives_the_records_plain_batch_gives(client: Any, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(batch_input())
    with open(path, "rb") as f:
        plain = list(run_batch(read_lines(f)))
    # small ranges: many lines and several bad ones sit on range boundaries
    records = analyze_bag([path], block_bytes=300).compute()
    assert without_timings(records) == without_timings(plain)
    assert sum("error" in r for r in records) == sum("error" in r for r in plain) >= 2
    # a bag of lines works the same way
    lines = batch_input().split(b"\n")
    import dask.bag as db

    from_lines = analyze_bag(db.from_sequence(lines, npartitions=4)).compute()
    assert without_timings(from_lines) == without_timings(plain)


def test_workers_build_their_engine_from_the_packs_the_client_ships(client: Any, tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    for name in ("intents", "tags", "replies"):
        shutil.copytree(bundled_dir(name), shop / name)
    pack = shop / "intents" / "shipping.yaml"
    pack.write_text(pack.read_text(encoding="utf-8").replace("keywords:\n", "keywords:\n  - {text: 嘀嘀嘀, weight: 0.9}\n", 1),
                    encoding="utf-8")
    assert "嘀嘀嘀" in pack.read_text(encoding="utf-8")
    bundle = PackBundle.of(intents=shop / "intents", replies=shop / "replies", tags=shop / "tags")
    shutil.rmtree(shop)  # the workers must not need the files
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "嘀嘀嘀"}\n', encoding="utf-8")
    [record] = analyze_bag([path], bundle=bundle).compute()
    assert [i["id"] for i in record["intents"]] == ["shipping"]
    assert Engine().analyze("嘀嘀嘀").intent_ids == ()  # the bundled packs do not know the word


def test_cli_batch_dask_writes_what_plain_batch_writes(client: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(batch_input())
    second.write_text('{"text": "包邮吗"}\n{"text": 1}\n', encoding="utf-8")
    plain = invoke(["batch", str(first)])
    assert plain.exit_code == 1  # some lines failed
    on_dask = invoke(["batch", "--dask", client.scheduler.address, str(first)])
    assert on_dask.exit_code == 1, on_dask.stderr
    parse = lambda out: without_timings([json.loads(line) for line in out.splitlines()])  # noqa: E731
    assert parse(on_dask.stdout) == parse(plain.stdout)
    both = invoke(["batch", "--dask", client.scheduler.address, str(first), str(second)])
    records = parse(both.stdout)
    assert [r["file"] for r in records[-2:]] == [str(second)] * 2 and records[-1]["error"]
    assert [{k: v for k, v in r.items() if k != "file"} for r in records[:-2]] == parse(plain.stdout)
    no_dask = invoke(["batch", str(first), str(second)])
    assert no_dask.exit_code == 2 and "need --dask" in no_dask.stderr


def test_report_counts_from_many_ranges_merge_into_the_whole_logs(client: Any, tmp_path: Path) -> None:
    rows = [{"text": MESSAGES[i % len(MESSAGES)], "role": "agent" if i % 7 == 0 else "buyer",
             "time": f"2024-05-01 {i % 24:02d}:00"} for i in range(80)]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "{broken\n", encoding="utf-8")
    with open(path, "rb") as f:
        whole = count_log(read_log(f), Engine()).figures()
    merged = report_bag([path], block_bytes=200).figures()
    assert merged == whole
    on_cli = invoke(["report", "--dask", client.scheduler.address, str(path), "--json"])
    assert on_cli.exit_code == 1 and "1 line could not be read" in on_cli.stderr  # the broken last line
    plain = invoke(["report", str(path), "--json"])
    assert json.loads(on_cli.stdout) == json.loads(plain.stdout)
