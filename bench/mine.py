"""Do mined rules help? Recall and false alarms on held-out real lines, before and after.

A labelled real file (default ``../shared/eval/real-dev.jsonl``) is split in two
halves by line position (even lines A, odd lines B: deterministic). Rules are
mined from what the bundled packs leave unanswered in half A (its labels are
not read), the proposals that name an intent are accepted as written into a
copy of the bundled packs in a temporary folder, and half B is scored before
and after:

- recall: the share of labelled intents (on lines of B) that the engine finds;
- false alarms: the share of B's lines labelled with no intent that get one.

The after-figures come from the engine loading the amended packs.

    python bench/mine.py [FILE] [--min-support N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from suggest import Engine
from suggest.errors import InputError, PackError
from suggest.mine import Proposal, mine, pack_hints
from suggest.packs import load_packs
from suggest.sources import PackSources, bundled_dir


def default_file() -> Path:
    """``../shared/eval/real-dev.jsonl`` from the checkout (a worktree may sit deeper: look upwards)."""
    for folder in Path(__file__).resolve().parents[1].parents:
        candidate = folder / "shared" / "eval" / "real-dev.jsonl"
        if candidate.is_file():
            return candidate
    return Path("../shared/eval/real-dev.jsonl")


def read(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def answers(engine: Engine, rows: list[dict[str, Any]]) -> list[tuple[set[str], str]]:
    out = []
    for row in rows:
        try:
            analysis = engine.analyze(row["text"], row.get("history") or [], top=0)
        except InputError:  # an empty line (only a placeholder): no intent, as `suggest eval` counts it
            out.append((set(), ""))
            continue
        out.append((set(analysis.intent_ids), analysis.normalized))
    return out


def score(rows: list[dict[str, Any]], found: list[set[str]], known: set[str]) -> tuple[float, float]:
    wanted = hit = quiet = alarms = 0
    for row, got in zip(rows, found, strict=True):
        labels = set(row.get("intents") or []) & known
        wanted += len(labels)
        hit += len(labels & got)
        if not row.get("intents"):
            quiet += 1
            alarms += bool(got & known)
    return hit / max(wanted, 1), alarms / max(quiet, 1)


def amended_packs(folder: Path, proposals: list[Proposal]) -> Path:
    """A copy of the bundled packs with the proposals added to their intents' packs."""
    for name in ("intents", "replies", "tags"):
        shutil.copytree(bundled_dir(name), folder / name)
    for proposal in proposals:
        path = folder / "intents" / f"{proposal.intent}.yaml"
        with open(path, encoding="utf-8") as f:
            pack = yaml.safe_load(f)
        pack.setdefault("classes", {}).update(proposal.classes)
        pack.setdefault("templates", []).append(proposal.template)
        pack.setdefault("examples", {}).setdefault("match", []).extend(proposal.examples)
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(pack, f, allow_unicode=True, sort_keys=False)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=None)
    parser.add_argument("--min-support", type=int, default=3)
    args = parser.parse_args()
    args.file = args.file or default_file()
    if not args.file.is_file():
        print(f"no labelled file at {args.file}", file=sys.stderr)
        return 2
    rows = read(args.file)
    half_a, half_b = rows[0::2], rows[1::2]
    engine = Engine()
    known = set(engine.intent_ids) - engine.outside_taxonomy  # invoice is answered, not a label
    unanswered = Counter(norm for got, norm in answers(engine, half_a) if not got and norm)
    proposals = mine(unanswered, load_packs(PackSources.of()), min_support=args.min_support,
                     hints=pack_hints(unanswered, engine))
    accepted = [p for p in proposals if p.known_intent]
    print(f"{args.file.name}: half A {len(half_a)} lines ({sum(unanswered.values())} unanswered), "
          f"half B {len(half_b)} lines")
    print(f"proposals {len(proposals)}, naming an intent (accepted) {len(accepted)}: "
          + ", ".join(f"{p.intent} {p.template!r} ({p.support})" for p in accepted))
    before = answers(engine, half_b)
    recall0, alarms0 = score(half_b, [got for got, _ in before], known)
    with tempfile.TemporaryDirectory(prefix="suggest-mine-") as tmp:
        folder = amended_packs(Path(tmp), accepted)
        try:
            amended = Engine(intents=folder / "intents", replies=folder / "replies", tags=folder / "tags",
                             use_cache=False)
        except PackError as exc:  # a proposal the packs refuse: say which, do not guess figures
            print(f"the amended packs do not load: {exc}", file=sys.stderr)
            return 1
        after = [got for got, _ in answers(amended, half_b)]
    recall1, alarms1 = score(half_b, after, known)
    print(f"half B before: recall {recall0:.3f}, false alarms {alarms0:.1%}")
    print(f"half B after: recall {recall1:.3f}, false alarms {alarms1:.1%}")
    print(f"change: recall {recall1 - recall0:+.3f}, false alarms {100 * (alarms1 - alarms0):+.1f} points "
          f"(the bar: recall up, false alarms up by at most 2 points)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
