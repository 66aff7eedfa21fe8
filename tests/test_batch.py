"""``suggest batch`` and ``suggest.batch``: streaming JSONL, bad lines in place, workers."""

from __future__ import annotations

import io
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke, no_traceback, run_suggest

from suggest import Engine
from suggest.batch import (
    CHUNK_LINES,
    IN_FLIGHT_CHUNKS,
    OverlongLine,
    WorkerError,
    process_line,
    read_fd_lines,
    read_lines,
    run_batch,
)

GOOD = [b'{"text": "\xe5\x8c\x85\xe9\x82\xae\xe5\x90\x97"}',  # 包邮吗
        '{"text": "在吗", "history": []}'.encode(),
        '{"id": "r7", "text": "怎么退货", "history": ["裤子短了"]}'.encode()]

EMPTY = "an empty result"
# (physical line, expected error fragment, None for a result, EMPTY for an empty result);
# blank lines get no record
MIXED: list[tuple[bytes, str | None]] = [
    (GOOD[0], None),
    (b"", "skip"),
    (b'{"text": "\xff\xfe\xb0\xfc"}', "UTF-8"),
    (b"not json at all", "not JSON"),
    (b"   \t", "skip"),
    (b"[1, 2]", "JSON object"),
    (b'{"history": []}', '"text"'),
    (b'{"text": 42}', "string"),
    (b'{"text": null}', "string"),
    ('{"text": "在吗", "history": "发货了吗"}'.encode(), "history"),
    ('{"text": "在吗", "history": [1]}'.encode(), "history"),
    (b'{"text": "   "}', EMPTY),
    ('{"id": 9, "text": "[图片]"}'.encode(), EMPTY),  # nothing left once the placeholder goes
    (b"\r", "skip"),
    (GOOD[1], None),
    (GOOD[2], None),  # last line: no final newline
]


def mixed_bytes() -> bytes:
    return b"\n".join(line for line, _ in MIXED)  # no newline after the last line


def records(stdout: str | bytes) -> list[dict[str, Any]]:
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    return [json.loads(line) for line in text.splitlines()]


def without_timings(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "timings_ms"} for row in rows]


def check_mixed(rows: list[dict[str, Any]]) -> None:
    expected = [(n, want) for n, (_, want) in enumerate(MIXED, 1) if want != "skip"]
    assert [row["line"] for row in rows] == [n for n, _ in expected]
    for row, (n, want) in zip(rows, expected, strict=True):
        if want is None:
            assert "error" not in row, row
            assert "intents" in row and "replies" in row
            assert "empty" not in row
        elif want == EMPTY:
            assert "error" not in row and row["empty"] is True, row
            assert row["intents"] == row["tags"] == row["replies"] == [] and row["normalized"] == ""
        else:
            assert set(row) == {"line", "error"}, row
            assert want in row["error"], (n, row)


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(mixed_bytes())
    return path


def test_mixed_bad_lines_give_one_record_each_in_order(mixed_file: Path) -> None:
    result = invoke(["batch", str(mixed_file)])
    no_traceback(result)
    assert result.exit_code == 1
    rows = records(result.stdout)
    check_mixed(rows)
    assert rows[-1]["id"] == "r7"
    assert "return_exchange" in [m["id"] for m in rows[-1]["intents"]]
    assert "failed" in result.stderr


def test_all_good_lines_exit_0(tmp_path: Path) -> None:
    path = tmp_path / "good.jsonl"
    path.write_bytes(b"\n".join(GOOD) + b"\n")
    result = invoke(["batch", str(path), "--json"])  # --json is accepted: output is JSONL anyway
    assert result.exit_code == 0, result.stderr
    rows = records(result.stdout)
    assert [row["line"] for row in rows] == [1, 2, 3]
    assert "shipping" in [m["id"] for m in rows[0]["intents"]]


