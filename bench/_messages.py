"""Messages the benchmarks share: the dev set's texts when it is there, else a built-in list."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"  # beside the repository, when present

BUILT_IN = [
    "在吗", "你好 在不在", "包邮吗", "包邮吗 几天能到", "发什么快递", "能发顺丰吗 急用",
    "今天下单今天能发货吗", "我的快递到哪了 三天没动了", "发货了吗？", "这个尺码偏大还是偏小",
    "160斤穿多大码", "身高165体重110穿什么码", "鞋子38码合适吗 我平时穿38", "能便宜点吗",
    "最低多少钱", "别家才卖99 你们怎么贵这么多", "买两件能优惠吗", "有没有优惠券",
    "衣服收到就开线了 什么质量啊", "洗了一次就掉色！！！", "收到的东西是坏的 怎么办",
    "怎么退货", "七天无理由可以退吗", "尺码不合适能换吗", "退款什么时候到账",
    "拍了还没付款 能改价吗", "订单还没付 地址写错了", "帮我改一下地址", "能换个颜色吗 还没发货吧",
    "这个是纯棉的吗", "有没有黑色", "实物和图片一样吗 会不会色差", "这款适合夏天穿吗",
    "质量太差了 我要给差评", "不给退我就差评", "好的 谢谢", "收到了 挺好的 谢谢亲",
    "拜拜", "包油吗", "推货怎么弄", "尺吗标准吗", "什么时候发或",
]


def messages() -> list[str]:
    """Texts to time: the dev set's (if present), else BUILT_IN."""
    if DEV.is_file():
        with open(DEV, encoding="utf-8") as handle:
            texts = [json.loads(line)["text"] for line in handle if line.strip()]
        if texts:
            return texts
    return list(BUILT_IN)


def messages_from(path: Path) -> list[str]:
    """Texts of a file: JSONL with a "text" field, or plain text one message a line.
    Lines the engine would refuse (nothing to read once placeholders go) are left out."""
    from suggest.normalize import is_empty

    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            text = json.loads(line).get("text", "") if line.startswith("{") else line
            if isinstance(text, str) and not is_empty(text):
                texts.append(text)
    return texts
