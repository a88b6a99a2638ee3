"""A user catalogue folder (a chip copied from `catalog show` with more MAC trees, a server using it),
used by `replay`, by `sweep` and by a remote replay through the controller; `import-model`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from services.cli import cli
from services.common import convert
from twin.replay import RunSpec
from twin_api.v1 import controller_pb2

TRACE = "synthetic:poisson?rate=4&n=24&input=64..256&output=8..32&seed=3"


def _cli(tmp_path: Path, *args: str, ok: bool = True):
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'runs.db'}", *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def my_hw(tmp_path: Path) -> Path:
    folder = tmp_path / "my-hw"
    (folder / "chips").mkdir(parents=True)
    (folder / "servers").mkdir()
    chip = yaml.safe_load(_cli(tmp_path, "catalog", "show", "chip", "lpu-asic-3280").output)
    chip.update(name="my-lpu", mac_trees=64)
    (folder / "chips" / "my-lpu.yaml").write_text(yaml.safe_dump(chip))
    server = yaml.safe_load(_cli(tmp_path, "catalog", "show", "server", "lpu-8x-4nm").output)
    server.update(name="my-server", chip="my-lpu")
    (folder / "servers" / "my-server.yaml").write_text(yaml.safe_dump(server))
    return folder


def test_catalog_show_prints_the_defining_yaml(tmp_path: Path) -> None:
    shown = _cli(tmp_path, "catalog", "show", "chip", "lpu-asic-3280").output
    package = Path(__file__).resolve().parents[3] / "twin" / "catalog" / "chips" / "lpu-asic-3280.yaml"
    assert shown.strip() == package.read_text().strip()


def test_replay_on_a_user_server(tmp_path: Path, my_hw: Path) -> None:
    out = _cli(tmp_path, "--catalog", str(my_hw), "replay", TRACE, "--server", "my-server", "--json", "--no-progress")
    data = json.loads(out.output)
    assert data["summary"]["twin"]["chip"] == "my-lpu"
    stored = json.loads(_cli(tmp_path, "runs", "show", data["run_id"], "--json").output)
    spec = RunSpec.from_dict(_stored_spec(tmp_path, data["run_id"]))
    assert spec.build().cluster.server.chip.mac_trees == 64  # the definitions travel with the stored run
    assert stored["summary"]["requests"]["done"] == 24


def _stored_spec(tmp_path: Path, run_id: str) -> dict:
    from services.store import open_store
    with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        return store.get_run(run_id).spec


def test_unknown_user_server_without_the_folder(tmp_path: Path) -> None:
    result = _cli(tmp_path, "replay", TRACE, "--server", "my-server", ok=False)
    assert result.exit_code != 0 and "unknown server 'my-server'" in result.output
    assert "Traceback" not in result.output


def test_sweep_over_a_package_and_a_user_server(tmp_path: Path, my_hw: Path) -> None:
    out = _cli(tmp_path, "--catalog", str(my_hw), "sweep", TRACE, "--set", "server=lpu-8x-4nm,my-server",
               "--jobs", "2", "--json")
    summary = json.loads(out.output[out.output.index("{"):])
    points = {p["values"]["server"]: p for p in summary["points"]}
    assert set(points) == {"lpu-8x-4nm", "my-server"} and all(p["status"] == "complete" for p in points.values())
    assert points["my-server"]["total_mm2"] > points["lpu-8x-4nm"]["total_mm2"]  # 64 trees take more area
    runs = _cli(tmp_path, "runs", "list").output
    assert "sweep" in runs


def test_remote_replay_with_inline_definitions(stack, my_hw: Path) -> None:
    from twin.catalog import Catalog
    definitions = Catalog([str(my_hw)]).definitions_for(("servers", "my-server"))
    spec = controller_pb2.ReplayRequest(
        trace=controller_pb2.TraceSource(name="azure-conv-2023"), options=controller_pb2.TraceOptions(limit=10),
        spec=convert.twin_spec(RunSpec(server="my-server", model="opt-1.3b", tp=8, definitions=definitions)))
    run = stack.wait(stack.controller.StartReplay(spec).run_id)
    assert run.status == "complete", run.error
    assert json.loads(run.summary_json)["twin"]["chip"] == "my-lpu"


def test_remote_replay_refuses_bad_inline_definitions(stack) -> None:
    import grpc
    bad = {"chips": {"evil": {"name": "../evil"}}}
    spec = controller_pb2.ReplayRequest(trace=controller_pb2.TraceSource(name="azure-conv-2023"),
                                        spec=convert.twin_spec(RunSpec(server="lpu-8x-4nm", model="opt-1.3b",
                                                                       tp=8, definitions=bad)))
    with pytest.raises(grpc.RpcError) as err:
        stack.controller.StartReplay(spec)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "must be an identifier" in err.value.details()


def test_import_model_from_a_hugging_face_config(tmp_path: Path) -> None:
    config = {"model_type": "mistral", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
              "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
              "max_position_embeddings": 32768, "sliding_window": 4096, "tie_word_embeddings": False}
    (tmp_path / "config.json").write_text(json.dumps(config))
    folder = tmp_path / "hw"
    _cli(tmp_path, "--catalog", str(folder), "catalog", "import-model", str(tmp_path / "config.json"),
         "--name", "my-mistral")
    written = yaml.safe_load((folder / "models" / "my-mistral.yaml").read_text())
    package = yaml.safe_load((Path(__file__).resolve().parents[3] / "twin/catalog/models/mistral-7b.yaml").read_text())
    same = ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "sliding_window", "ffn_matrices")
    assert {k: written[k] for k in same} == {k: package[k] for k in same}
    # the parameter count the dimensions give, against the published 7.24 B (was written as 0.0)
    assert written["published_params_b"] == pytest.approx(package["published_params_b"], rel=0.01)
    out = _cli(tmp_path, "--catalog", str(folder), "replay", TRACE, "--model", "my-mistral", "--json", "--no-progress")
    assert json.loads(out.output)["summary"]["twin"]["model"] == "my-mistral"


def test_validate_names_the_file_and_field(tmp_path: Path, my_hw: Path) -> None:
    assert "a valid chip 'my-lpu'" in _cli(tmp_path, "catalog", "validate", str(my_hw / "chips" / "my-lpu.yaml")).output
    bad = yaml.safe_load((my_hw / "chips" / "my-lpu.yaml").read_text())
    bad["memory"]["stacks"] = -1
    (my_hw / "chips" / "my-lpu.yaml").write_text(yaml.safe_dump(bad))
    result = _cli(tmp_path, "catalog", "validate", str(my_hw / "chips" / "my-lpu.yaml"), ok=False)
    assert result.exit_code != 0 and "my-lpu.yaml" in result.output and "memory.stacks" in result.output


def test_remote_sweep_with_a_hardware_axis_and_goodput(stack, my_hw: Path, tmp_path: Path) -> None:
    """The same sweep through the controller: a user server, a hardware axis, --find-max-rate."""
    out = _cli(tmp_path, "--controller", stack.controller_addr, "--catalog", str(my_hw), "sweep", TRACE,
               "--server", "my-server", "--set", "chip.mac_trees=32,64", "--find-max-rate", "--slo-ttft", "0.5",
               "--json")
    summary = json.loads(out.output[out.output.index("{"):])
    assert summary["objective"] == "goodput_rps"
    points = {p["values"]["chip.mac_trees"]: p for p in summary["points"]}
    assert set(points) == {32, 64} and all(p["status"] == "complete" for p in points.values())
    assert points[64]["goodput_rps"] >= points[32]["goodput_rps"] > 0  # more MAC trees prefill faster
    assert points[64]["total_mm2"] > points[32]["total_mm2"]


def test_catalog_validate_reports_on_its_file_not_a_broken_sibling(tmp_path: Path, my_hw: Path) -> None:
    (my_hw / "chips" / "broken.yaml").write_text("name: broken\nclock_ghz: [\n")
    result = _cli(tmp_path, "catalog", "validate", str(my_hw / "servers" / "my-server.yaml"))
    assert result.output.strip() == f"{my_hw / 'servers' / 'my-server.yaml'}: a valid server 'my-server'"
    broken = _cli(tmp_path, "catalog", "validate", str(my_hw / "chips" / "broken.yaml"), ok=False)
    assert broken.exit_code == 1 and "broken.yaml: not valid YAML at line 3" in broken.output


def test_import_model_refuses_a_config_that_is_not_a_regular_file(tmp_path: Path) -> None:
    result = _cli(tmp_path, "catalog", "import-model", "/dev/zero", "--name", "z", ok=False)
    assert result.exit_code == 1 and "Error: /dev/zero: is not a regular file" in result.output