def test_empty_messages_are_results_not_failures(tmp_path: Path) -> None:
    path = tmp_path / "chat-log.jsonl"
    lines = [GOOD[0], '{"text": "[图片]"}'.encode(), '{"id": "c1", "text": "[商品] \\u200b [视频]"}'.encode(),
             b'{"text": "\\u0007"}', GOOD[1]]
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = invoke(["batch", str(path)])
    assert result.exit_code == 0, result.stderr  # an empty line is no failed line
    rows = records(result.stdout)
    assert [row.get("empty", False) for row in rows] == [False, True, True, True, False]
    assert rows[2]["id"] == "c1" and rows[2]["text"] == "[商品] \u200b [视频]"
    # every record has the keys of an analysis, so a reader needs no special case
    assert set(rows[0]) | {"empty"} == set(rows[1])
    assert "failed" not in result.stderr


def test_only_empty_text_is_an_empty_result(engine: Engine) -> None:
    """Invalid input stays an error record, even when it has no text either."""
    assert process_line(engine, 1, '{"text": "[图片]"}'.encode())["empty"] is True
    for raw in (b'{"text": null}', b'{"text": ""', b'{"history": ["[\xe5\x9b\xbe\xe7\x89\x87]"]}',
                b'{"text": "\xff"}', b'"[\xe5\x9b\xbe\xe7\x89\x87]"'):
        assert set(process_line(engine, 1, raw)) == {"line", "error"}, raw
    assert "empty" not in process_line(engine, 1, '{"text": "👌"}'.encode())  # an emoji is a message


def test_stdin_dash() -> None:
    result = invoke(["batch", "-"], input=mixed_bytes())
    assert result.exit_code == 1
    check_mixed(records(result.stdout))


def test_workers_give_the_same_output_as_one_process(tmp_path: Path) -> None:
    # more lines than one chunk, so the order across chunks and workers is tested too
    lines = [line for line, _ in MIXED] * 40
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"\n".join(lines))
    one = run_suggest(["batch", str(path), "--workers", "1"])
    two = run_suggest(["batch", str(path), "--workers", "2"])
    assert one.returncode == two.returncode == 1
    rows_one, rows_two = records(one.stdout), records(two.stdout)
    assert len(rows_one) == 40 * sum(1 for _, want in MIXED if want != "skip")
    assert without_timings(rows_one) == without_timings(rows_two)
    assert b"Traceback" not in two.stderr


def test_output_is_not_mixed_with_progress(mixed_file: Path) -> None:
    done = run_suggest(["batch", str(mixed_file)])
    check_mixed(records(done.stdout))  # stdout is a pipe: every line is a record
    assert b"\r" not in done.stderr  # stderr is a pipe too: no progress bar


def test_broken_pack_exits_2_before_any_output(broken_intents: tuple[Path, Path], mixed_file: Path) -> None:
    folder, broken = broken_intents
    result = invoke(["batch", str(mixed_file), "--intents", str(folder), "--workers", "2"])
    no_traceback(result)
    assert result.exit_code == 2
    assert f"{broken}:" in result.stderr
    assert result.stdout == ""


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke(["batch", str(tmp_path / "nope.jsonl")])
    no_traceback(result)
    assert result.exit_code == 2
    assert "nope.jsonl" in result.stderr


# -- the library part ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def test_process_line(engine: Engine) -> None:
    row = process_line(engine, 5, '{"text": "包邮吗"}\n'.encode())
    assert row["line"] == 5 and "shipping" in [m["id"] for m in row["intents"]]
    assert process_line(engine, 6, b"{")["error"].startswith("line is not JSON")
    assert process_line(engine, 1, '\ufeff{"text": "在吗"}'.encode())["line"] == 1  # a BOM is fine
    assert "error" not in process_line(engine, 1, '\ufeff{"text": "在吗"}'.encode())
    assert process_line(engine, 2, b"[" * 100_000)["error"].startswith("line is not JSON")


