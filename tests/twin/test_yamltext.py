"""User YAML is a plain tree no larger than its text: no anchors or aliases, bounded nesting."""

from __future__ import annotations

import pytest

from twin import yamltext
from twin.errors import InvalidSpec


def laughs(levels: int = 9) -> str:
    """The 'billion laughs': each level is nine aliases of the one above (9**9 strings from ~1 KB)."""
    lines = ["name: laughs", 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_a_plain_document_loads() -> None:
    assert yamltext.load("a: 1\nb: [x, {c: 2.5}]\n", "w") == {"a": 1, "b": ["x", {"c": 2.5}]}


@pytest.mark.parametrize("text", [laughs(), "a: &x 1\nb: *x\n", "a: &x 1\n", "base: &b {x: 1}\nc: {<<: *b}\n"])
def test_anchors_and_aliases_are_refused_with_the_line(text: str) -> None:
    with pytest.raises(InvalidSpec, match=r"^w: YAML anchors and aliases \(&, \*\) are not allowed \(line \d+\)"):
        yamltext.load(text, "w")


@pytest.mark.parametrize("text", ["a: " + "[" * 20_000 + "]" * 20_000, "- " * 40 + "1\n",
                                  "a: " + "{b: " * 33 + "1" + "}" * 33])
def test_nesting_deeper_than_the_bound_is_refused(text: str) -> None:
    with pytest.raises(InvalidSpec, match=f"^w: nested deeper than {yamltext.MAX_DEPTH} levels"):
        yamltext.load(text, "w")


def test_nesting_up_to_the_bound_loads() -> None:
    assert yamltext.load("- " * yamltext.MAX_DEPTH + "1\n", "w") is not None


# ---- a number in any notation is a number (issue 26, item 9) ----------------------------------------
def test_exponent_notation_is_a_number_in_catalogue_yaml_and_sweep_values():
    from twin.explore.sweep import _scalar
    from twin.yamltext import load
    assert load("kernel_launch_s: 25e-6\nx: [1E3, -2.5e+3, .5e-3]\n", "chip") == \
        {"kernel_launch_s": 25e-6, "x": [1000.0, -2500.0, 0.0005]}
    assert [_scalar(v) for v in ("25e-6", "0.000025", "64", "hbm3", "1e")] == [25e-6, 25e-6, 64, "hbm3", "1e"]


def test_a_sweep_over_a_gpu_launch_time_in_exponent_notation(tmp_path):
    import json

    from click.testing import CliRunner

    from services.cli import cli
    out = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'runs.db'}", "sweep", "azure-conv-2023",
                                   "--limit", "5", "--server", "dgx-h100", "--model", "opt-1.3b",
                                   "--set", "chip.kernel_launch_s=25e-6,1e-5", "--json"])
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.output)["points"]) == 2


def test_an_unrecognised_trace_names_the_cli_flags(tmp_path):
    from click.testing import CliRunner

    from services.cli import cli
    odd = tmp_path / "odd.csv"
    odd.write_text("when,prompt,completion\n1,10,20\n")
    out = CliRunner().invoke(cli, ["trace", "stats", str(odd)])
    assert out.exit_code == 1 and "--format" in out.output and "--mapping" in out.output
    assert "fmt=" not in out.output
