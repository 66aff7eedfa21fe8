"""The shop's size charts: which size fits a buyer of this height and weight.

``replies/shop.yaml`` may carry ``size_charts``: ``default`` and, for a shop
selling several kinds of things, one chart per product word (连衣裙, 运动鞋),
used when the buyer's message or history names that product. Rows run from
the smallest size up (the schema checks it), each with a height range in cm
and a weight range in kg (``weight``) or 斤 (``weight_jin``).

A size is picked only when the buyer gave every measure the chart uses; each
measure points at the first row it fits under, and the larger of those wins
(between two sizes a tight fit is the worse mistake). The next row up is the
size for a loose fit. A buyer beyond the largest row gets no pick, only the
largest size named (``beyond``), so no reply promises a size that will not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .normalize import normalize

SIZE_CHARTS_KEY = "size_charts"  # the shop profile's key
_MEASURES = ("height", "weight")


@dataclass(frozen=True)
class SizePick:
    size: str | None  # the size that fits (None when the buyer is beyond the chart)
    up: str | None  # the next size up, for a loose fit
    beyond: str | None  # the largest size, when the buyer is beyond the chart


@dataclass(frozen=True)
class _Row:
    size: str
    ranges: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class _Chart:
    rows: tuple[_Row, ...]
    used: tuple[str, ...]  # the measures it picks by (some row gives a range for them)


def _chart(data: list[dict[str, Any]]) -> _Chart:
    rows = _rows(data)
    return _Chart(rows, tuple(m for m in _MEASURES if any(m in row.ranges for row in rows)))


def _rows(data: list[dict[str, Any]]) -> tuple[_Row, ...]:
    rows = []
    for row in data:
        ranges: dict[str, tuple[float, float]] = {}
        for measure in ("height", "weight", "chest", "waist", "foot"):
            if measure in row:
                low, high = row[measure]
                ranges[measure] = (float(low), float(high))
        if "weight_jin" in row:
            low, high = row["weight_jin"]
            ranges["weight"] = (float(low) / 2, float(high) / 2)
        size = row["size"]
        rows.append(_Row(str(int(size)) if isinstance(size, float) and size.is_integer() else str(size), ranges))
    return tuple(rows)


class SizeCharts:
    def __init__(self, data: dict[str, list[dict[str, Any]]] | None) -> None:
        charts = data or {}
        self.default = _chart(charts["default"]) if "default" in charts else None
        # product word as the matcher sees messages -> rows; longer words first (连衣裙 before 裙)
        products = [(normalize(name).text or name, _chart(rows)) for name, rows in charts.items() if name != "default"]
        self.products = sorted(products, key=lambda item: -len(item[0]))

    def __bool__(self) -> bool:
        return self.default is not None or bool(self.products)

    def chart_for(self, texts: Sequence[str]) -> _Chart | None:
        """The chart of the product the buyer names (the message first), else the default."""
        for text in texts:
            for word, chart in self.products:
                if word and word in text:
                    return chart
        return self.default

    def pick(self, height: Any, weight: Any, texts: Sequence[str] = ()) -> SizePick | None:
        chart = self.chart_for(texts)
        if chart is None:
            return None
        rows, used = chart.rows, chart.used
        given = {"height": height, "weight": weight}
        if not used or any(not isinstance(given[m], (int, float)) for m in used):
            return None  # a measure the chart needs is missing: ask for it rather than guess
        at = 0
        for measure in used:
            value = float(given[measure])
            index = next((i for i, row in enumerate(rows)
                          if measure in row.ranges and value <= row.ranges[measure][1]), None)
            if index is None:
                return SizePick(None, None, rows[-1].size)
            at = max(at, index)
        up = rows[at + 1].size if at + 1 < len(rows) else None
        return SizePick(rows[at].size, up, None)
