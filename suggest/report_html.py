"""The report's figures as one self-contained HTML page: inline SVG charts, a table beside each.

Nothing is loaded from elsewhere (no CDN, no script): the page opens offline
and in a mail attachment. Every text that comes from the log or the packs is
escaped, since a buyer's message is untrusted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from html import escape
from typing import Any

BAR = "#4c78a8"
MISS = "#e45756"

_STYLE = """
body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222;
max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.cards{display:flex;gap:16px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:10px 16px}
.card b{display:block;font-size:22px}.pair{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}svg text{font-size:12px}
.note{color:#666;font-size:13px}code{font-size:12px;word-break:break-all}
"""


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _bars(rows: Sequence[tuple[str, float]], label: str, *, percent: bool = False, width: int = 420) -> str:
    """A horizontal bar chart as inline SVG."""
    if not rows:
        return '<p class="note">（无数据）</p>'
    top = max(value for _, value in rows) or 1.0
    name_w, bar_w, row_h = 150, width - 210, 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
             f'width="{width}" height="{row_h * len(rows) + 8}">']
    for i, (name, value) in enumerate(rows):
        y = 4 + i * row_h
        length = max(1.0, bar_w * value / top)
        shown = _pct(value) if percent else f"{value:,.0f}"
        short = name if len(name) <= 12 else name[:11] + "…"
        parts.append(f'<text x="{name_w - 6}" y="{y + 14}" text-anchor="end">{escape(short)}</text>'
                     f'<rect x="{name_w}" y="{y + 2}" width="{length:.1f}" height="{row_h - 5}" fill="{BAR}">'
                     f'<title>{escape(name)}: {shown}</title></rect>'
                     f'<text x="{name_w + length + 4:.1f}" y="{y + 14}">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _columns(rows: Sequence[tuple[str, int, int]], label: str, width: int = 620) -> str:
    """Vertical bars of all messages with the unanswered part in red, as inline SVG."""
    if not rows:
        return '<p class="note">（无数据）</p>'
    top = max(total for _, total, _ in rows) or 1
    height, base = 190, 165
    step = min((width - 40) / len(rows), 48.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
             f'width="{width}" height="{height}">']
    for i, (name, total, missed) in enumerate(rows):
        x = 30 + i * step
        h_total = 120 * total / top
        h_missed = 120 * missed / top
        parts.append(f'<rect x="{x:.1f}" y="{base - h_total:.1f}" width="{step * 0.7:.1f}" height="{h_total:.1f}" '
                     f'fill="{BAR}"><title>{escape(name)}: {total}</title></rect>'
                     f'<rect x="{x:.1f}" y="{base - h_missed:.1f}" width="{step * 0.7:.1f}" '
                     f'height="{h_missed:.1f}" fill="{MISS}"><title>{escape(name)} 无意图: {missed}</title></rect>'
                     f'<text x="{x + step * 0.35:.1f}" y="{base + 14}" text-anchor="middle">{escape(name)}</text>')
    parts.append(f'<rect x="30" y="4" width="10" height="10" fill="{BAR}"/><text x="44" y="13">全部消息</text>'
                 f'<rect x="120" y="4" width="10" height="10" fill="{MISS}"/><text x="134" y="13">无意图</text></svg>')
    return "".join(parts)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return ""
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for cell in row:
            if isinstance(cell, (int, float)) and not isinstance(cell, bool):
                out.append(f'<td class="n">{cell:,}</td>')
            else:
                out.append(f"<td>{cell if isinstance(cell, _Markup) else escape(str(cell))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


class _Markup(str):
    """Cell content already escaped."""


def _short(pattern: str, n: int = 120) -> str:
    return pattern if len(pattern) <= n else pattern[: n - 1] + "…"


def _examples_of(never: Sequence[dict[str, Any]], intent: str, n: int = 5) -> _Markup:
    patterns = [r["pattern"] for r in never if r["intent"] == intent][:n]
    return _Markup("<br>".join(f"<code>{escape(p[:80])}</code>" for p in patterns))


def _pair(chart: str, table: str) -> str:
    return f'<div class="pair"><div>{chart}</div><div>{table}</div></div>'


def _split_section(rows: Sequence[dict[str, Any]], key: str, label: str, fmt: str = "{}") -> str:
    names = [fmt.format(r[key]) for r in rows]
    chart = _columns([(n, r["messages"], r["unanswered"]) for n, r in zip(names, rows, strict=True)], label)
    table = _table([label, "消息", "无意图", "无意图占比"],
                   [(n, r["messages"], r["unanswered"], _pct(r["share"])) for n, r in zip(names, rows, strict=True)])
    return _pair(chart, table)


def render_html(figures: dict[str, Any], title: str = "聊天记录报告") -> str:
    """The whole page for ``ReportCounts.figures()``."""
    f = figures
    out = [f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
           f'<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>']
    sessions = f["sessions"]
    cards = [("买家消息", f"{f['messages']:,}"), ("有意图", f"{f['answered']:,}"),
             ("无意图", f"{f['unanswered']:,}（{_pct(f['unanswered_share'])}）"),
             ("客服消息", f"{f['agent_lines']:,}"), ("会话", f"{sessions['count']:,}"),
             ("以投诉结束的会话", f"{sessions['ended_on_complaint']:,}"), ("无法读取的行", f"{f['errors']['count']:,}")]
    out.append('<div class="cards">' + "".join(f'<div class="card">{escape(k)}<b>{escape(v)}</b></div>'
                                              for k, v in cards) + "</div>")

    out.append('<h2 id="intents">意图分布</h2><p class="note">每条买家消息可带多个意图；占比按买家消息计。</p>')
    intents = f["intents"]
    out.append(_pair(_bars([(f"{r['zh'] or r['id']}", r["messages"]) for r in intents], "意图分布"),
                     _table(["意图", "名称", "消息", "占比"],
                            [(r["id"], r["zh"], r["messages"], _pct(r["share"])) for r in intents])))

    out.append('<h2 id="types">买家类型</h2>')
    types = f["buyer_types"]
    out.append(_pair(_bars([(r["id"], r["messages"]) for r in types], "买家类型"),
                     _table(["类型", "消息", "占比"], [(r["id"], r["messages"], _pct(r["share"])) for r in types])))

    out.append('<h2 id="hours">无意图消息：按小时</h2>')
    out.append(_split_section(f["by_hour"], "hour", "小时", "{}时") if f["by_hour"]
               else '<p class="note">日志没有 time 字段。</p>')
    out.append('<h2 id="stages">无意图消息：按会话阶段</h2><p class="note">会话中的第几句买家消息，'
               "以及会话到这句为止所处的销售阶段。</p>")
    out.append(_split_section(f["by_position"], "position", "位置"))
    out.append(_split_section(f["by_stage"], "stage", "阶段"))

    out.append('<h2 id="unanswered">最常见的无意图消息（相似的归为一组）</h2>')
    groups = f["unanswered_groups"]
    out.append(_pair(_bars([(g["examples"][0] if g["examples"] else "", g["messages"]) for g in groups[:15]],
                           "无意图消息分组"),
                     _table(["消息数", "例子"], [(g["messages"], _Markup("<br>".join(escape(e) for e in g["examples"])))
                                              for g in groups])))
    out.append(f'<p class="note">共 {f["unanswered_kinds"]:,} 组'
               + (f'；另有 {f["unanswered_ungrouped"]:,} 条在组数达到上限后出现的新类型消息未归组'
                  if f["unanswered_ungrouped"] else "") + "。</p>")

    out.append('<h2 id="rules">触发最多的规则</h2>')
    fired = f["rules_fired"]
    out.append(_pair(_bars([(f"{r['intent']}: {r['pattern']}", r["messages"]) for r in fired[:15]], "触发最多的规则"),
                     _table(["意图", "类型", "规则", "消息"],
                            [(r["intent"], r["kind"], _Markup(f"<code>{escape(_short(r['pattern']))}</code>"), r["messages"])
                             for r in fired])))
    never = f["rules_never_fired"]
    per_intent = Counter(r["intent"] for r in never)
    out.append(f'<h2 id="never">从未触发的规则</h2><p class="note">{len(never):,} / {f["rules_total"]:,} 条可列出的规则'
               "（关键词、短语、正则、模板）在这份日志里一次也没有触发。</p>")
    out.append(_pair(_bars(sorted(per_intent.items(), key=lambda kv: (-kv[1], kv[0])), "从未触发的规则"),
                     _table(["意图", "从未触发", "例子"],
                            [(intent, n, _examples_of(never, intent))
                             for intent, n in sorted(per_intent.items(), key=lambda kv: (-kv[1], kv[0]))])))

    out.append('<h2 id="complaints">以投诉结束的会话</h2>')
    out.append(f'<p>{sessions["ended_on_complaint"]:,} / {sessions["count"]:,} 个会话'
               f'（{_pct(sessions["share"])}）的最后一句买家消息是质量投诉或评价纠纷。</p>')
    out.append(_table(["会话", "买家消息数", "最后一句", "意图"],
                      [(s["session"], s["messages"], s["last_message"], ", ".join(s["intents"]))
                       for s in sessions["examples"]]))
    if f["errors"]["count"]:
        out.append('<h2 id="errors">无法读取的行</h2>')
        out.append(_table(["行", "原因"], [(e["line"], e["error"]) for e in f["errors"]["examples"]]))
    out.append("</body></html>\n")
    return "".join(out)
