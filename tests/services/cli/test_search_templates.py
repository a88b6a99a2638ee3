"""`twin search` on an ADOR template: the server's `template:` is the space (--space replaces or adds a field),
area and power budgets hold, and the recommended design is reported with the budget it uses most of; its
results feed `twin report` (trials, front) and `twin runs compare` (the best trials' runs)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from services.cli import cli

TEMPLATE = "ador-mactree-8x"
BASE = ["azure-conv-2023", "--limit", "60", "--model", "llama2-7b", "--server", TEMPLATE]


def twin(url: str, *args: str):
    result = CliRunner().invoke(cli, ["--db", url, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """Six trials over the template's own space, max_batch added, under an area and a chip-power budget."""
    url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'runs.db'}"
    result = twin(url, "search", *BASE, "--space", "max_batch=16,64", "--space", "chip.lanes=32,64",
                  "--space", "chip.memory.stacks=2,3,4",
                  "--objective", "output_tokens_per_s:max", "--constraint", "total_mm2<=500",
                  "--constraint", "chip_power_w<=70", "--trials", "6", "--sampler-seed", "4", "--json")
    assert result.exit_code == 0, result.output
    return url, json.loads(result.stdout)


def _template_fields() -> dict:
    from importlib import resources
    text = (resources.files("twin") / "catalog" / "servers" / f"{TEMPLATE}.yaml").read_text()
    return yaml.safe_load(text)["template"]


def test_the_templates_fields_are_searched_with_the_given_ones(searched) -> None:
    _, summary = searched
    fields = _template_fields()
    for row in summary["trials"]:
        assert list(row["values"]) == [*fields, "max_batch"]  # the template's order, then the added field
        assert row["values"]["chip.lanes"] in (32, 64)  # --space replaced the template's 32,64,128
        assert row["values"]["chip.memory.stacks"] in (2, 3, 4)
        lo, hi = (int(v) for v in str(fields["chip.mac_trees"]).split(".."))
        assert lo <= row["values"]["chip.mac_trees"] <= hi


def test_budgets_make_trials_infeasible_and_the_recommendation_names_the_tightest(searched) -> None:
    _, summary = searched
    for row in summary["trials"]:
        f = row["figures"]
        within = f["total_mm2"] <= 500 and f["chip_power_w"] <= 70
        assert row["feasible"] == (within and row["state"] == "complete" and row["run_id"] is not None)
    rec = summary["recommended"]
    feasible = [r for r in summary["trials"] if r["feasible"]]
    assert rec["trial"] == max(feasible, key=lambda r: r["objectives"]["output_tokens_per_s"])["trial"]
    chosen = next(r for r in feasible if r["trial"] == rec["trial"])
    shares = {"total_mm2": chosen["figures"]["total_mm2"] / 500, "chip_power_w": chosen["figures"]["chip_power_w"] / 70}
    tightest = max(shares, key=shares.get)
    assert rec["budget"]["figure"] == tightest and rec["budget"]["used"] == pytest.approx(shares[tightest])
    assert rec["bound_by"] == chosen["bound_by"] and rec["bound_by"].startswith(("compute", "memory"))


def test_the_table_ends_with_the_recommendation_and_its_limit(searched) -> None:
    url, summary = searched
    study = summary["study"]
    result = twin(url, "search", *BASE, "--study", study, "--resume", "--trials", "6")  # full: prints it again
    assert result.exit_code == 0, result.output
    rec = summary["recommended"]
    assert f"recommended: trial {rec['trial']} (" in result.output
    words = {"total_mm2": "area", "chip_power_w": "chip power"}[rec["budget"]["figure"]]
    budget = rf"{words} budget \({rec['budget']['figure']} [\d.,]+ of [\d.,]+: {100 * rec['budget']['used']:.1f} % used\)"
    busy = f"its run's busy time went mostly to {re.escape(rec['bound_by'])}"
    if rec["budget"]["used"] >= 0.95:  # held by the budget: it comes first
        assert re.search(rf"limited by: the {budget}; {busy}", result.output)
    else:
        assert re.search(rf"limited by: {busy}; tightest budget: {budget}", result.output)


def test_the_report_of_a_search_plots_its_trials_and_front(searched, tmp_path) -> None:
    url, summary = searched
    out = tmp_path / "search.html"
    result = twin(url, "report", summary["search_run"][:10], "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.count("plotly-graph-div") == 3  # trials in order, objective space with the front, designs
    assert "Pareto front" in text and "best feasible so far" in text and "parcoords" in text
    assert f"Recommended</b>: trial {summary['recommended']['trial']}" in text
    assert all(r["run_id"][:12] in text for r in summary["trials"])


def test_runs_compare_takes_a_search_for_its_best_trials(searched) -> None:
    url, summary = searched
    result = twin(url, "runs", "compare", summary["search_run"], "--best", "2", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    best = [r for r in summary["trials"] if r["feasible"]][:2]  # the summary lists them best first
    assert out["run_ids"] == [r["run_id"] for r in best]
    goodput = {r["metric"]: r["values"] for r in out["rows"]}["throughput.output_tokens_per_s"]
    assert goodput == pytest.approx([r["objectives"]["output_tokens_per_s"] for r in best])
    differing = [k for k in best[0]["values"] if best[0]["values"][k] != best[1]["values"][k]]
    for label, row in zip(out["labels"], best):  # named by the fields the two differ in
        assert all(f"{k}={row['values'][k]:.4g}" in label if isinstance(row["values"][k], float)
                   else f"{k}={row['values'][k]}" in label for k in differing)


def test_a_template_server_needs_no_space_but_a_plain_one_does(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    plain = twin(url, "search", "azure-conv-2023", "--limit", "20", "--model", "llama2-7b", "--server",
                 "lpu-8x-4nm", "--objective", "output_tokens_per_s:max", "--trials", "1")
    assert plain.exit_code != 0 and "a search needs at least one --space" in plain.output
    assert "ador-mactree-8x" in plain.output and "Traceback" not in plain.output
    assert len(plain.output.strip().splitlines()) == 1


def test_a_user_templates_empty_range_is_one_line(tmp_path) -> None:
    from importlib import resources
    raw = yaml.safe_load((resources.files("twin") / "catalog" / "servers" / f"{TEMPLATE}.yaml").read_text())
    raw.update(name="my-template", template={"chip.mac_trees": "128..8"})
    (tmp_path / "hw" / "servers").mkdir(parents=True)
    (tmp_path / "hw" / "servers" / "my-template.yaml").write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'runs.db'}", "--catalog", str(tmp_path / "hw"),
                                      "search", "azure-conv-2023", "--limit", "20", "--model", "llama2-7b",
                                      "--server", "my-template", "--objective", "output_tokens_per_s:max",
                                      "--trials", "1"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "template" in line and "chip.mac_trees=128..8 is an empty range" in line
