"""Replies that answer this buyer: the bundled packs pick the reply for the case the
buyer is in, and never one that contradicts what the buyer said (issues on replies)."""

from __future__ import annotations

import pytest

from suggest import Engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


# (message, history, the situation, the first reply)
CASES = [
    ("发了五天了还没到", [], "shipping.in_transit", "shipping.in_transit_check"),
    ("物流一直不更新 卡在中转站三天了", [], "shipping.stalled", "shipping.stalled_follow_up"),
    ("快递显示已签收 可是我根本没收到", [], "shipping.delivered_not_received", "shipping.delivered_not_received"),
    ("包油吗", [], "shipping.free_shipping", "shipping.free_shipping"),
    ("包邮吗", [], "shipping.free_shipping", "shipping.free_shipping"),
    ("能发顺丰吗", [], "shipping.choose_courier", "shipping.choose_courier"),
    ("付款两天了怎么还不发货", [], "shipping.not_shipped", "shipping.not_shipped_sorry"),
    ("订单我已经取消了 钱什么时候退回", [], "order_change.already_cancelled", "return_exchange.refund_after_cancel"),
    ("我已经把订单取消了", [], "order_change.already_cancelled", "order_change.already_cancelled"),
    ("我这边取消不了订单 怎么办", [], "order_change.cannot_cancel", "order_change.cannot_cancel"),
    ("退款什么时候到账啊", [], "return_exchange.refund_status", "return_exchange.refund_timing"),
    ("耳机左边没声音", [], "quality_complaint.not_working", "quality_complaint.not_working"),
    ("收到的杯子碎了", [], "quality_complaint.broken", "quality_complaint.broken"),
    ("这个充电器兼容华为手机吗", [], "product_info.compatibility", "product_info.compatibility"),
    ("这款是什么面料的", [], "product_info.material", "product_info.material"),
    # a process already under way, a delivery request, a price case, an aspect named
    ("退款申请被驳回了 为什么", [], "return_exchange.request_problem", "return_exchange.request_problem"),
    ("一个订单可以寄到两个地址吗", [], "shipping.split_delivery", "shipping.split_delivery"),
    ("驿站电话多少", [], "shipping.courier_contact", "shipping.courier_contact"),
    ("要50个的话单价能便宜多少", [], "bargain.bulk", "bargain.bulk"),
    ("618的时候会有优惠吗", [], "bargain.future_promo", "bargain.future_promo"),
    ("发票请改开成专票", [], "invoice.special_given", "invoice.special_as_given"),
    ("这款啥时候能补货", [], "product_info.restock_time", "product_info.restock_time"),
    ("和我上次买的是同一款吗", [], "product_info.same_as_before", "product_info.same_as_before"),
    ("用了两个星期就开不了机了", [], "quality_complaint.broke_after_use", "quality_complaint.broke_after_use"),
    ("好的", [], "farewell.ok_only", "farewell.ok"),
    # where the buyer is in the process: applied already, waiting on the money, not shipped
    ("退货申请我昨天就提交了", [], "return_exchange.applied_already", "return_exchange.applied_seen"),
    ("钱退了没有啊", [], "return_exchange.refund_status", "return_exchange.refund_timing"),
    ("后天再不发货的话我就退款", [], "return_exchange.ship_or_refund", "return_exchange.ship_or_refund"),
    ("麻烦赶紧安排配送 急着用", [], "shipping.chase", "shipping.chase"),
    ("白天上班不在家 送到公司可以吗", [], "shipping.arrange_delivery", "shipping.arrange_delivery"),
    ("先别发货 月底再寄给我", [], "shipping.ship_later", "shipping.ship_later"),
    ("多扣的运费要退给我", [], "shipping.fee_back", "shipping.fee_back"),
    ("大概哪天能送到我家", [], "shipping.arrive_time", "shipping.arrive_time_check"),
    # an aspect named, goods of any kind, a gift asked for
    ("这款饼干口感脆不脆", [], "product_info.taste_smell", "product_info.taste_smell"),
    ("店里有卖配套的滤芯吗", [], "product_info.carry_item", "product_info.carry_item"),
    ("这个盆的直径有多大", [], "size.item_measure", "size.item_measure"),
    ("这个鞋柜要自己组装吗", [], "unclear.installation", "unclear.installation"),
    ("买三盒能多送几个小样吗", [], "bargain.gift", "bargain.gift_ask"),
    ("快递一直显示配送中 怎么还不到", [], "shipping.in_transit", "shipping.in_transit_check"),
    ("付款好几天了一点物流信息都没有", [], "shipping.no_tracking", "shipping.no_tracking"),
    ("快递来了不签收行吗", [], "shipping.refuse_at_door", "shipping.refuse_at_door"),
    ("帮忙催下发货", [], "shipping.chase", "shipping.chase"),
    ("后天务必送到啊", [], "shipping.arrive_by", "shipping.arrive_by"),
    ("买了两样 可以只退其中一样吗", [], "return_exchange.partial_return", "return_exchange.partial_return"),
    ("寄回去的邮费怎么返给我", [], "return_exchange.postage_payback", "return_exchange.postage_payback"),
    ("店铺券领了怎么用不上", [], "bargain.coupon_use", "bargain.coupon_use"),
    ("为什么白色的比黑色的便宜", [], "bargain.compare_price", "bargain.compare_price"),
    ("怎么价格变了 跟下单前不一致", [], "bargain.price_check", "bargain.price_check"),
    ("这个标价是一盒的还是一个的", [], "product_info.unit_price", "product_info.unit_price"),
    ("耳机怎么和电脑连接", [], "product_info.how_to_use", "product_info.how_to_steps"),
    ("那这个要怎么弄", [], "unclear.vague_how", "unclear.vague_how"),
    ("退款的话需要提供什么资料", [], "return_exchange.what_needed", "return_exchange.what_needed"),
    ("还要我提供什么资料吗", [], "unclear.what_needed", "unclear.what_needed"),
    ("空调能约下周二上门安装吗", [], "unclear.schedule_install", "unclear.schedule_install"),
    ("新买的电饭锅坏了 煮不了饭", [], "quality_complaint.not_working", "quality_complaint.not_working"),
    ("快递四天了一直在揽收", [], "shipping.no_tracking", "shipping.no_tracking"),
    ("拍好了 请帮我发韵达", [], "shipping.avoid_courier", "shipping.avoid_courier"),
    ("退货的东西要寄到哪里", [], "return_exchange.return_address", "return_exchange.return_address"),
    ("订单123456789012降价了 能保价吗", [], "bargain.price_drop_after", "bargain.price_protection_given"),
    ("发票能换个抬头吗", [], "invoice.change_issued", "invoice.change_issued"),
    ("我想买两双", [], "product_info.want_buy", "product_info.want_buy"),
    ("快递真慢 到了县城就是不送", [], "shipping.slow", "shipping.slow_sorry"),
    ("请问价格保护有多久", [], "bargain.price_policy", "bargain.price_policy"),
    ("才买两天就降价了", [], "bargain.price_drop_after", "bargain.price_protection"),
    ("这单我不想要了", [], "order_change.cancel", "order_change.cancel"),
    ("快递还要几天能到", [], "shipping.in_transit", "shipping.in_transit_check"),
    ("能发别家快递吗", [], "shipping.avoid_courier", "shipping.avoid_courier"),
    ("退货是不是全部都要退吗", [], "return_exchange.partial_return", "return_exchange.partial_return"),
    ("退货的事让售后打电话给我", [], "return_exchange.call_me", "return_exchange.call_me"),
    ("最终价格是这个吗", [], "unclear.price_confirm", "unclear.price_confirm"),
    ("那该用哪一种呢", [], "unclear.pick_one", "unclear.pick_one"),
    ("那我选哪种好", [], "product_info.choose", "product_info.choose"),
    ("等东西到了我拒收可以吗", [], "unclear.refuse_parcel", "unclear.refuse_parcel"),
    ("整机能保修吗", [], "unclear.warranty", "unclear.warranty"),
    ("拆开用过了还能退吗", [], "return_exchange.opened_return", "return_exchange.opened_return"),
    ("双12会降价吗", [], "bargain.future_promo", "bargain.future_promo"),
    ("一袋大概有多少片", [], "product_info.count_in_pack", "product_info.count_in_pack"),
    ("另外一款便宜的质量一样吗", [], "product_info.cheaper_variant", "product_info.cheaper_variant"),
    ("纸质发票怎么寄给我", [], "invoice.paper_copy", "invoice.paper_post"),
    ("山区能送到吗", [], "shipping.coverage", "shipping.coverage"),
    ("发票信息麻烦改一下", [], "invoice.change_issued", "invoice.change_issued"),
    ("换货的话怎么操作", [], "return_exchange.how_do", "return_exchange.how_do"),
    ("可以帮忙退款吗", [], "return_exchange.do_for_me", "return_exchange.do_for_me"),
    ("退货要先签收吗", [], "return_exchange.sign_first", "return_exchange.sign_first"),
    ("已经超过七天了还能售后吗", [], "return_exchange.expired", "return_exchange.expired"),
    ("三瓶一共是45元吧", [], "bargain.price_quote", "bargain.price_quote"),
]


