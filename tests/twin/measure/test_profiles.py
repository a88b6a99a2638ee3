"""Operator profiles in Vidur's layout: the reader (values, errors naming file, line and column) and the
twin's price of a profiled operator, worked by hand from the catalogue read as plain YAML."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from twin.catalog import load_server
from twin.errors import TwinError
from twin.measure.operators import price_s
from twin.measure.profiles import is_profile, load_profile

DATA = Path(__file__).parents[2] / "data" / "vidur"
H100 = DATA / "h100-llama-2-7b-mlp.csv"
CATALOG = Path(__file__).parents[3] / "twin" / "catalog"


def _plain_rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_every_operator_median_of_every_row_is_read_in_seconds() -> None:
    profile = load_profile(H100)
    rows = _plain_rows(H100)
    assert profile.layout == "mlp" and len(profile.samples) == 9 * len(rows) == 9 * 52
    row = next(r for r in rows if r["num_tokens"] == "1" and r["num_tensor_parallel_workers"] == "8")
    got = {s.op: s.measured_s for s in profile.samples if s.tokens == 1 and s.tp == 8}
    assert got["mlp_up_proj"] == pytest.approx(float(row["time_stats.mlp_up_proj.median"]) * 1e-3)
    assert got["add"] == pytest.approx(float(row["time_stats.add.median"]) * 1e-3)
    assert "emb" not in got  # the embedding is not a layer's operator
    assert {(s.shape.hidden, s.shape.heads, s.shape.kv_heads, s.shape.ffn, s.shape.gated)
            for s in profile.samples} == {(4096, 32, 32, 11008, True)}


def _calibration() -> dict:
    return yaml.safe_load((CATALOG / "calibration.yaml").read_text())


def test_an_elementwise_kernel_is_one_launch_plus_its_activations_at_the_sustained_bandwidth() -> None:
    cal = _calibration()
    chip_yaml = yaml.safe_load((CATALOG / "chips" / "h100-sxm.yaml").read_text())
    memory = chip_yaml["memory"]
    eff = cal["memory_sustained_efficiency"]["gpu-hbm"]
    bw = memory["stacks"] * memory["bandwidth_per_stack_gbps"] * 1e9 * eff
    norm = next(s for s in load_profile(H100).samples if s.op == "input_layernorm" and s.tokens == 4096)
    by_hand = cal["kernel_launch_s"]["gpu"] + 2 * (2 * 4096 * 4096 + 4096) / bw  # x in, y out, weight
    assert price_s(load_server("h100x1").chip, norm) == pytest.approx(by_hand, rel=1e-12)


def test_a_one_token_linear_layer_streams_its_weights() -> None:
    """FC1 (gate and up) of Llama-2-7B at tp 1 and one token: 4096 x 22016 FP16 weights, the input and
    output rows, at the sustained bandwidth, after the kernel's fill and drain; plus the exposed share of its
    main loop's one real row in 16: 172 output tiles of 16 x 128 in two waves over 132 SMs, each k step one
    16 x 128 MMA (2,048 MACs, one SM cycle) at the MMA efficiency."""
    cal = _calibration()
    tc = cal["tensor_cores"]["h100-sxm"]
    bw = 5 * 670e9 * cal["memory_sustained_efficiency"]["gpu-hbm"]  # h100-sxm.yaml: 5 stacks of 670 GB/s
    fc1 = next(s for s in load_profile(H100).samples if s.op == "mlp_up_proj" and s.tokens == 1 and s.tp == 1)
    main_s = 2 * 4096 / tc["mma_efficiency"] / 1.83e9  # h100-sxm.yaml: tensor cores quoted at 1.83 GHz
    by_hand = tc["kernel_tail_s"] + 2 * (4096 * 22016 + 4096 + 22016) / bw + tc["overlap_exposed"] * main_s / 16
    assert price_s(load_server("h100x1").chip, fc1) == pytest.approx(by_hand, rel=1e-12)


ATTENTION_HEADER = ("time_stats.attn_prefill.median,time_stats.attn_decode.median,n_embd,n_q_head,n_kv_head,"
                    "block_size,num_tensor_parallel_workers,max_model_len,batch_size,prefill_chunk_size,"
                    "kv_cache_size,is_prefill,attention_backend")


def test_attention_profiles_read_prefill_and_decode_rows(tmp_path: Path) -> None:
    path = tmp_path / "attention.csv"
    path.write_text(ATTENTION_HEADER + "\n"
                    "0.5,,4096,32,32,16,2,4096,1,256,0,True,AttentionBackend.FLASHINFER\n"
                    ",0.25,4096,32,32,16,2,4096,8,0,1024,False,AttentionBackend.FLASHINFER\n")
    samples = load_profile(path).samples
    assert [(s.op, s.tokens, s.batch, s.cached, s.measured_s) for s in samples] == [
        ("attn_prefill", 256, 1, 0, 0.5e-3), ("attn_decode", 8, 8, 1024, 0.25e-3)]
    # decode at tp 2: 8 sequences x 1,024 cached tokens x K and V x 16 heads x 128 x 2 bytes, streamed (its
    # 8 x 16 blocks fill one wave of the 132 SMs, 2.26 us, less than the stream), and the kernel's fill and drain
    chip = load_server("h100x1").chip
    stream_s = 8 * 1024 * 2 * 16 * 128 * 2 / chip.memory.sustained_bytes_per_s
    tail_s = _calibration()["tensor_cores"]["h100-sxm"]["attention_tail_s"]
    assert price_s(chip, samples[1]) == pytest.approx(chip.kernel_launch_s + stream_s + tail_s, rel=1e-12)


@pytest.mark.parametrize("edit, where", [
    (lambda rows: rows[3].__setitem__("time_stats.add.median", "-0.1"), "5: column 'time_stats.add.median'"),
    (lambda rows: rows[0].__setitem__("num_tokens", "2.5"), "2: column 'num_tokens'"),
    (lambda rows: rows[7].__setitem__("use_gated_mlp", "maybe"), "9: column 'use_gated_mlp'"),
    (lambda rows: rows[1].__setitem__("time_stats.mlp_act.median", "fast"), "3: column 'time_stats.mlp_act.median'"),
])
def test_a_bad_value_names_file_line_and_column(tmp_path: Path, edit, where) -> None:
    rows = _plain_rows(H100)
    edit(rows)
    path = tmp_path / "mlp.csv"
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)
    with pytest.raises(TwinError, match=f"^mlp.csv:{where}"):
        load_profile(path)


def test_a_short_row_and_a_foreign_header_are_refused(tmp_path: Path) -> None:
    text = H100.read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join([text[0], text[1], ",".join(text[2].split(",")[:-1])]) + "\n")
    with pytest.raises(TwinError, match=r"^short.csv:3: column '<line>': 57 fields, the header has 58"):
        load_profile(short)
    foreign = tmp_path / "trace.csv"
    foreign.write_text("start_time,prompt_len,output_tokens,ttft,tpot,latency\n0,1,1,0.1,,0.1\n")
    assert not is_profile(foreign) and is_profile(H100)
    with pytest.raises(TwinError, match="not a Vidur operator profile"):
        load_profile(foreign)
