"""The bundled invoice pack (a need outside the taxonomy): replies that follow where the
invoice is, from asking for one to changing one already issued."""

from __future__ import annotations

import pytest

from suggest import Engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize("text", ["开好的发票能不能改为企业抬头", "发票信息我改过了 可是没改成", "上次那张发票麻烦换开一下"])
def test_changing_an_issued_invoice_gets_the_change_reply_not_how_to_ask(engine: Engine, text: str) -> None:
    analysis = engine.analyze(text, top=5)
    assert "invoice.change_issued" in analysis.situations
    assert analysis.replies[0].id == "invoice.change_issued"
    assert "invoice.how_to_request" not in {r.id for r in analysis.replies}


def test_a_first_request_still_gets_how_to_ask(engine: Engine) -> None:
    assert engine.analyze("请问可以开发票吗").replies[0].id == "invoice.how_to_request"


@pytest.mark.parametrize("text", ["这一单不需要开票", "发票就不用了 谢谢"])
def test_no_invoice_wanted_is_noted_not_answered_with_how_to_ask(engine: Engine, text: str) -> None:
    analysis = engine.analyze(text, top=5)
    assert analysis.replies[0].id == "invoice.not_needed"
    assert "invoice.how_to_request" not in {r.id for r in analysis.replies}


def test_when_the_invoice_comes_gets_the_timing(engine: Engine) -> None:
    assert engine.analyze("啥时候能有发票").replies[0].id == "invoice.when_ready"
