"""`twin catalog import-model` on config.json files of the families whose KV cache differs in kind: each gives the
catalogue's entry (read as plain YAML), a parameter count from its dimensions, and a model that replays.

The configs carry the values of the public config.json files on the Hugging Face hub (deepseek-ai/DeepSeek-V2-Lite,
deepseek-ai/DeepSeek-V3, Qwen/Qwen3-30B-A3B, google/gemma-2-9b, google/gemma-3-12b-pt), written out here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from services.cli import cli

PACKAGE = Path(__file__).resolve().parents[3] / "twin" / "catalog" / "models"
TRACE = "synthetic:poisson?rate=4&n=24&input=64..256&output=8..32&seed=3"
MLA = {"kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "moe_layer_freq": 1}

CONFIGS = {
    "deepseek-v2-lite": {
        "model_type": "deepseek_v2", "num_hidden_layers": 27, "hidden_size": 2048, "num_attention_heads": 16,
        "num_key_value_heads": 16, "intermediate_size": 10944, "moe_intermediate_size": 1408, "n_routed_experts": 64,
        "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1, "q_lora_rank": None, **MLA,
        "vocab_size": 102400, "max_position_embeddings": 163840, "tie_word_embeddings": False},
    "deepseek-v3": {
        "model_type": "deepseek_v3", "num_hidden_layers": 61, "hidden_size": 7168, "num_attention_heads": 128,
        "num_key_value_heads": 128, "intermediate_size": 18432, "moe_intermediate_size": 2048,
        "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
        "q_lora_rank": 1536, **MLA, "vocab_size": 129280, "max_position_embeddings": 163840,
        "tie_word_embeddings": False, "num_nextn_predict_layers": 1},
    "qwen3-30b-a3b": {
        "model_type": "qwen3_moe", "num_hidden_layers": 48, "hidden_size": 2048, "num_attention_heads": 32,
        "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 6144, "moe_intermediate_size": 768,
        "num_experts": 128, "num_experts_per_tok": 8, "decoder_sparse_step": 1, "mlp_only_layers": [],
        "vocab_size": 151936, "max_position_embeddings": 40960, "use_sliding_window": False,
        "sliding_window": None, "tie_word_embeddings": False},
    "gemma-2-9b": {
        "model_type": "gemma2", "num_hidden_layers": 42, "hidden_size": 3584, "num_attention_heads": 16,
        "num_key_value_heads": 8, "head_dim": 256, "intermediate_size": 14336, "vocab_size": 256000,
        "max_position_embeddings": 8192, "sliding_window": 4096},
    "gemma-3-12b": {  # the multimodal config: the decoder's fields are under text_config
        "model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
        "text_config": {"model_type": "gemma3_text", "num_hidden_layers": 48, "hidden_size": 3840,
                        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256,
                        "intermediate_size": 15360, "vocab_size": 262208, "max_position_embeddings": 131072,
                        "sliding_window": 1024, "sliding_window_pattern": 6},
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152}},
}


def _cli(tmp_path: Path, *args: str, ok: bool = True):
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'runs.db'}", *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _import(tmp_path: Path, name: str, config: dict, ok: bool = True):
    (tmp_path / "config.json").write_text(json.dumps(config))
    return _cli(tmp_path, "--catalog", str(tmp_path / "hw"), "catalog", "import-model", str(tmp_path / "config.json"),
                "--name", name, ok=ok)


@pytest.mark.parametrize("entry", sorted(CONFIGS))
def test_import_gives_the_catalogue_entry(tmp_path: Path, entry: str) -> None:
    _import(tmp_path, "mine", CONFIGS[entry])
    written = yaml.safe_load((tmp_path / "hw" / "models" / "mine.yaml").read_text())
    package = yaml.safe_load((PACKAGE / f"{entry}.yaml").read_text())
    stated = set(package) - {"name", "family", "description", "published_params_b"}
    defaults = {"q_lora_rank": 0}  # the catalogue states it; an import of q_lora_rank null writes 0 as well
    assert {k: written.get(k, defaults.get(k)) for k in stated} == {k: package[k] for k in stated}
    assert set(written) - set(package) == set()  # nothing the catalogue entry does not state
    # the count the dimensions give, within 0.5 % of the model card's published size (norms are not counted)
    assert written["published_params_b"] == pytest.approx(package["published_params_b"], rel=0.005)


def test_gemma_layer_types_give_the_pattern(tmp_path: Path) -> None:
    """Newer configs list each layer's kind instead of sliding_window_pattern."""
    text = dict(CONFIGS["gemma-3-12b"]["text_config"])
    del text["sliding_window_pattern"]
    text["layer_types"] = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(48)]
    _import(tmp_path, "g3", text)
    written = yaml.safe_load((tmp_path / "hw" / "models" / "g3.yaml").read_text())
    assert written["sliding_window_pattern"] == 6 and written["sliding_window"] == 1024
    text["layer_types"][0] = "full_attention"  # not every N-th: refused, not guessed
    result = _import(tmp_path, "g3b", text, ok=False)
    assert result.exit_code == 1 and "layer_types" in result.output and "Traceback" not in result.output


