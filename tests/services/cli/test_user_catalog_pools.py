"""A prefill server and a draft model from a user catalogue folder (--catalog), locally, through the
controller and in a sweep: the run resolves every name it uses against its catalogue and carries the
entries with it (they once worked only with TWIN_CATALOG_PATH: the core looked them up process-wide)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from twin.replay import RunSpec

from test_user_catalog import TRACE, _cli  # this folder is on sys.path (no __init__): the same CLI helper

CATALOG = Path(__file__).resolve().parents[3] / "twin" / "catalog"


@pytest.fixture
def my_hw(tmp_path: Path) -> Path:
    """my-h100-box: a DGX H100 under another name; my-draft: Llama-2-7B's architecture under another name."""
    folder = tmp_path / "my-hw"
    (folder / "servers").mkdir(parents=True)
    (folder / "models").mkdir()
    server = yaml.safe_load((CATALOG / "servers" / "dgx-h100.yaml").read_text())
    server["name"] = "my-h100-box"
    (folder / "servers" / "my-h100-box.yaml").write_text(yaml.safe_dump(server))
    model = yaml.safe_load((CATALOG / "models" / "llama2-7b.yaml").read_text())
    model["name"] = "my-draft"
    (folder / "models" / "my-draft.yaml").write_text(yaml.safe_dump(model))
    return folder


PD = ["--server", "lpu-8x-4nm", "--servers", "2", "--tp", "8", "--pd", "1:1", "--prefill-server", "my-h100-box",
      "--model", "llama2-7b"]
SPEC = ["--server", "lpu-8x-4nm", "--tp", "8", "--model", "llama2-13b", "--speculative", "3",
        "--draft-model", "my-draft"]


def _summary(out: str) -> dict:
    return json.loads(out[out.index("{"):])


def test_a_user_prefill_server_and_draft_model_replay_locally(tmp_path: Path, my_hw: Path) -> None:
    pd = _summary(_cli(tmp_path, "--catalog", str(my_hw), "replay", TRACE, *PD, "--json", "--no-progress").output)
    assert pd["summary"]["hardware"]["pools"]["prefill"]["server"] == "my-h100-box"
    spec = _summary(_cli(tmp_path, "--catalog", str(my_hw), "replay", TRACE, *SPEC, "--json",
                         "--no-progress").output)
    assert spec["summary"]["requests"]["done"] == 24
    from services.store import open_store
    with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        stored = RunSpec.from_dict(store.get_run(pd["run_id"]).spec)
    assert "my-h100-box" in stored.definitions["servers"]  # the stored run rebuilds the same hardware
    assert stored.build().pools[0].cluster.server.name == "my-h100-box"


def test_without_the_folder_the_names_are_unknown(tmp_path: Path) -> None:
    result = _cli(tmp_path, "replay", TRACE, *PD, "--no-progress", ok=False)
    assert result.exit_code != 0 and "my-h100-box" in result.output and "Traceback" not in result.output


def test_a_user_prefill_server_and_draft_model_replay_through_the_controller(stack, tmp_path: Path,
                                                                             my_hw: Path) -> None:
    remote = ["--controller", stack.controller_addr, "--catalog", str(my_hw)]
    pd = _summary(_cli(tmp_path, *remote, "replay", TRACE, *PD, "--watch", "--json").output)
    assert pd["summary"]["hardware"]["pools"]["prefill"]["server"] == "my-h100-box"
    spec = _summary(_cli(tmp_path, *remote, "replay", TRACE, *SPEC, "--watch", "--json").output)
    assert spec["status"] == "complete"


def test_a_sweep_over_a_user_prefill_server_and_a_draft_model(tmp_path: Path, my_hw: Path) -> None:
    out = _cli(tmp_path, "--catalog", str(my_hw), "sweep", TRACE, *PD[:-2], "--model", "llama2-7b",
               "--set", "prefill_server=my-h100-box,dgx-h100", "--jobs", "2", "--json").output
    points = {p["values"]["prefill_server"]: p for p in _summary(out)["points"]}
    assert set(points) == {"my-h100-box", "dgx-h100"} and all(p["status"] == "complete" for p in points.values())
    # the same hardware under two names: the same figures
    assert points["my-h100-box"]["output_tokens_per_s"] == points["dgx-h100"]["output_tokens_per_s"]
    out = _cli(tmp_path, "--catalog", str(my_hw), "sweep", TRACE, "--server", "lpu-8x-4nm", "--tp", "8",
               "--model", "llama2-13b", "--speculative", "3", "--draft-model", "llama2-7b",
               "--set", "draft_model=my-draft,llama2-7b",
               "--json").output
    points = {p["values"]["draft_model"]: p for p in _summary(out)["points"]}
    assert all(p["status"] == "complete" for p in points.values())
    assert points["my-draft"]["output_tokens_per_s"] == points["llama2-7b"]["output_tokens_per_s"]