@pytest.mark.parametrize(("text", "history", "situation", "first"), CASES)
def test_the_reply_for_the_case_comes_first(engine: Engine, text: str, history: list[str], situation: str,
                                            first: str) -> None:
    analysis = engine.analyze(text, history)
    assert situation in analysis.situations, analysis.to_dict()
    assert analysis.replies[0].id == first


# Replies that must never be offered for these messages: they would contradict the buyer.
NEVER = [
    ("发了五天了还没到", {"shipping.when_ship", "shipping.courier_and_time", "shipping.delay_notice"}),
    ("快递什么时候到", {"shipping.delay_notice"}),  # a late-shipment notice only to a buyer who says so
    ("物流信息都没有", {"shipping.stalled_follow_up", "shipping.in_transit_check"}),  # nothing left the warehouse
    ("优惠券怎么领", {"bargain.coupon", "bargain.hold_price_promo"}),  # a question, not a haggle
    ("充电器坏了充不进电", {"quality_complaint.broken"}),  # a fault: no photos of a crushed box
    ("显示签收了但我没收到", {"shipping.when_ship", "shipping.courier_and_time", "shipping.delivery_estimate"}),
    ("订单我已经取消了", {"order_change.cancel"}),
    ("退款什么时候到账", {"return_exchange.steps"}),
    ("售后退款我申请过了", {"return_exchange.steps", "return_exchange.ask_reason", "return_exchange.policy"}),
    ("再不发货我就退款了", {"return_exchange.refund_status", "return_exchange.steps"}),
    ("帮我把订单取消掉", {"order_change.address"}),
    ("能退款吗", {"return_exchange.refund_status"}),
    ("送货前先打电话给我", {"shipping.when_ship", "shipping.delay_notice"}),
    # money words in passing: no haggling reply, no price quote
    ("补个差价换顺丰发可以吗", {"bargain.hold_price_promo", "bargain.price_protection", "bargain.coupon"}),
    ("师傅说多少钱都不给装", {"product_info.price"}),
    ("这个电饭煲的尺寸是多少", {"size.ask_measurements", "size.fit_advice", "size.size_chart"}),
]


