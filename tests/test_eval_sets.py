"""Accuracy on the labelled sets in ../shared/eval (skipped where they are absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from suggest import Engine
from suggest.evaluation import EvalReport, evaluate, read_labelled

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"


def _report(name: str) -> EvalReport:
    path = EVAL / name
    if not path.exists():
        pytest.skip(f"{path} is not beside this checkout")
    return evaluate(Engine(), read_labelled(path))


def test_dev_set_intents() -> None:
    report = _report("dev.jsonl")
    assert report.intents.micro.f1 >= 0.92
    for label, score in report.intents.per_label.items():
        assert score.f1 >= 0.85, label


def test_dev_set_tags() -> None:
    assert _report("dev.jsonl").tags.micro.f1 >= 0.75


def test_real_set_intents_and_false_alarms() -> None:
    report = _report("real.jsonl")
    assert report.intents.micro.f1 >= 0.85
    assert report.false_alarm_rate <= 0.15
