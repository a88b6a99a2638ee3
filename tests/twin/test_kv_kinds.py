"""KV caches that differ in kind: DeepSeek's latent (MLA), Qwen3's explicit head width, Gemma's local and global
layers. Every expected figure is worked out here from the public config numbers, not from the code under test."""

from __future__ import annotations

import dataclasses

import pytest

from twin.catalog import load_model, load_server
from twin.config import ClusterSpec, ServingConfig
from twin.memory import kv_layout, plan_memory
from twin.quant import QuantPolicy
from twin.serving.batch import DecodeBatch
from twin.serving.cost import CostModel, StepShape
from twin.serving.request import Request, TraceRequest

FP16 = 2

# DeepSeek-V2-Lite's config.json (deepseek-ai/DeepSeek-V2-Lite on the Hugging Face hub)
V2_LITE = dict(layers=27, hidden=2048, heads=16, kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=128,
               v_head_dim=128, experts=64, shared=2, top_k=6, moe_ffn=1408, dense=1, dense_ffn=10944, vocab=102400)


def _cost(model: str, server: str = "h100x1", tp: int = 1) -> CostModel:
    return CostModel(load_model(model), load_server(server), tp, QuantPolicy())


def test_deepseek_kv_per_token_is_the_latent_and_rope_key_of_each_layer() -> None:
    c = V2_LITE
    by_hand = c["layers"] * (c["kv_lora_rank"] + c["qk_rope_head_dim"]) * FP16  # 27 x 576 x 2 = 31,104 bytes
    assert by_hand == 31_104
    cost = _cost("deepseek-v2-lite")
    assert cost.model.layers * cost.kv_token_layer_bytes == by_hand
    # multi-head attention of the same heads would keep K and V of 16 heads of 128 per layer: 7.1 times more
    mha = c["layers"] * 2 * c["heads"] * c["qk_nope_head_dim"] * FP16
    assert mha / by_hand == pytest.approx(221_184 / 31_104)


def test_deepseek_latent_is_kept_whole_on_every_tensor_parallel_chip() -> None:
    cost = _cost("deepseek-v2-lite", "lpu-8x-4nm", tp=8)
    assert cost.model.layers * cost.kv_token_layer_bytes == 8 * 31_104  # a copy per chip, as vLLM's MLA keeps it
    # and each chip streams all of it: one layer's history read per chip is the whole latent
    base = cost.stage_layer(StepShape(decode_seqs=1, decode_context=0, outputs=1)).mem_bytes
    read = cost.stage_layer(StepShape(decode_seqs=1, decode_context=1000, outputs=1)).mem_bytes - base
    assert read == pytest.approx(1000 * 576 * FP16, rel=1e-12)


def test_deepseek_decode_attention_is_counted_with_the_absorbed_weights() -> None:
    c, cost = V2_LITE, _cost("deepseek-v2-lite")
    base = cost.stage_layer(StepShape(decode_seqs=1, decode_context=0, outputs=1)).macs
    macs = cost.stage_layer(StepShape(decode_seqs=1, decode_context=4096, outputs=1)).macs - base
    # per head and cached token: the score against the latent and the rope key, and the latent summed for output
    assert macs == pytest.approx(4096 * c["heads"] * (2 * c["kv_lora_rank"] + c["qk_rope_head_dim"]), rel=1e-12)


def test_deepseek_v2_lite_parameters_by_hand() -> None:
    c = V2_LITE
    h, heads = c["hidden"], c["heads"]
    attn = (h * heads * (c["qk_nope_head_dim"] + c["qk_rope_head_dim"])  # W_Q (no query compression)
            + h * (c["kv_lora_rank"] + c["qk_rope_head_dim"])  # W_DKV and W_KR
            + c["kv_lora_rank"] * heads * (c["qk_nope_head_dim"] + c["v_head_dim"])  # W_UK and W_UV
            + heads * c["v_head_dim"] * h)  # W_O
    expert = 3 * h * c["moe_ffn"]
    moe_layer = attn + (c["experts"] + c["shared"]) * expert + c["experts"] * h  # and the router
    dense_layer = attn + 3 * h * c["dense_ffn"]
    total = c["dense"] * dense_layer + (c["layers"] - c["dense"]) * moe_layer + 2 * c["vocab"] * h
    assert total == 15_706_357_760
    assert load_model("deepseek-v2-lite").params == total
    assert abs(total / 15.7e9 - 1) < 0.001  # the model card's 15.7B


