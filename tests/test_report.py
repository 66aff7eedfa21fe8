"""`suggest report`: reading chat logs, exact counts that merge, the HTML page in a real browser."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke, pack_args, write_stand_in_packs

from suggest import Engine
from suggest.chatlog import parse_columns, read_log
from suggest.errors import InputError
from suggest.packs import load_packs
from suggest.report import ReportCounts, count_log, hour_of, rule_catalog
from suggest.report_html import render_html

# Our own example messages (never lines of the real corpora).
LOG = [
    {"session": "s1", "role": "buyer", "text": "在吗", "time": "2024-05-01 09:01:00"},
    {"session": "s1", "role": "agent", "text": "亲，在的，请问有什么可以帮您", "time": "2024-05-01 09:01:20"},
    {"session": "s1", "role": "buyer", "text": "这件包邮吗", "time": "2024-05-01 09:02:00"},
    {"session": "s2", "role": "buyer", "text": "驿站取不了件", "time": "2024-05-01 21:00:00"},
    {"session": "s2", "role": "buyer", "text": "小区驿站取不到", "time": "2024-05-01 21:01:00"},
    {"session": "s2", "role": "buyer", "text": "衣服破了个洞", "time": "2024-05-01 21:05:00"},
    {"session": "s3", "role": "buyer", "text": "发货了吗", "time": "1714597200"},
    {"session": "s3", "role": "buyer", "text": "？", "time": "1714597260"},
    {"session": "s4", "role": "buyer", "text": "？", "time": "13:05"},
    {"session": "s4", "role": "buyer", "text": "发票抬头写错了", "time": "13:06"},
]


# Small stand-in packs, so the figures these tests expect depend on the report and not on
# how the bundled packs are tuned (they read more of these lines as they grow).
STAND_IN = {
    "shipping": "id: shipping\nzh: 快递物流\nkeywords: [包邮, 发货]\n",
    "quality_complaint": "id: quality_complaint\nzh: 质量投诉\nkeywords: [破了, 个洞]\n",
    "greeting": "id: greeting\nzh: 进门问候\nonly:\n  - {words: [在吗]}\n",
}


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_stand_in_packs(tmp_path_factory.mktemp("stand-in"), STAND_IN)


@pytest.fixture(scope="module")
def engine(stand_in: dict[str, Path]) -> Engine:
    return Engine(**stand_in)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def packs(engine: Engine) -> Any:
    return load_packs(engine.sources)


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def figures_of(data: bytes, engine: Engine, fmt: str = "jsonl", columns: dict[str, str] | None = None) -> dict[str, Any]:
    counts = count_log(read_log(io.BytesIO(data), fmt, columns), engine)
    return counts.figures(load_packs(engine.sources))


def test_agent_lines_are_context_and_each_buyer_message_is_counted_once(engine: Engine) -> None:
    figures = figures_of(jsonl(LOG), engine)
    buyer = [r for r in LOG if r["role"] == "buyer"]
    assert figures["messages"] == len(buyer) and figures["agent_lines"] == 1
    # the exact intent counts, recomputed message by message with the session's earlier buyer lines
    expected: dict[str, int] = {}
    for i, row in enumerate(buyer):
        history = [r["text"] for r in buyer[:i] if r["session"] == row["session"]][-3:]
        for intent in engine.analyze(row["text"], history).intent_ids:
            expected[intent] = expected.get(intent, 0) + 1
    assert {r["id"]: r["messages"] for r in figures["intents"]} == expected
    assert figures["answered"] + figures["unanswered"] == figures["messages"]


def test_history_comes_from_the_same_session_only(engine: Engine) -> None:
    figures = figures_of(jsonl(LOG), engine)
    # ？ after 发货了吗 in s3 is a shipping question; the ？ that opens s4 is not
    shipping = next(r["messages"] for r in figures["intents"] if r["id"] == "shipping")
    assert shipping == 3  # 包邮吗, 发货了吗, and the ？ after it
    assert figures["unanswered"] == 4  # 驿站取不了件, 小区驿站取不到, the lone ？, 发票抬头写错了


def test_unanswered_messages_are_grouped_with_counts_and_examples(engine: Engine) -> None:
    figures = figures_of(jsonl(LOG), engine)
    groups = figures["unanswered_groups"]
    assert sum(g["messages"] for g in groups) + figures["unanswered_ungrouped"] == figures["unanswered"]
    pickup = [g for g in groups if any("驿站" in e for e in g["examples"])]
    assert len(pickup) == 1 and pickup[0]["messages"] == 2
    assert set(pickup[0]["examples"]) == {"驿站取不了件", "小区驿站取不到"}


def test_unanswered_share_by_hour_stage_and_session_end(engine: Engine) -> None:
    figures = figures_of(jsonl(LOG), engine)
    hours = {r["hour"]: (r["messages"], r["unanswered"]) for r in figures["by_hour"]}
    assert hours == {9: (2, 0), 21: (5, 2), 13: (2, 2)}  # 1714597200 is 2024-05-01 21:00 UTC
    positions = {r["position"]: r["messages"] for r in figures["by_position"]}
    assert positions == {"第1句": 4, "第2-3句": 5}
    sessions = figures["sessions"]
    assert sessions["count"] == 4 and sessions["ended_on_complaint"] == 1
    assert sessions["examples"][0]["session"] == "s2" and sessions["examples"][0]["last_message"] == "衣服破了个洞"


def test_hours_are_read_from_iso_times_clock_times_and_unix_seconds() -> None:
    assert hour_of("2024-05-01 13:22:05") == 13
    assert hour_of("2024/05/01 08:00") == 8
    assert hour_of("23:59") == 23
    assert hour_of("0") == 0 and hour_of("1714597200000") == hour_of("1714597200")
    assert hour_of("") is None and hour_of("yesterday") is None and hour_of("99:00") is None


def test_rules_that_fired_and_never_fired_come_from_the_packs(engine: Engine, packs: Any) -> None:
    figures = figures_of(jsonl(LOG), engine)
    fired = {(r["intent"], r["kind"], r["pattern"]) for r in figures["rules_fired"]}
    assert ("quality_complaint", "keyword", "破了") in fired
    catalog = rule_catalog(packs)
    never = {(r["intent"], r["kind"], r["pattern"]) for r in figures["rules_never_fired"]}
    assert figures["rules_total"] == len(catalog)
    assert ("quality_complaint", "keyword", "破了") not in never
    assert never <= set(catalog) and len(never) >= len(catalog) - len(fired)


def test_counts_of_two_parts_merge_into_the_counts_of_the_whole(engine: Engine, packs: Any) -> None:
    # parts cut between sessions: the merge must give exactly the whole log's figures
    whole = figures_of(jsonl(LOG), engine)
    first = count_log(read_log(io.BytesIO(jsonl(LOG[:3]))), engine, part=0)
    second = count_log(read_log(io.BytesIO(jsonl(LOG[3:]))), engine, part=1)
    merged = ReportCounts().merge(first).merge(second).figures(packs)
    for key in ("messages", "agent_lines", "answered", "intents", "buyer_types", "by_hour", "by_position",
                "by_stage", "rules_fired", "rules_never_fired", "sessions"):
        assert merged[key] == whole[key], key
    assert merged["unanswered_groups"] == whole["unanswered_groups"]


def test_a_session_cut_by_a_part_boundary_is_one_session_ending_where_it_ends(engine: Engine) -> None:
    rows = [{"session": "x", "text": "衣服破了个洞"}, {"session": "x", "text": "这件包邮吗"},
            {"session": "y", "text": "在吗"}, {"session": "x", "text": "衣服破了个洞"}]
    first = count_log(read_log(io.BytesIO(jsonl(rows[:2]))), engine, part=0)
    second = count_log(read_log(io.BytesIO(jsonl(rows[2:]))), engine, part=1)
    sessions = ReportCounts().merge(first).merge(second).figures()["sessions"]
    assert sessions["count"] == 2 and sessions["ended_on_complaint"] == 1
    assert sessions["examples"][0]["messages"] == 3
    # and in the other order of merging, the later part still decides how x ended
    sessions = ReportCounts().merge(second).merge(first).figures()["sessions"]
    assert sessions["ended_on_complaint"] == 1


def test_csv_with_mapped_columns_reads_like_jsonl(engine: Engine) -> None:
    rows = ["内容,会话,角色,时间"] + [f'"{r["text"]}",{r["session"]},{"客服" if r["role"] == "agent" else "买家"},'
                                   f'{r["time"]}' for r in LOG]
    data = ("\ufeff" + "\n".join(rows) + "\n").encode("utf-8")
    columns = parse_columns(["text=内容", "session=会话", "role=角色", "time=时间"])
    assert figures_of(data, engine, "csv", columns) == figures_of(jsonl(LOG), engine)


def test_unusable_lines_are_counted_as_errors_at_their_place(engine: Engine) -> None:
    data = jsonl(LOG[:2]) + b"not json\n\xff\xfe\n" + jsonl([{"text": "在吗", "role": "robot"}, {"text": "  "}])
    figures = figures_of(data, engine)
    assert figures["messages"] == 1 and figures["errors"]["count"] == 4
    assert [e["line"] for e in figures["errors"]["examples"]] == [3, 4, 5, 6]


def test_bad_column_mappings_and_headers_are_clear_errors() -> None:
    with pytest.raises(InputError, match="FIELD=HEADER"):
        parse_columns(["text"])
    with pytest.raises(InputError, match="unknown field"):
        parse_columns(["body=内容"])
    with pytest.raises(InputError, match="no text column"):
        list(read_log(io.BytesIO("内容\n包邮吗\n".encode()), "csv"))


def test_cli_report_json_and_errors(tmp_path: Path, stand_in: dict[str, Path]) -> None:
    log = tmp_path / "chats.jsonl"
    log.write_bytes(jsonl(LOG))
    result = invoke(["report", *pack_args(stand_in), str(log), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["messages"] == 9 and figures["sessions"]["count"] == 4
    text = invoke(["report", *pack_args(stand_in), str(log)])
    assert text.exit_code == 0 and "without an intent 4" in text.stdout
    csv_log = tmp_path / "chats.csv"
    csv_log.write_text("内容\n包邮吗\n", encoding="utf-8")
    bad = invoke(["report", *pack_args(stand_in), str(csv_log), "--format", "csv"])
    assert bad.exit_code == 2 and "no text column" in bad.stderr and "Traceback" not in bad.stderr
    good = invoke(["report", *pack_args(stand_in), str(csv_log), "--format", "csv", "--column", "text=内容", "--json"])
    assert good.exit_code == 0 and json.loads(good.stdout)["messages"] == 1
    missing = invoke(["report", *pack_args(stand_in), str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(jsonl(LOG) + b"{oops\n")
    partial = invoke(["report", *pack_args(stand_in), str(broken), "--json"])
    assert partial.exit_code == 1 and "1 line could not be read" in partial.stderr
    assert json.loads(partial.stdout)["errors"]["examples"][0]["line"] == len(LOG) + 1


def test_cli_report_draws_a_progress_bar_only_when_asked_or_on_a_terminal(tmp_path: Path, stand_in: dict[str, Path]) -> None:
    log = tmp_path / "chats.jsonl"
    log.write_bytes(jsonl(LOG))
    quiet = invoke(["report", *pack_args(stand_in), str(log), "--json"])
    assert "report" not in quiet.stderr
    asked = invoke(["report", *pack_args(stand_in), str(log), "--json", "--progress"])
    assert asked.exit_code == 0 and "report" in asked.stderr
    assert json.loads(asked.stdout)["messages"] == 9  # the bar never mixes into stdout


# -- the HTML page -------------------------------------------------------------------------

HOSTILE = "<script>alert(1)</script>"


def test_the_page_is_self_contained_and_escapes_what_buyers_typed(engine: Engine) -> None:
    page = render_html(figures_of(jsonl([*LOG, {"session": "z", "text": HOSTILE}]), engine))
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", page)  # nothing loaded from elsewhere
    assert page.count("<svg") >= 6 and page.count("<table") >= 6


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
def test_the_page_reads_right_in_headless_chromium(tmp_path: Path, stand_in: dict[str, Path]) -> None:
    log = tmp_path / "chats.jsonl"
    log.write_bytes(jsonl([*LOG, {"session": "z", "text": HOSTILE}]))
    out = tmp_path / "report.html"
    result = invoke(["report", *pack_args(stand_in), str(log), "--html", str(out), "--title", "本店报告"])
    assert result.exit_code == 0, result.stderr
    assert CHROMIUM is not None
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", out.as_uri()],
        capture_output=True, timeout=90, check=True).stdout.decode("utf-8")
    text = re.sub(r"<[^>]+>", " ", dom)  # the page's text as the browser built it
    assert "本店报告" in text and "意图分布" in text and "快递物流" in text
    assert "驿站取不了件" in text and "小区驿站取不到" in text  # the unanswered group, with its examples
    assert "衣服破了个洞" in text  # the session that ended on a complaint
    assert "从未触发的规则" in text and "无意图消息：按小时" in text
    assert re.search(r"买家消息\s+10\b", text), text[:500]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script>alert" not in dom
    assert dom.count("<svg") >= 6
