"""Slots (what the buyer already said), the shop's size charts and the replies they fill.

Everything goes through the public API: ``Engine.analyze(...).slots`` and
``.replies``, ``suggest check`` (``suggest.checking.check``) and ``PackError``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import invoke

from suggest import Engine, PackError
from suggest.checking import check
from suggest.numbers import chinese_number, parse_meters, parse_number
from suggest.results import Slot
from suggest.sources import bundled_dir, bundled_shop


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _found(engine: Engine, text: str, history: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    return [(s.name, s.value) for s in engine.analyze(text, list(history)).slots]


def _asking(what: str) -> set[str]:
    """Ids of the bundled replies that declare they ask the buyer for ``what``."""
    ids = set()
    for path in sorted(bundled_dir("replies").glob("*.yaml")):
        if path.name == "shop.yaml":
            continue
        for reply in yaml.safe_load(path.read_text(encoding="utf-8"))["replies"]:
            if what in reply.get("asks", []):
                ids.add(reply["id"])
    return ids


# -- numbers ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("一百一十", 110), ("十五", 15), ("两", 2), ("一百五", 150), ("一百零五", 105), ("二十", 20), ("四五", None),
    ("一千二", 1200), ("一六五", 165), ("九十八", 98), ("三", 3),
    ("一二十", None), ("百五", None), ("十百", None), ("", None), ("abc", None), ("一" * 20, None),
])
def test_chinese_numbers(text: str, value: int | None) -> None:
    assert chinese_number(text) == value


@pytest.mark.parametrize(("text", "cm"), [
    ("1.65", 165), ("1米65", 165), ("一米六五", 165), ("1米6", 160), ("一米七", 170), ("一米七二", 172),
    ("1.7", 170), ("1.65m", 165), ("abc", None), ("3.5", None),
])
def test_heights_in_metres(text: str, cm: float | None) -> None:
    assert parse_meters(text) == cm


def test_plain_numbers() -> None:
    assert parse_number("57.5") == 57.5
    assert parse_number("一百一十") == 110
    assert parse_number("12a") is None


# -- what the slots find ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("我165 110斤穿什么码", [("height", 165), ("weight", 55)]),
    ("170 120斤", [("height", 170), ("weight", 60)]),
    ("165 55", [("height", 165), ("weight", 55)]),  # under 70 with no unit: kilograms
    ("165，110 穿多大", [("height", 165), ("weight", 55)]),
    ("身高165体重110", [("height", 165), ("weight", 55)]),
    ("一米六五 一百一十斤", [("height", 165), ("weight", 55)]),
    ("1米65 55kg", [("height", 165), ("weight", 55)]),
    ("1.65m 55公斤", [("height", 165), ("weight", 55)]),
    ("我165cm", [("height", 165)]),
    ("我165穿什么码", [("height", 165)]),
    ("我都180了", [("height", 180)]),
    ("我身高160，穿什么码", [("height", 160)]),
    ("体重115斤", [("weight", 57.5)]),
    ("XL有吗", [("size", "XL")]),
    ("xxl和2xl一样吗", [("size", "2XL"), ("size", "2XL")]),
    ("38码的鞋", [("size", "38")]),
    ("要大一码吗", [("size_step", 1)]),
    ("小一号会不会紧", [("size_step", -1)]),
    ("要黑色的", [("colour", "黑色")]),
    ("买两件", [("quantity", 2)]),
    ("拿3个", [("quantity", 3)]),
    ("60包邮", [("price_offer", 60)]),
    ("50能卖吗", [("price_offer", 50)]),
    ("便宜10块吧", [("discount", 10)]),
    ("少5块", [("discount", 5)]),
    ("订单号1234567890123456", [("order_no", "1234567890123456")]),
    ("单号SF1234567890123", [("order_no", "SF1234567890123")]),
    ("在吗 [订单x]", [("order_no", "[订单x]")]),
    ("三天了还没到", [("days", 3)]),
    ("一个星期了", [("days", 7)]),
    ("明天能到吗", [("date", "tomorrow")]),
    ("周五前能到吗", [("date", "friday")]),
    ("15号之前", [("date", "day 15")]),
    ("发顺丰", [("courier", "顺丰")]),
    ("京东快递能到吗", [("courier", "京东")]),
    ("新疆能发吗", [("region", "新疆")]),
    ("乌鲁木齐包邮吗", [("region", "新疆")]),
])
def test_slots_found(engine: Engine, text: str, expected: list[tuple[str, Any]]) -> None:
    assert _found(engine, text) == expected


@pytest.mark.parametrize(("text", "absent"), [
    ("13812345678", "order_no"),  # a mobile number, not an order
    ("165cm", "size"),  # the m of cm is no size M
    ("单号sf1234567890123", "size"),  # nor the s of sf
    ("60包邮", "quantity"),  # 包 of 包邮 is no pack
    ("穿了3个月", "quantity"),
    ("25号能到吗", "size"),  # a day of the month
    ("这个165块", "height"),  # a price
    ("满199可以减十", "height"),  # a bare number is as often a price
    ("四五天了", "days"),  # four or five days, not 45
    ("[数字x]m的线", "size"),  # a hidden number and metres
    ("两斤装", "weight"),  # a product's weight, below any buyer's
    ("165 110可以吗", "price_offer"),  # the pair is height and weight
])
def test_what_is_not_a_slot(engine: Engine, text: str, absent: str) -> None:
    assert absent not in [name for name, _ in _found(engine, text)]


def test_a_message_without_facts_has_no_slots(engine: Engine) -> None:
    assert engine.analyze("在吗").slots == ()
    assert engine.analyze("质量怎么样").slots == ()


@pytest.mark.parametrize("text", ["我165 110斤穿什么码", "１６５　１１０斤", "身高1米65體重55kg", "ＸＬ 黑色 兩件",
                                  "在吗 [订单x] 三天了", "順豐 新疆"])
def test_spans_point_at_what_the_buyer_typed(engine: Engine, text: str) -> None:
    slots = engine.analyze(text).slots
    assert slots
    for slot in slots:
        assert 0 <= slot.start < slot.end <= len(text)
        assert text[slot.start:slot.end] == slot.text
        assert slot.source == "message" and slot.turns_ago == 0


def test_full_width_and_traditional_text_read_the_same(engine: Engine) -> None:
    assert _found(engine, "１６５　１１０斤") == [("height", 165), ("weight", 55)]
    assert _found(engine, "順豐") == [("courier", "顺丰")]


def test_history_slots_say_where_they_came_from(engine: Engine) -> None:
    history = ["165 110", "黑色有吗"]
    slots = engine.analyze("穿什么码", history).slots
    by_name = {s.name: s for s in slots}
    assert by_name["height"].source == "history" and by_name["height"].turns_ago == 2
    assert by_name["colour"].turns_ago == 1
    assert history[0][by_name["height"].start:by_name["height"].end] == by_name["height"].text


def test_slots_in_json(engine: Engine) -> None:
    data = engine.analyze("我165 110斤").to_dict()
    assert data["slots"][0] == {"name": "height", "value": 165, "text": "165", "span": [1, 4],
                                "source": "message", "turns_ago": 0}
    assert json.loads(json.dumps(data, ensure_ascii=False))["slots"][1]["value"] == 55
    assert engine.analyze("在吗").to_dict()["slots"] == []


def test_slot_is_frozen(engine: Engine) -> None:
    slot = engine.analyze("165cm").slots[0]
    assert isinstance(slot, Slot)
    with pytest.raises(AttributeError):
        slot.value = 170  # type: ignore[misc]


def test_cli_json_and_explain_show_slots() -> None:
    result = invoke(["--json", "我165 110斤穿什么码"])
    assert result.exit_code == 0
    assert [s["name"] for s in json.loads(result.stdout)["slots"]] == ["height", "weight"]
    explained = invoke(["explain", "-H", "顺丰能发吗", "165 110斤"])
    assert explained.exit_code == 0
    assert "slot     height = 165" in explained.stdout
    assert "courier = '顺丰'" in explained.stdout and "earlier message -1" in explained.stdout


# -- size charts and the replies they fill ---------------------------------------------------------

@pytest.mark.parametrize(("text", "size", "up"), [
    ("我165 110斤穿什么码", "L", "XL"),
    ("155 90斤穿什么码", "S", "M"),
    ("160 100斤 穿多大", "M", "L"),
    ("168 125斤穿什么码", "XL", "2XL"),
    ("165 110 阔腿裤穿什么码", "M", "L"),  # the product's own chart
])
def test_first_size_reply_names_the_size_from_the_chart(engine: Engine, text: str, size: str, up: str) -> None:
    replies = engine.analyze(text).replies
    assert replies and f"拍{size}码" in replies[0].text
    assert f"{up}码" in replies[0].text
    for reply in replies:
        assert "{" not in reply.text and "身高体重发" not in reply.text


def test_size_from_the_history(engine: Engine) -> None:
    first = engine.analyze("穿什么码", ["我165 110斤"]).replies[0]
    assert "拍L码" in first.text and "165cm" in first.text


def test_largest_size_has_no_size_up(engine: Engine) -> None:
    texts = [r.text for r in engine.analyze("170 135斤穿什么码").replies]
    assert "拍2XL码" in texts[0]
    assert all("{size_up}" not in t and "宽松一点的效果" not in t for t in texts)


def test_beyond_the_chart_no_size_is_promised(engine: Engine) -> None:
    replies = engine.analyze("185 200斤穿什么码").replies
    assert replies and "最大的2XL码" in replies[0].text
    assert not any("拍" in r.text and "码就" in r.text for r in replies)


def test_one_measure_given_asks_only_for_the_other(engine: Engine) -> None:
    asks_height = _asking("height")
    asks_weight = _asking("weight")
    first = engine.analyze("我身高160，穿什么码").replies
    assert "160cm" in first[0].text and "体重" in first[0].text
    assert not {r.id for r in first} & asks_height
    second = engine.analyze("体重100斤穿多大").replies
    assert "100斤" in second[0].text and "身高" in second[0].text
    assert not {r.id for r in second} & asks_weight


@pytest.mark.parametrize("text", ["我165 110斤穿什么码", "身高1米65体重55kg 拍哪个码", "165 110 穿M还是L"])
def test_no_reply_asks_for_height_or_weight_given(engine: Engine, text: str) -> None:
    asking = _asking("height") | _asking("weight")
    assert asking  # the bundled packs mark them
    for reply in engine.analyze(text).replies:
        assert reply.id not in asking


@pytest.mark.parametrize("text", ["订单号1234567890123456 怎么还没发货", "[订单x] 物流三天没动了",
                                  "东西坏了 订单1234567890123", "退货的钱什么时候到 单号1234567890123",
                                  "降价了 能退差价吗 1234567890123456"])
def test_no_reply_asks_for_an_order_number_given(engine: Engine, text: str) -> None:
    asking = _asking("order_no")
    assert len(asking) >= 5
    analysis = engine.analyze(text, top=5)
    assert analysis.replies
    for reply in analysis.replies:
        assert reply.id not in asking, reply
        assert "订单号发" not in reply.text and "把订单号" not in reply.text


def test_order_number_fills_its_hole_but_a_placeholder_does_not(engine: Engine) -> None:
    given = engine.analyze("订单号1234567890123456 怎么还没发货").replies
    assert "1234567890123456" in given[0].text
    hidden = engine.analyze("[订单x] 怎么还没发货").replies
    assert hidden and all("[订单" not in r.text and "{" not in r.text for r in hidden)


def test_replies_with_unfillable_holes_are_never_offered(engine: Engine) -> None:
    for text in ["穿什么码", "在吗", "怎么还没发货", "东西坏了", "我平时穿M 这款拍什么码", "能便宜点吗"]:
        for reply in engine.analyze(text, top=8).replies:
            assert "{" not in reply.text and "}" not in reply.text


def _shop_without_charts(tmp_path: Path) -> Path:
    data = yaml.safe_load(bundled_shop().read_text(encoding="utf-8"))
    del data["size_charts"]
    target = tmp_path / "shop.yaml"
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def test_without_a_size_chart_no_size_is_named_and_nothing_given_is_asked(tmp_path: Path) -> None:
    engine = Engine(shop=_shop_without_charts(tmp_path), use_cache=False)
    asking = _asking("height") | _asking("weight")
    for reply in engine.analyze("我165 110斤穿什么码", top=5).replies:
        assert "{" not in reply.text and reply.id not in asking
        assert "拍L码" not in reply.text


def test_weight_charts_in_kilograms_and_per_product(tmp_path: Path) -> None:
    data = yaml.safe_load(bundled_shop().read_text(encoding="utf-8"))
    data["size_charts"] = {
        "default": [{"size": 36, "height": [150, 160], "weight": [40, 50]},
                    {"size": 38, "height": [158, 168], "weight": [48, 58]}],
        "连衣裙": [{"size": "均码", "height": [150, 170], "weight": [40, 60]}],
    }
    shop = tmp_path / "shop.yaml"
    shop.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    engine = Engine(shop=shop, use_cache=False)
    assert "拍38码" in engine.analyze("165 110斤穿什么码").replies[0].text
    assert "拍36码" in engine.analyze("155 90斤穿什么码").replies[0].text
    first = engine.analyze("连衣裙 165 110 穿什么码").replies[0].text
    assert "拍均码" in first and "均码码" not in first  # templates write {size_pick}码


# -- checking: holes, asks, the slots file and size charts ---------------------------------------

def _copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(bundled_dir(name), target)
    return target


def _errors(**folders: Path) -> list[Any]:
    return [p for p in check(**folders) if p.severity == "error"]  # type: ignore[arg-type]


def test_check_accepts_the_bundled_slots_and_size_charts() -> None:
    assert _errors() == []


def test_check_accepts_slot_holes_and_rejects_unknown_ones(tmp_path: Path) -> None:
    replies = _copy(tmp_path, "replies")
    target = replies / "shipping.yaml"
    text = target.read_text(encoding="utf-8")
    text += ('\n  - id: shipping.uses_slots\n    text: "亲，{buyer_courier}可以发的，{region}一般3-5天左右到哦"\n'
             '\n  - id: shipping.unknown_hole\n    text: "亲，订单{order_number}我查一下哦"\n')
    target.write_text(text, encoding="utf-8")
    problems = _errors(replies=replies)
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].file == str(target) and "order_number" in problems[0].message
    assert problems[0].line == len(text.splitlines())


def test_check_rejects_asks_of_an_unknown_slot(tmp_path: Path) -> None:
    replies = _copy(tmp_path, "replies")
    target = replies / "size.yaml"
    text = target.read_text(encoding="utf-8").replace("asks: [weight]\n", "asks: [weigth]\n", 1)
    target.write_text(text, encoding="utf-8")
    problems = _errors(replies=replies)
    assert len(problems) == 1
    assert "weigth" in problems[0].message and problems[0].key_path.endswith("asks[0]")
    assert problems[0].line == next(i for i, line in enumerate(text.splitlines(), 1) if "weigth" in line)


def test_check_rejects_a_shop_variable_that_hides_a_slot_hole(tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    shop.write_text(bundled_shop().read_text(encoding="utf-8") + "height: 170\n", encoding="utf-8")
    problems = _errors(shop=shop)
    assert any("height" in p.message and p.file == str(shop) and p.line > 0 for p in problems)


def test_broken_slots_file_is_reported_with_file_line_and_key(tmp_path: Path) -> None:
    intents = _copy(tmp_path, "intents")
    target = intents / "_slots.yaml"
    text = target.read_text(encoding="utf-8")
    text = text.replace("    range: [120, 210]\n", "    range: [210, 120]\n    colour: red\n", 1)
    text = text.replace("      - {pattern: '(?<![0-9.])(?P<n>[0-9]{2,3}(?:\\.[0-9])?)\\s?(?P<unit>斤|kg|公斤|千克)'}",
                        "      - {pattern: '(a+)+b'}", 1)
    text = text.replace("    hole: buyer_courier\n", "    hole: Buyer-Courier\n", 1)
    target.write_text(text, encoding="utf-8")
    problems = _errors(intents=intents)
    lines = text.splitlines()
    by_key = {p.key_path: p for p in problems}
    assert all(p.file == str(target) for p in problems)
    assert by_key["slots.height.range"].line == lines.index("    range: [210, 120]") + 1
    assert by_key["slots.height.colour"].line == lines.index("    colour: red") + 1
    assert "slots.weight.formats[0].pattern" in by_key or "slots.weight.formats[0]" in by_key
    assert "slots.courier.hole" in by_key
    with pytest.raises(PackError):
        Engine(intents=intents, use_cache=False)


def test_slots_file_format_needs_a_number_group(tmp_path: Path) -> None:
    intents = _copy(tmp_path, "intents")
    target = intents / "_slots.yaml"
    target.write_text("slots:\n  height:\n    formats:\n      - {pattern: '[0-9]{3}cm'}\n"
                      "combined:\n  - pattern: '(?P<height>[0-9]{3}) (?P<shoe>[0-9]{2})'\n  - pattern: '(?P<height>[0-9]{3})'\n", encoding="utf-8")
    problems = _errors(intents=intents)
    messages = " | ".join(p.message for p in problems)
    assert "(?P<n>" in messages and "shoe" in messages and "two or more" in messages


def test_broken_size_chart_is_reported(tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    body = bundled_shop().read_text(encoding="utf-8").split("size_charts:")[0]
    body += ("size_charts:\n  default:\n    - {size: M, height: [160, 165], weight_jin: [100, 110]}\n"
             "    - {size: S, height: [150, 155], weight_jin: [80, 90]}\n"
             "    - {size: L, height: [170]}\n"
             "    - {size: XL, chest: [90, 96]}\n")
    shop.write_text(body, encoding="utf-8")
    problems = _errors(shop=shop)
    lines = body.splitlines()
    keys = {p.key_path for p in problems}
    assert "size_charts.default[1].height" in keys  # rows must run from the smallest up
    assert "size_charts.default[2].height" in keys  # a range is two numbers
    assert "size_charts.default[3]" in keys  # a row needs a height or a weight
    row = next(p for p in problems if p.key_path == "size_charts.default[2].height")
    assert row.line == lines.index("    - {size: L, height: [170]}") + 1


def test_a_shop_intents_folder_without_a_slots_file_uses_the_bundled_one(tmp_path: Path) -> None:
    intents = _copy(tmp_path, "intents")
    (intents / "_slots.yaml").unlink()
    engine = Engine(intents=intents, use_cache=False)
    assert _found(engine, "165 110") == [("height", 165), ("weight", 55)]