@pytest.mark.parametrize(("text", "banned"), NEVER)
def test_no_reply_contradicts_the_message(engine: Engine, text: str, banned: set[str]) -> None:
    offered = {r.id for r in engine.analyze(text, top=10).replies}
    assert not offered & banned


def test_no_five_star_request_after_an_open_complaint(engine: Engine) -> None:
    after_complaint = engine.analyze("好的 谢谢", history=["收到的衣服破了个洞"], top=10)
    assert "farewell" in after_complaint.intent_ids
    assert not any("好评" in r.text for r in after_complaint.replies)
    happy = engine.analyze("好的 谢谢", history=["包邮吗"], top=10)
    assert happy.replies


def test_no_five_star_request_from_a_plain_thanks(engine: Engine) -> None:
    # thanks with nothing said about the parcel: the buyer may still be waiting for it
    for text in ("多谢啦 辛苦你了", "行 那就先这样 谢啦"):
        assert not any("好评" in r.text for r in engine.analyze(text, top=10).replies)


def test_a_slip_finds_the_same_situation(engine: Engine) -> None:
    assert engine.analyze("包油吗").situations == engine.analyze("包邮吗").situations


def test_you_are_welcome_answers_thanks_not_an_ok_that_carries_more(engine: Engine) -> None:
    thanked = engine.analyze("好的 谢谢啦")
    assert thanked.replies[0].id == "farewell.thanks"
    plain_ok = engine.analyze("好的 我女儿挑的这款", top=10)
    assert plain_ok.intent_ids == ("farewell",)
    assert plain_ok.replies[0].id == "farewell.acknowledged"
    assert not any(r.text.startswith("不客气") for r in plain_ok.replies)


def test_a_reply_asking_for_the_number_gives_way_to_one_that_names_it(engine: Engine) -> None:
    asked = engine.analyze("这个跟我上次买的是同一款吗")
    assert asked.replies[0].id == "product_info.same_as_before"
    given = engine.analyze("这个跟我上次买的是同一款吗 订单号 5519283746501928", top=10)
    assert given.replies[0].id == "product_info.same_as_before_given"
    assert "5519283746501928" in given.replies[0].text
    assert "product_info.same_as_before" not in {r.id for r in given.replies}