def test_deepseek_kv_capacity_follows_from_the_latent() -> None:
    cluster = ClusterSpec(load_server("h100x1"))
    model = load_model("deepseek-v2-lite")
    plan = plan_memory(cluster, model, QuantPolicy(), ServingConfig())
    expected = (plan.capacity_bytes - plan.weight_bytes - plan.activation_bytes) / 31_104
    assert plan.kv_blocks * 16 == pytest.approx(expected, abs=16)
    assert plan.weight_bytes == model.params * FP16


def test_qwen3_moe_head_width_is_the_configs_not_hidden_over_heads() -> None:
    m = load_model("qwen3-30b-a3b")
    assert m.head_dim == 128 and m.hidden // m.heads == 64
    assert m.layers * 2 * m.kv_dim * FP16 == 48 * 2 * 4 * 128 * FP16  # 98,304 bytes per token
    assert m.attn_params == 2048 * 4096 + 2 * 2048 * 512 + 4096 * 2048  # Q, K and V, O (queries 32 x 128 wide)
    cost = _cost("qwen3-30b-a3b")
    base = cost.stage_layer(StepShape(decode_seqs=1, decode_context=0, outputs=1)).macs
    macs = cost.stage_layer(StepShape(decode_seqs=1, decode_context=100, outputs=1)).macs - base
    assert macs == pytest.approx(100 * 2 * 32 * 128, rel=1e-12)  # score and context over 32 heads of 128


def _decoding(batch: DecodeBatch, context: int) -> Request:
    r = Request(TraceRequest(1, 0.0, context, 10_000))
    batch.join(r)
    return r


@pytest.mark.parametrize("name, window, global_layers, context", [("gemma-3-12b", 1024, 8, 32_000),
                                                                   ("gemma-2-9b", 4096, 21, 8_000)])
def test_gemma_local_layers_attend_only_the_window_at_long_context(name: str, window: int, global_layers: int,
                                                                    context: int) -> None:
    gemma = load_model(name)
    full = dataclasses.replace(gemma, sliding_window=None, sliding_window_pattern=None)  # equal dimensions
    layers = gemma.layers
    assert gemma.global_layers == global_layers
    by_hand = (global_layers * context + (layers - global_layers) * window) / layers  # mean attended per layer
    batch = DecodeBatch(gemma.sliding_window, gemma.global_share)
    _decoding(batch, context)
    assert batch.context_sum() == pytest.approx(by_hand, rel=1e-12)
    batch.advance(100)  # a token a step: only the global layers' share of the attended context grows
    assert batch.context_sum() == pytest.approx(by_hand + 100 * global_layers / layers, rel=1e-12)
    # the KV the model needs for the sequence, by hand, against the full-attention model of equal dimensions
    per_layer_token = 2 * gemma.kv_heads * gemma.head_dim
    assert gemma.kv_elems(context) == per_layer_token * (global_layers * context + (layers - global_layers) * window)
    assert full.kv_elems(context) == per_layer_token * layers * context
    # and the bytes a decode step streams, through the cost model and the batch
    cost, cost_full = _cost(name), CostModel(full, load_server("h100x1"), 1, QuantPolicy())
    read = cost.attention_s(StepShape(1, batch.context_sum(), outputs=1)) * cost.bw
    read_full = cost_full.attention_s(StepShape(1, context + 100, outputs=1)) * cost_full.bw
    assert read_full / read == pytest.approx(layers * (context + 100) / (
        global_layers * (context + 100) + (layers - global_layers) * window), rel=1e-12)


def test_gemma_below_the_window_attends_like_full_attention() -> None:
    gemma = load_model("gemma-3-12b")
    batch = DecodeBatch(gemma.sliding_window, gemma.global_share)
    _decoding(batch, 500)
    batch.advance(10)
    assert batch.context_sum() == pytest.approx(510, rel=1e-12)


