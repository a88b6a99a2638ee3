"""Serving-architecture options through the CLI, policy files and the gRPC spec."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from services.cli import cli
from services.common import convert
from twin.errors import InvalidSpec
from twin_api.v1 import common_pb2


@pytest.fixture
def run(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"

    def invoke(*args, ok=True):
        result = CliRunner().invoke(cli, ["--db", db, *args])
        assert (result.exit_code == 0) == ok, result.output
        return result
    return invoke


def test_disaggregated_speculative_prefix_cached_replay(run, tmp_path):
    trace = tmp_path / "mooncake.jsonl"
    rows = [{"timestamp": 2000 * i, "input_length": 1100, "output_length": 30, "hash_ids": [1, 2, 3 + i]}
            for i in range(12)]
    trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run("replay", str(trace), "--model", "llama2-7b", "--tp", "4", "--pd", "1:1", "--prefix-cache", "lru",
              "--router", "prefix-affinity", "--speculative", "3", "--acceptance", "0.8", "--draft-skip", "0.5",
              "--json").output
    arch = json.loads(out)["summary"]["architecture"]
    assert arch["deployment"] == "disaggregated" and arch["disaggregation"]["transfers"] == 12
    assert arch["prefix_cache"]["hit_tokens"] == 11 * 1024  # two 512-token blocks shared by all but the first
    assert arch["speculative"]["k"] == 3
    stats = json.loads(run("trace", "stats", str(trace), "--json").output)
    assert stats["prefix_reuse_infinite_cache"]["hit_tokens"] == 11 * 1024


@pytest.mark.parametrize("args, field", [
    (["--pd", "0:1"], "pd"),
    (["--speculative", "4"], "draft_model"),
    (["--speculative", "4", "--draft-skip", "1.5"], "draft_skip"),
    (["--acceptance-dist", "2"], "acceptance_dist"),
    (["--router", "prefix-affinity"], "router"),
    (["--pd", "9:9"], "pd"),
])
def test_bad_options_give_one_line_naming_the_field(run, args, field):
    out = run("replay", "azure-conv-2023", "--limit", "5", *args, ok=False).output
    assert f"Error: {field}:" in out and "Traceback" not in out


def test_a_policy_file_sets_serving_options(run, tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("weights: fp16\nkv: fp16\nserving:\n  speculative: 2\n  acceptance: 1.0\n  draft_skip: 0.25\n")
    out = run("replay", "azure-conv-2023", "--limit", "10", "--model", "llama2-7b", "--policy", str(policy),
              "--json").output
    assert json.loads(out)["summary"]["architecture"]["speculative"]["k"] == 2
    policy.write_text("serving:\n  acceptance: 2\n")
    assert "policy.serving.acceptance" in run("replay", "azure-conv-2023", "--policy", str(policy), ok=False).output


def test_the_grpc_spec_carries_the_options_and_names_a_bad_field():
    spec = common_pb2.TwinSpec(server="lpu-8x-4nm", model="llama2-13b", serving=common_pb2.ServingConfig(
        pd="1:1", speculative=4, acceptance=0.6, acceptance_dist=[6.0, 4.0], draft_model="llama2-7b",
        prefix_cache="lru", prefix_cache_host_gb=64))
    run_spec = convert.run_spec(spec)
    assert run_spec.serving.acceptance_dist == (6.0, 4.0) and run_spec.serving.prefix_cache_host_gb == 64
    assert convert.run_spec(convert.twin_spec(run_spec)) == run_spec
    bad = common_pb2.TwinSpec(server="lpu-8x-4nm", model="llama2-7b",
                              serving=common_pb2.ServingConfig(acceptance=1.5))
    with pytest.raises(InvalidSpec, match="spec.serving.acceptance"):
        convert.run_spec(bad)


def test_a_pipeline_travels_through_the_proto_and_the_cli(tmp_path) -> None:
    """--pp and --micro-batches reach the spec, the gRPC TwinSpec both ways, and the summary's pipeline."""
    import json

    from click.testing import CliRunner

    from services.cli import cli
    from twin.config import ServingConfig
    from twin.replay import RunSpec
    spec = RunSpec("lpu-8x-4nm", "llama2-7b", tp=2, pp=4, serving=ServingConfig(micro_batches=8))
    assert convert.run_spec(convert.twin_spec(spec)) == spec
    out = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'r.db'}", "replay", "azure-conv-2023", "--limit",
                                   "30", "--tp", "2", "--pp", "4", "--micro-batches", "8", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)["summary"]
    assert summary["twin"]["pp"] == 4
    assert summary["hardware"]["pools"]["both"]["pipeline"]["micro_batches"] == 8


def test_expert_parallelism_travels_through_the_proto_the_cli_and_the_store(run) -> None:
    """--ep, --prefill-ep and --expert-placement reach the spec, the gRPC TwinSpec both ways, the summary's pool
    and the stored run (its spec, and the name runs compare gives it)."""
    from twin.config import ServingConfig
    from twin.replay import RunSpec
    spec = RunSpec("dgx-h100", "mixtral-8x7b", tp=8, ep=8,
                   serving=ServingConfig(expert_placement="by-popularity", moe_routing="skewed", pd="1:1",
                                         prefill_server="dgx-h100", prefill_tp=4, prefill_ep=4))
    assert convert.run_spec(convert.twin_spec(spec)) == spec
    out = run("replay", "azure-conv-2023", "--limit", "30", "--server", "dgx-h100", "--model", "mixtral-8x7b",
              "--ep", "8", "--moe-routing", "skewed", "--expert-placement", "by-popularity", "--json").output
    stored = json.loads(out)
    experts = stored["summary"]["hardware"]["pools"]["both"]["experts"]
    assert (experts["ep"], experts["placement"]) == (8, "by-popularity")
    shown = json.loads(run("runs", "show", stored["run_id"], "--json").output)
    assert (shown["spec"]["ep"], shown["spec"]["serving"]["expert_placement"]) == (8, "by-popularity")
    compared = run("runs", "compare", stored["run_id"], stored["run_id"], "--json").output
    assert "mixtral-8x7b on dgx-h100, tp 8, ep 8" in compared
    refused = run("replay", "azure-conv-2023", "--limit", "5", "--server", "dgx-h100", "--model", "mixtral-8x7b",
                  "--tp", "8", "--ep", "4", ok=False).output
    assert "ep is 1 or tp" in refused and "Traceback" not in refused and len(refused.strip().splitlines()) == 1
