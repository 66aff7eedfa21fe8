"""Choose and render the quick replies for an analysed message.

For each intent found (best first) the reply pack offers candidates; a
candidate is kept when its conditions hold (customer types, sales stage,
intents that must or must not be present) and ranked by how specifically it
fits: a reply written for this kind of buyer beats a generic one. Replies are
interleaved across intents so a message with several needs gets an answer
to each before a second answer to any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .results import IntentMatch, Reply, TagMatch
from .templates import render

# Which stage of the sale each intent usually belongs to, most telling first.
STAGE_OF_INTENT = {
    "quality_complaint": "after_sale",
    "return_exchange": "after_sale",
    "bad_review": "after_sale",
    "shipping": "in_sale",
    "order_change": "in_sale",
    "unpaid_order": "pre_sale",
    "bargain": "pre_sale",
    "size": "pre_sale",
    "product_info": "pre_sale",
    "greeting": "pre_sale",
    "farewell": "after_sale",
}
_STAGE_ORDER = ("after_sale", "in_sale", "pre_sale")


class ReplyBook:
    def __init__(self, packs: Sequence[dict[str, Any]], shop: dict[str, Any]) -> None:
        self.by_intent: dict[str, list[dict[str, Any]]] = {}
        for pack in packs:
            self.by_intent.setdefault(pack["intent"], []).extend(pack["replies"])
        self.shop = shop

    def stage(self, intents: Sequence[IntentMatch]) -> str | None:
        stages = {STAGE_OF_INTENT.get(m.id) for m in intents} - {None}
        if not stages:
            return None
        # farewell alone says little: an after-sale thanks and a pre-sale "ok" look alike
        if [m.id for m in intents] == ["farewell"]:
            return None
        for stage in _STAGE_ORDER:
            if stage in stages:
                return stage
        return None

    def candidates(self, intent: str, present: set[str], types: set[str],
                   stage: str | None) -> list[dict[str, Any]]:
        ranked = []
        for reply in self.by_intent.get(intent, []):
            wanted_types = set(reply.get("types", []))
            if wanted_types and not wanted_types & types:
                continue
            stages = reply.get("stages", [])
            if stages and stage is not None and stage not in stages:
                continue
            if any(other not in present for other in reply.get("with", [])):
                continue
            if any(other in present for other in reply.get("without", [])):
                continue
            fit = (2 * len(wanted_types & types) + len(reply.get("with", []))
                   + (1 if stages and stage in stages else 0) + float(reply.get("priority", 0)) / 100)
            ranked.append((fit, reply))
        ranked.sort(key=lambda item: -item[0])
        return [reply for _, reply in ranked]

    def choose(self, intents: Sequence[IntentMatch], tags: Sequence[TagMatch], stage: str | None,
               top: int = 3) -> tuple[Reply, ...]:
        if top <= 0 or not intents:
            return ()
        present = {m.id for m in intents}
        types = {t.id for t in tags}
        queues = [(m.id, self.candidates(m.id, present, types, stage)) for m in intents]
        chosen: list[Reply] = []
        seen_texts: set[str] = set()
        depth = 0
        while len(chosen) < top and any(depth < len(q) for _, q in queues):
            for intent, queue in queues:
                if depth < len(queue) and len(chosen) < top:
                    reply = queue[depth]
                    text = render(reply["text"], self.shop)
                    if text not in seen_texts:
                        seen_texts.add(text)
                        chosen.append(Reply(reply["id"], intent, text))
            depth += 1
        return tuple(chosen)