def test_overlong_lines_become_error_records(engine: Engine) -> None:
    data = b'{"text": "' + "包邮吗".encode() * 100 + b'"}\n{"text": "x"}\n'
    lines = list(read_lines(io.BytesIO(data), max_bytes=64))
    assert isinstance(lines[0], OverlongLine) and lines[1] == b'{"text": "x"}\n'
    rows = list(run_batch(lines, engine=engine))
    assert [row["line"] for row in rows] == [1, 2]
    assert "longer than" in rows[0]["error"] and "error" not in rows[1]


def test_read_lines_without_a_final_newline() -> None:
    assert list(read_lines(io.BytesIO(b"a\n\nb"))) == [b"a\n", b"\n", b"b"]


FD_CASES = [b"", b"a\n\nb", b"a\nb\n", b"x" * 10 + b"\nshort\n" + b"y" * 40 + b"\nz", b"y" * 40,
            b"\n\n\n", b"exactly15bytes\n" + b"sixteen-bytes!!\n" + b"x" * 15 + b"\n" + b"w" * 16 + b"\n",
            b"a" * 100 + b"\n" + b"b" * 100]


@pytest.mark.parametrize("data", FD_CASES)
@pytest.mark.parametrize("block", [1, 3, 7, 64])
def test_read_fd_lines_reads_as_read_lines_does(tmp_path: Path, data: bytes, block: int) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    want = list(read_lines(io.BytesIO(data), max_bytes=16))
    fd = os.open(path, os.O_RDONLY)
    try:
        got = list(read_fd_lines(fd, max_bytes=16, block=block))
    finally:
        os.close(fd)
    assert got == want
    assert [type(line) for line in got] == [type(line) for line in want]  # overlong lines alike


@pytest.mark.parametrize("workers", [1, 2])
def test_run_batch_streams(workers: int, engine: Engine) -> None:
    """Results come while the input is still being read: an endless input works."""
    pulled = 0

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield GOOD[i % len(GOOD)] + b"\n"

    first = list(itertools.islice(run_batch(endless(), workers, {}, engine=engine), 10))
    assert [row["line"] for row in first] == list(range(1, 11))
    # a bounded read-ahead, whatever the input size: that is what keeps memory flat
    assert pulled <= (workers * IN_FLIGHT_CHUNKS + 2) * CHUNK_LINES


def test_a_worker_that_cannot_load_the_packs_stops_the_run(broken_intents: tuple[Path, Path]) -> None:
    folder, _ = broken_intents
    with pytest.raises(WorkerError, match="shipping.yaml"):
        list(run_batch([b'{"text": "x"}\n'] * 3, 2, {"intents": str(folder)}))


def test_what_orjson_refuses_json_still_reads(engine: Engine) -> None:
    """orjson is the fast path; what it refuses (huge ints, NaN, lone surrogates), json reads."""
    from suggest.batch import encode_record

    huge = 123456789012345678901234567890
    row = process_line(engine, 1, ('{"id": ' + str(huge) + ', "text": "包邮吗", "x": NaN}').encode())
    assert row["id"] == huge and "shipping" in [m["id"] for m in row["intents"]]
    assert json.loads(encode_record(row)[1])["id"] == huge
    row = process_line(engine, 2, b'{"text": "\\u5305\\u90ae\\ud800\\u5417"}')  # 包邮<lone surrogate>吗
    assert "error" not in row and "shipping" in [m["id"] for m in row["intents"]]
    is_error, line = encode_record(row)
    assert not is_error and line.endswith(b"\n") and json.loads(line)["line"] == 2  # written, not a crash


def test_encoded_lines_mean_what_json_says(engine: Engine) -> None:
    from suggest.batch import encode_record

    for raw in [*GOOD, b"{", '{"text": "[图片]"}'.encode(), '{"text": "质量太差了！！！ 我要退货"}'.encode()]:
        record = process_line(engine, 1, raw)
        is_error, line = encode_record(record)
        assert is_error == ("error" in record)
        assert json.loads(line) == json.loads(json.dumps(record, ensure_ascii=False))
        assert line.count(b"\n") == 1 and b"\\u" not in line  # one line, UTF-8 not ASCII escapes
