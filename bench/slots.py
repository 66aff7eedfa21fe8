"""What finding slots costs per message, against the whole warm ``Engine.analyze``.

Same messages, one run, rounds interleaved so both sides see the same machine
load: each round times ``SlotFinder.find`` over the messages (already
normalised: the engine normalises once for everything) and ``Engine.analyze``
over the same messages (which includes finding the slots). The headline is the
median over rounds of (slot time / analyze time): the share of a warm lookup
spent on slots.

    python bench/slots.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from bench._messages import DEV, messages  # noqa: E402

# Messages full of facts, written for this bench: the slot formats all run on these.
FACTS = ["我165 110斤穿什么码", "一米六五 一百一十斤 拍哪个", "订单号1234567890123456 三天了还没到",
         "60包邮我就拍", "便宜10块吧 要黑色XL两件", "顺丰能发新疆吗 周五前能到吗", "38码的鞋偏大吗 要大一码吗"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="timed passes over all messages")
    args = parser.parse_args()

    from suggest import Engine
    from suggest.normalize import normalize
    from suggest.slots import SlotFinder, compile_slots, read_slots
    from suggest.sources import PackSources

    problems: list[object] = []
    finder = SlotFinder(compile_slots(read_slots(PackSources.of().slots_file(), problems)))  # type: ignore[arg-type]
    assert not problems, problems
    engine = Engine()
    for label, texts in (("dev messages", messages()), ("fact-heavy messages", FACTS * 50)):
        normalised = [normalize(t) for t in texts]
        for text, norm in zip(texts, normalised, strict=True):  # warm-up
            engine.analyze(text)
            finder.find(norm)
        ratios, slot_rounds, engine_rounds = [], [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            for norm in normalised:
                finder.find(norm)
            slot_time = time.perf_counter() - started
            started = time.perf_counter()
            for text in texts:
                engine.analyze(text)
            engine_time = time.perf_counter() - started
            ratios.append(slot_time / engine_time)
            slot_rounds.append(slot_time)
            engine_rounds.append(engine_time)
        found = sum(len(finder.find(n)) for n in normalised)
        source = DEV if label == "dev messages" and DEV.is_file() else "built-in list"
        print(f"{label}: {len(texts)} ({source}), {found} slots, {args.rounds} rounds (fastest of each)")
        print(f"  SlotFinder.find:   {min(slot_rounds) / len(texts) * 1e6:7.1f} us/message")
        print(f"  Engine.analyze:    {min(engine_rounds) / len(texts) * 1e6:7.1f} us/message (slots included)")
        print(f"  share:             {statistics.median(ratios):7.1%} (median of per-round ratios)")


if __name__ == "__main__":
    main()
