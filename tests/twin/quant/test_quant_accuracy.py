"""Published accuracy lookups: the paper's numbers, their change against FP16, or None."""

from __future__ import annotations

import pytest

from twin.quant.accuracy import MODELS, expected_accuracy, missing_reason


def test_oaken_llama2_7b():
    acc = expected_accuracy("oaken", "llama2-7b")
    assert acc["wikitext2_ppl"] == 5.53 and acc["fp16_wikitext2_ppl"] == 5.47
    assert acc["delta_ppl"] == pytest.approx(0.06)
    assert acc["zero_shot"]["piqa"] == {"accuracy_pct": 78.29, "fp16_accuracy_pct": 79.05, "delta_pct": -0.76}
    assert acc["zero_shot"]["winogrande"]["delta_pct"] == pytest.approx(-1.49)
    assert acc["published_effective_bits"] == 4.82


@pytest.mark.parametrize("scheme, model, ppl, delta", [
    ("kivi4", "mixtral-8x7b", 3.84, 0.0),
    ("kvquant4", "llama2-13b", 4.94, 0.06),
    ("qserve4", "opt-30b", 9.62, 0.06),
    ("atom4", "mistral-7b", 5.42, 0.17),
    ("tender", "llama2-70b", 4.25, 0.93),
    ("fp16", "opt-6.7b", 10.86, 0.0),
])
def test_table_rows(scheme, model, ppl, delta):
    acc = expected_accuracy(scheme, model)
    assert acc["wikitext2_ppl"] == ppl and acc["delta_ppl"] == pytest.approx(delta)
    assert acc["zero_shot"] == {} or scheme == "fp16"


@pytest.mark.parametrize("scheme, model, why", [
    ("int8", "llama2-7b", "not in"),
    ("kivi2", "llama2-7b", "4-bit KV only"),
    ("oaken", "llama3-8b", "model 'llama3-8b'"),
    ("tender", "mixtral-8x7b", "NaN"),
])
def test_missing_pairs_say_why(scheme, model, why):
    assert expected_accuracy(scheme, model) is None
    assert why in missing_reason(scheme, model)


def test_every_table_model_has_fp16_and_oaken():
    for model in MODELS:
        assert expected_accuracy("fp16", model)["delta_ppl"] == 0
        assert expected_accuracy("oaken", model)["delta_ppl"] >= 0