def test_an_unknown_family_is_refused_in_one_line_naming_the_supported(tmp_path: Path) -> None:
    result = _import(tmp_path, "x", {"model_type": "falcon", "num_hidden_layers": 2}, ok=False)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1
    for family in ("'falcon'", "deepseek_v2", "deepseek_v3", "qwen3_moe", "gemma2", "gemma3", "gemma3_text", "llama"):
        assert family in lines[0]


def test_a_deepseek_config_without_its_latent_widths_names_the_key(tmp_path: Path) -> None:
    config = {k: v for k, v in CONFIGS["deepseek-v2-lite"].items() if k != "qk_rope_head_dim"}
    result = _import(tmp_path, "d", config, ok=False)
    assert result.exit_code == 1 and "qk_rope_head_dim" in result.output and "missing" in result.output


@pytest.mark.parametrize("entry", ["deepseek-v2-lite", "qwen3-30b-a3b", "gemma-2-9b"])
def test_an_imported_model_replays(tmp_path: Path, entry: str) -> None:
    _import(tmp_path, "mine", CONFIGS[entry])
    out = _cli(tmp_path, "--catalog", str(tmp_path / "hw"), "replay", TRACE, "--model", "mine", "--server", "h100x1",
               "--json", "--no-progress")
    summary = json.loads(out.output)["summary"]
    assert summary["requests"]["done"] == 24 and summary["twin"]["model"] == "mine"


INT4 = ("--weights", "int4")  # DeepSeek-V3 (671B) fits eight GPUs or eight LPUs only in 4-bit weights
REPLAYS = [(entry, server, INT4 if entry == "deepseek-v3" else ())
           for entry in sorted(CONFIGS)
           for server in ("lpu-8x-4nm", "dgx-h100" if entry == "deepseek-v3" else "h100x1")]


@pytest.mark.parametrize("entry, server, extra", REPLAYS)
def test_each_new_model_replays_on_an_lpu_and_an_h100_server(tmp_path: Path, entry: str, server: str,
                                                             extra: tuple[str, ...]) -> None:
    """The catalogue's entries on the Azure conversation trace; the KV layout each kind reports."""
    out = _cli(tmp_path, "replay", "azure-conv-2023", "--limit", "30", "--model", entry, "--server", server, *extra,
               "--json", "--no-progress")
    summary = json.loads(out.output)["summary"]
    assert summary["status"] == "complete" and summary["requests"]["done"] == 30
    assert summary["throughput"]["output_tokens_per_s"] > 0
    layout = summary["twin"].get("kv_layout")
    if entry.startswith(("deepseek", "gemma")):
        assert layout is not None and layout["kind"] == ("latent" if entry.startswith("deepseek") else "local-global")
    else:
        assert layout is None


def test_a_dense_qwen3_keeps_its_head_width(tmp_path: Path) -> None:
    """Qwen3-8B (Qwen/Qwen3-8B config.json): 36 layers, 32 heads and 8 KV heads of 128, 8.2B in its model card."""
    _import(tmp_path, "q8", {"model_type": "qwen3", "num_hidden_layers": 36, "hidden_size": 4096,
                             "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                             "intermediate_size": 12288, "vocab_size": 151936, "max_position_embeddings": 40960,
                             "tie_word_embeddings": False, "use_sliding_window": False, "sliding_window": None})
    written = yaml.safe_load((tmp_path / "hw" / "models" / "q8.yaml").read_text())
    assert "head_size" not in written  # 4096 / 32 is already 128: nothing to state
    attn, mlp = 2 * 4096 * 4096 + 2 * 4096 * 8 * 128, 3 * 4096 * 12288
    assert written["published_params_b"] == round((36 * (attn + mlp) + 2 * 151936 * 4096) / 1e9, 3) == 8.19