def test_the_summary_layout_of_each_kind() -> None:
    latent = kv_layout(load_model("deepseek-v2-lite"), _cost("deepseek-v2-lite"))
    assert latent is not None and latent["kind"] == "latent" and latent["kv_bytes_per_token"] == 31_104
    local = kv_layout(load_model("gemma-3-12b"), _cost("gemma-3-12b"))
    assert local is not None and local["local_layers"] == 40 and local["window"] == 1024
    assert local["kv_bytes_per_token"] == 48 * 2 * 8 * 256 * FP16
    assert local["kv_bytes_per_token_past_window"] == 8 * 2 * 8 * 256 * FP16
    assert kv_layout(load_model("llama3-8b"), _cost("llama3-8b")) is None  # plain K and V: nothing to add


def test_deepseek_prefill_attends_as_multi_head_attention_over_up_projected_keys() -> None:
    c, cost = V2_LITE, _cost("deepseek-v2-lite")
    base = cost.stage_layer(StepShape(prefill_tokens=512, prefill_pairs=0, outputs=1)).macs
    pairs = 512 * 513 / 2  # a 512-token prompt, causal
    macs = cost.stage_layer(StepShape(prefill_tokens=512, prefill_pairs=pairs, outputs=1)).macs - base
    # per head and pair: a key of nope + rope elements, a value of v_head_dim
    assert macs == pytest.approx(pairs * c["heads"] * (128 + 64 + 128), rel=1e-12)
    # a later chunk up-projects the earlier chunks' latents into keys and values again
    past = cost.stage_layer(StepShape(prefill_tokens=512, prefill_pairs=0, prefill_past=1024, outputs=1)).macs - base
    assert past == pytest.approx(1024 * c["kv_lora_rank"] * c["heads"] * (128 + 128), rel=1e-12)


def test_a_kv_codec_is_refused_for_a_latent_in_one_line() -> None:
    from twin.errors import InvalidSpec
    with pytest.raises(InvalidSpec, match="^kv_quant: deepseek-v2-lite's KV is one latent .* other than .*oaken"):
        CostModel(load_model("deepseek-v2-lite"), load_server("oaken-lpddr"), 1, QuantPolicy.named("fp16", "oaken"))


@pytest.mark.parametrize("fields, rule", [
    ({"sliding_window_pattern": 2}, "^sliding_window_pattern: needs sliding_window"),
    ({"sliding_window": 64, "sliding_window_pattern": 3}, "^sliding_window_pattern: .* at most the 2 layers"),
    ({"kv_lora_rank": 16}, "^kv_lora_rank: latent attention needs"),
    ({"dense_layers": 1, "dense_ffn": 8}, "^experts: shared_experts and dense_layers describe a mixture"),
    ({"head_size": 0}, "^head_size: must be a positive number"),
])
def test_inconsistent_kind_fields_are_refused_with_the_rule(fields: dict, rule: str) -> None:
    from twin.config import ModelSpec
    from twin.errors import InvalidSpec
    with pytest.raises(InvalidSpec, match=rule):
        ModelSpec("m", "x", layers=2, hidden=64, heads=4, kv_heads=4, ffn=128, vocab=100, max_context=256, **fields)


def test_the_capacity_model_prices_decode_steps_at_the_attended_context() -> None:
    from twin.capacity import Mix, sustainable
    gemma = load_model("gemma-3-12b")
    assert gemma.attended_context(600) == 600  # inside the window every layer attends it all
    assert gemma.attended_context(30_000) == pytest.approx((8 * 30_000 + 40 * 1024) / 48, rel=1e-12)
    cost = _cost("gemma-3-12b")
    cap = sustainable(cost, 1, 16, 10**7, Mix(requests=100, span_s=10.0, input_tokens=30_000, output_tokens=200))
    attended = (8 * 30_100 + 40 * 1024) / 48  # at the mean context, prompt plus half the output
    assert cap.decode_step_s == cost.step_time(StepShape(16, round(16 * attended), outputs=16))
