"""`runs compare` by design (issue 26, item 5): columns labelled from the spec, the figures a comparison
of designs is for, counts as integers; `runs list` keeps a status whole at 80 columns."""

from __future__ import annotations

import json

from click.testing import CliRunner

from services.cli import cli


def test_runs_compare_labels_runs_by_design_and_shows_energy_area_and_counts(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"

    def run(*args):
        out = CliRunner().invoke(cli, ["--db", db, *args], terminal_width=200)
        assert out.exit_code == 0, out.output
        return out.output
    ids = [json.loads(run("replay", "azure-conv-2023", "--limit", "30", "--model", "opt-1.3b", "--tp", str(tp),
                          "--json"))["run_id"] for tp in (2, 4)]
    table = run("runs", "compare", *ids)
    assert "opt-1.3b on" in table and ids[0][:12] not in table  # by design, not by hash
    assert "e+0" not in table  # counts and large figures without exponents
    data = json.loads(run("runs", "compare", *ids, "--json"))
    rows = {row["metric"]: row["values"] for row in data["rows"]}
    for figure in ("energy.j_per_output_token", "energy.output_tok_s_per_kw", "area.total_mm2"):
        assert all(v > 0 for v in rows[figure])
    assert "rate_search.goodput_rps" in rows  # NaN here: a replay runs no rate search
    assert data["labels"] == ["opt-1.3b on lpu-8x-4nm, tp 2", "opt-1.3b on lpu-8x-4nm, tp 4"]


def test_counts_print_as_integers_with_thousands_separators():
    from services.render import compare_cell
    assert compare_cell("requests.done", 17750.0) == "17,750"
    assert compare_cell("makespan_s", 17750.25) == "17,750.2"
    assert compare_cell("ttft_s.p50", 0.123456) == "0.1235"


def test_runs_list_keeps_the_status_whole_at_80_columns():
    from rich.console import Console

    from services.render import runs_table
    console = Console(width=80, record=True)
    console.print(runs_table([{"run_id": "f" * 32, "created_at": "2026-01-01T00:00:00", "status": "interrupted",
                               "kind": "replay", "trace": "azure-conv-2023", "requests_recorded": 19366}]))
    assert "interrupted" in console.export_text()


def test_a_given_label_names_the_run_locally_and_through_the_proto(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from services.cli import cli
    from services.common import convert
    from twin.errors import InvalidSpec
    from twin.replay import RunSpec
    spec = RunSpec("lpu-8x-4nm", "llama2-7b", tp=4, pp=2, label="two-stage LPU")
    assert convert.run_spec(convert.twin_spec(spec)) == spec
    db = f"sqlite:///{tmp_path / 'r.db'}"
    runner = CliRunner()
    ids = [json.loads(runner.invoke(cli, ["--db", db, "replay", "azure-conv-2023", "--limit", "20", *extra,
                                          "--json"]).output)["run_id"]
           for extra in (["--label", "two-stage LPU", "--tp", "4", "--pp", "2"], ["--tp", "8"])]
    out = runner.invoke(cli, ["--db", db, "runs", "compare", *ids, "--json"]).output
    assert "two-stage LPU" in out and "llama2-7b on lpu-8x-4nm, tp 8" in out
    try:
        RunSpec("lpu-8x-4nm", "llama2-7b", label="x\x00y")
        raise AssertionError("a control character was accepted")
    except InvalidSpec as exc:
        assert exc.field == "label"
