"""Every model YAML in twin/catalog/models loads into a ModelSpec whose dimensions add up to its published size."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from twin.config import ModelSpec

MODELS_DIR = Path(__file__).resolve().parents[3] / "twin" / "catalog" / "models"
FILES = sorted(MODELS_DIR.glob("*.yaml"))
FIELDS = {f.name for f in dataclasses.fields(ModelSpec)}


def _load(path: Path) -> ModelSpec:
    return ModelSpec(**yaml.safe_load(path.read_text()))


def test_catalog_is_not_empty() -> None:
    assert len(FILES) >= 12, f"expected the model catalog in {MODELS_DIR}"


# Fields a model states only when its layers or attention differ in kind (head width, local/global layers,
# DeepSeek's shared experts, dense layers and latent attention); every other field is stated by every entry
KIND_FIELDS = {"head_size", "sliding_window_pattern", "shared_experts", "dense_layers", "dense_ffn", "kv_lora_rank",
               "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_keys_are_the_modelspec_fields(path: Path) -> None:
    keys = set(yaml.safe_load(path.read_text()))
    assert FIELDS - KIND_FIELDS <= keys <= FIELDS


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_file_name_is_the_model_name(path: Path) -> None:
    assert _load(path).name == path.stem


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_params_within_3_percent_of_published(path: Path) -> None:
    spec = _load(path)
    published = spec.published_params_b * 1e9
    assert published > 0
    assert abs(spec.params - published) / published < 0.03, (  # 3 %: OPT's published sizes are rounded
        f"{spec.name}: dimensions give {spec.params / 1e9:.3f}B, published {spec.published_params_b}B")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_grouped_query_attention(path: Path) -> None:
    spec = _load(path)
    gqa = {"llama2-70b", "llama3-8b", "llama3-70b", "mistral-7b", "mixtral-8x7b", "qwen3-30b-a3b", "gemma-2-9b",
           "gemma-3-12b"}
    if spec.name in gqa:
        assert spec.kv_heads < spec.heads
    else:
        assert spec.kv_heads == spec.heads


# The new families' published totals, from their model cards and papers (the YAML comments cite them): the
# dimensions give each within 0.2 % (layer norms, which the twin does not count, make most of the difference)
PUBLISHED = {"deepseek-v2-lite": 15.7e9,  # model card: 15.7B total, 2.4B activated
             "deepseek-v3": 671e9,  # arXiv:2412.19437: 671B total, 37B activated (without the 14B MTP module)
             "qwen3-30b-a3b": 30.5e9,  # model card: 30.5B total, 3.3B activated
             "gemma-2-9b": 917_504_000 + 8_324_201_984,  # arXiv:2408.00118 Table 2: embedding + non-embedding
             "gemma-3-12b": 1_012e6 + 10_759e6}  # arXiv:2503.19786 Table 1: embedding + non-embedding


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_new_families_match_their_published_size_within_0_2_percent(name: str) -> None:
    spec = _load(MODELS_DIR / f"{name}.yaml")
    assert abs(spec.params / PUBLISHED[name] - 1) < 0.002
    assert abs(spec.published_params_b * 1e9 / PUBLISHED[name] - 1) < 0.001  # the YAML states the same figure
