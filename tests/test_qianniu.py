"""千牛 quick phrases: export, import, both encodings, broken files, and the round trip."""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import pytest
from conftest import invoke, no_traceback

from suggest.packs import load_packs
from suggest.qianniu import HEADER, QianniuError, phrases_from_packs, read_phrases
from suggest.sources import PackSources
from suggest.templates import render, template_fields


def rows(path: Path, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def bundled_zh() -> dict[str, str]:
    return {p["id"]: p["zh"] for p in load_packs(PackSources.of()).intents}


def test_export_writes_the_qianniu_columns_with_bom_and_filled_templates(tmp_path: Path) -> None:
    out = tmp_path / "q.csv"
    result = invoke(["export", "--format", "qianniu", str(out)])
    no_traceback(result)
    assert result.exit_code == 0, result.stderr
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    table = rows(out)
    assert tuple(table[0]) == HEADER
    body = table[1:]
    packs = load_packs(PackSources.of())
    # every reply but those filled per message from what the buyer said ({size_pick}, {order_no})
    fixed = [r for p in packs.replies for r in p["replies"]
             if all(name in packs.shop for name in template_fields(r["text"]))]
    assert len(body) == len(fixed) < sum(len(p["replies"]) for p in packs.replies)
    codes = [r[0] for r in body]
    assert len(set(codes)) == len(codes) and all(re.fullmatch(r"[a-z]{2,5}\d+", c) for c in codes)
    assert {r[2] for r in body} <= set(bundled_zh().values())
    assert "快递物流" in {r[2] for r in body}
    assert not any("{" in r[1] or "}" in r[1] for r in body)  # every template filled
    assert any("中通快递" in r[1] for r in body)  # from the shop profile
    # the same packs give the same file, byte for byte
    again = tmp_path / "again.csv"
    invoke(["export", "--format", "qianniu", str(again)])
    assert again.read_bytes() == data


def test_export_gbk_reports_what_gbk_cannot_hold_and_mangles_nothing(tmp_path: Path) -> None:
    out = tmp_path / "g.csv"
    result = invoke(["export", "--encoding", "gbk", str(out)])
    no_traceback(result)
    assert result.exit_code == 1
    skipped = re.findall(r"^not written: (\S+) \((\S+)\): gbk cannot hold", result.stderr, re.M)
    assert skipped, result.stderr
    table = rows(out, "gbk")  # decodes as GBK: nothing was written that it cannot hold
    everything = phrases_from_packs()
    assert len(table) - 1 + len(skipped) == len(everything)
    written = {r[0] for r in table[1:]}
    for code, _ in skipped:
        assert code not in written
    by_code = {p.code: p.text for p in everything}
    for code, text, _group in table[1:]:
        assert by_code[code] == text  # written whole, not with "?" in place of a character


SHOP_EXPORT = (
    "快捷短语编码,快捷短语,快捷短语分组\r\n"
    'wl1,"亲，我们发的是中通，一般三天左右到，偏远地区（新疆、西藏）会慢一点",快递物流\r\n'
    'wl2,"亲，发货后会短信通知您，\r\n单号在订单里也能看到",物流问题\r\n'
    'a1,"亲，这件是纯棉的，可以机洗",\r\n'
    'zz,"亲，满{100}减10哦，""凑单""更划算",议价优惠\r\n'
    ',亲，请稍等，我帮您看一下,常用\r\n'
    "\r\n"
    '售后1,"宝贝收到有破损的，拍照给我们马上处理",\r\n'
)


def test_import_sorts_phrases_into_reply_packs_that_check_accepts(tmp_path: Path) -> None:
    written: dict[str, dict[str, bytes]] = {}
    for encoding in ("utf-8-sig", "utf-8", "gbk"):  # all three read the same
        source = tmp_path / f"shop-{encoding}.csv"
        source.write_bytes(SHOP_EXPORT.encode(encoding))
        out = tmp_path / f"replies-{encoding}"
        result = invoke(["import", "--format", "qianniu", str(source), "--out", str(out)])
        no_traceback(result)
        assert result.exit_code == 0, result.stderr
        written[encoding] = {p.name: p.read_bytes().replace(source.name.encode(), b"SOURCE")
                             for p in out.iterdir()}
    assert written["utf-8-sig"] == written["utf-8"] == written["gbk"]
    out = tmp_path / "replies-gbk"
    assert sorted(p.name for p in out.iterdir()) == ["bargain.yaml", "product_info.yaml",
                                                     "quality_complaint.yaml", "shipping.yaml", "unsorted.csv"]
    packs = load_packs(PackSources.of(replies=out))
    assert not packs.errors
    shop = packs.shop
    by_intent = {p["intent"]: [(r["id"], render(r["text"], shop)) for r in p["replies"]] for p in packs.replies}
    assert [i for i, _ in by_intent["shipping"]] == ["shipping.qn_wl1", "shipping.qn_wl2"]
    assert by_intent["shipping"][1][1] == "亲，发货后会短信通知您，\n单号在订单里也能看到"  # a quoted newline
    assert by_intent["bargain"] == [("bargain.qn_zz", '亲，满{100}减10哦，"凑单"更划算')]  # braces stay literal
    # an empty group: the engine read the phrase; 售后1 is no id-shaped code, so a numbered one
    assert by_intent["product_info"] == [("product_info.qn_a1", "亲，这件是纯棉的，可以机洗")]
    assert [i for i, _ in by_intent["quality_complaint"]] == ["quality_complaint.qn_n6"]
    unsorted = rows(out / "unsorted.csv")
    assert unsorted[1:] == [["", "亲，请稍等，我帮您看一下", "常用"]]
    checked = invoke(["check", "--replies", str(out)])
    assert checked.exit_code == 0, checked.stdout


def test_round_trip_gives_the_same_phrases(tmp_path: Path) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert invoke(["export", str(first)]).exit_code == 0
    imported = invoke(["import", str(first), "--out", str(tmp_path / "replies")])
    assert imported.exit_code == 0, imported.stderr
    assert not (tmp_path / "replies" / "unsorted.csv").exists()
    assert invoke(["export", "--replies", str(tmp_path / "replies"), str(second)]).exit_code == 0
    assert rows(second) == rows(first)  # the same codes, phrases and groups, in the same order


def test_codes_stay_unique_when_imported_codes_collide(tmp_path: Path) -> None:
    replies = tmp_path / "replies"
    replies.mkdir()
    for intent in ("shipping", "size"):
        (replies / f"{intent}.yaml").write_text(
            f"intent: {intent}\nreplies:\n  - {{id: {intent}.qn_a1, text: 亲，{intent}的回复}}\n"
            f"  - {{id: {intent}.plain, text: 亲，{intent}的另一条}}\n", encoding="utf-8")
    phrases = phrases_from_packs(replies=replies)
    codes = [p.code for p in phrases]
    assert len(set(codes)) == len(codes) == 4
    assert codes.count("a1") == 1


def test_import_refuses_to_overwrite_packs(tmp_path: Path) -> None:
    source = tmp_path / "shop.csv"
    source.write_text(SHOP_EXPORT, encoding="utf-8")
    out = tmp_path / "replies"
    out.mkdir()
    (out / "shipping.yaml").write_text("mine", encoding="utf-8")
    result = invoke(["import", str(source), "--out", str(out)])
    assert result.exit_code == 2 and "shipping.yaml" in result.stderr and "exists" in result.stderr
    assert (out / "shipping.yaml").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["shipping.yaml"]  # nothing was written


@pytest.mark.parametrize(("content", "line", "needle"), [
    (b"\xef\xbb\xbf\xe5\xbf\xab\xe6\x8d\xb7,x\r\n", 1, "header"),  # no 快捷短语 column
    (b"", 1, "empty"),
    ("快捷短语编码,快捷短语,快捷短语分组\na1,好的,问候\na2,\"没关\"上的,问候\n".encode(), 3, "CSV"),
    ("快捷短语编码,快捷短语,快捷短语分组\na1,好的,问候\na2,,问候\n".encode(), 3, "empty"),
    ("快捷短语编码,快捷短语,快捷短语分组\na1,好的,问候\n".encode() + b"a2,\x81\x20,x\n", 3, "UTF-8 or GBK"),
    ("快捷短语编码,快捷短语,快捷短语分组\na1,\"从不结束\n".encode(), 2, "CSV"),  # the quote opens on line 2
])
def test_a_broken_file_is_a_clear_error_with_file_and_line(tmp_path: Path, content: bytes, line: int,
                                                           needle: str) -> None:
    source = tmp_path / "broken.csv"
    source.write_bytes(content)
    with pytest.raises(QianniuError) as caught:
        read_phrases(source)
    assert str(caught.value).startswith(f"{source}:{line}:"), str(caught.value)
    assert needle in str(caught.value)
    result = invoke(["import", str(source), "--out", str(tmp_path / "out")])
    no_traceback(result)
    assert result.exit_code == 2 and f"{source}:{line}:" in result.stderr
    assert not (tmp_path / "out").exists()
