"""Every published figure in the reference against the twin: calibration targets and checks.

Run on demand: `python bench/bench_fidelity.py [--save FILE.json] [--baseline FILE.json]`.
Prints one row per figure (published, twin, signed error) and the worst and median
absolute error over the rows the twin predicts. With `--baseline`, a second run's values
(for example the same script run on an older commit with `--save`) are shown beside
these as "before". It asserts nothing; tests/twin/test_calibration.py and friends do.

Figures (reference = LPU arXiv:2408.07326 and Oaken arXiv:2503.18599, as collected in
the project's reference notes):
  LPU Fig. 7(a)        ms/token and bandwidth utilisation, OPT-1.3B..30B on one LPU ASIC
  Oaken Fig. 11        LPU-baseline tokens/s, Llama2-7B/13B at batch 16..256 (LPDDR)
  Oaken Fig. 12(b)     seconds for a 1K:1K batch, LPU baseline and Oaken, batch 16/32/64
  Oaken §7 text        quantization 1.29 %, dequantization 3.23 %, attention 55 % shorter
  LPU Fig. 7 (Orion)   GPT-3 20B strong scaling 1.80 / 3.14 / 5.43x on 2 / 4 / 8 FPGA cards
  Oaken Table 2        effective KV bits 4.82 / 4.82 / 4.89 (Llama2-7B/13B/70B)
  LPU paper            OPT-66B does not fit one 96 GB LPU; runs on Orion-cloud (8 cards)
  LPU Fig. 7(a), 2     one-H100 ms/token and board power (only if the catalogue has an H100 server)
Not rows: catalogue inputs (chip configurations, the 22/43/86 W system powers of LPU Fig. 6a, datasheets)
and the accuracy tables (looked up, not predicted).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from twin.catalog import load_model, load_server, names
from twin.config import ClusterSpec, ModelSpec, ServingConfig
from twin.errors import CapacityExceeded
from twin.quant import QuantPolicy
from twin.quant.schemes import kv_scheme
from twin.serving.cost import CostModel, StepShape
from twin.serving.request import TraceRequest
from twin.sim import Simulation

FIG7A = {"opt-1.3b": (1.25, 63.3, 2.7), "opt-6.7b": (4.62, 88.4, 7.6), "opt-13b": (8.9, 89.2, 12.8),
         "opt-30b": (20.3, 90.2, 25.6)}  # ms/token, LPU utilisation %, H100 ms/token
H100_W = {"opt-1.3b": 226, "opt-6.7b": 381, "opt-13b": 431, "opt-30b": 502}  # LPU paper Figs. 2 and 7
FIG11 = {"llama2-7b": (671, 909, 1103, 1232, 1232), "llama2-13b": (380, 532, 660, 756, 756)}
FIG12B = {"fp16": (24.9, 36.0, 61.0), "oaken": (18.4, 21.0, 31.0)}  # seconds at batch 16, 32, 64
SCALING = {2: 1.80, 4: 3.14, 8: 5.43}
OAKEN_BITS = {"llama2-7b": 4.82, "llama2-13b": 4.82, "llama2-70b": 4.89}
GPT3_20B = dict(name="gpt3-20b", family="gpt3", layers=44, hidden=6144, heads=48, kv_heads=48, ffn=24576,
                vocab=50257, max_context=2048, learned_positions=True)


def board_power_w(server: str, model: str) -> float | None:
    """A chip's power over a 32:2016 decode: static draw plus MAC and memory energy (no host)."""
    m = load_model(model)
    sim = Simulation(ClusterSpec(load_server(server), tp=1, replicas=1), m)
    sim.submit(TraceRequest(0, 0.0, 32, 2016))
    sim.run()
    e, st = sim.cluster.server.chip.energy, sim.replicas[0].stats
    if e is None:
        return None
    return e.static_w + (st.macs * e.pj_per_mac + st.mem_bytes * e.pj_per_mem_byte) * 1e-12 / sim.now_s


def one_chip_tpot(server: str, model: str) -> tuple[float, float]:
    """(TPOT in s, weight bytes streamed per token) of one 32:2016 request on one chip."""
    m = load_model(model)
    sim = Simulation(ClusterSpec(load_server(server), tp=1, replicas=1), m)
    sim.submit(TraceRequest(0, 0.0, 32, 2016))
    sim.run()
    (rec,) = sim.recorder.requests
    return rec.tpot_s, sim.replicas[0].cost.policy.weights.bytes_for(m.layers * m.layer_params + m.head_params)


def batch_run(model: str, kv: str, batch: int) -> Simulation:
    sim = Simulation(ClusterSpec(load_server("oaken-lpddr")), load_model(model), QuantPolicy.named(kv=kv),
                     ServingConfig(max_batch=batch))
    for i in range(batch):
        sim.submit(TraceRequest(i, 0.0, 1024, 1024))
    sim.run()
    return sim


def decode_throughput(sim: Simulation) -> float:
    st = sim.replicas[0].stats
    return st.decode_tokens / st.decode_busy_s


def codec_percentages() -> tuple[float, float, float]:
    """(quant %, dequant % of latency, attention % shorter than FP16), Llama2-7B batch 64, 1K:1K."""
    cms = {kv: CostModel(load_model("llama2-7b"), load_server("oaken-lpddr"), 1, QuantPolicy.named(kv=kv))
           for kv in ("oaken", "fp16")}
    cm, layers = cms["oaken"], cms["oaken"].model.layers
    quant = dequant = total = attn_o = attn_f = 0.0
    for c in range(1024, 2048):
        s = StepShape(decode_seqs=64, decode_context=64 * c, outputs=64)
        q, d = codec_parts(cm, s)
        quant, dequant, total = quant + layers * q, dequant + layers * d, total + cm.step_time(s)
        attn_o += cm.attention_s(s)
        attn_f += cms["fp16"].attention_s(s)
    return 100 * quant / total, 100 * dequant / total, 100 * (1 - attn_o / attn_f)


def codec_parts(cm: CostModel, s: StepShape) -> tuple[float, float]:
    if hasattr(cm, "codec_parts"):
        return cm.codec_parts(s)
    q = s.tokens * 2 * cm.model.kv_dim / cm.tp / (cm.codec.quant_elems_per_cycle * cm.server.chip.clock_ghz * 1e9)
    return q, cm.layer(s).codec_s - q


def gpt3_20b() -> ModelSpec:
    return load_model("gpt3-20b") if "gpt3-20b" in names("models") else ModelSpec(**GPT3_20B)


def strong_scaling() -> dict[int, float]:
    """1-chip step time / n-chip step time, GPT-3 20B batch 1 at 1K context on Orion-cloud (cost model)."""
    server, model, s = load_server("orion-cloud"), gpt3_20b(), StepShape(1, 1024, outputs=1)
    t = {n: CostModel(model, server, n, QuantPolicy()).step_time(s) for n in (1, *SCALING)}
    return {n: t[1] / t[n] for n in SCALING}


def fits(server: str, model: str, tp: int) -> bool:
    try:
        Simulation(ClusterSpec(load_server(server), tp=tp, replicas=1), load_model(model))
        return True
    except CapacityExceeded:
        return False


def rows() -> list[tuple[str, float, float | None]]:
    """(figure, published, twin) for every figure; twin None where the twin has no model for it."""
    out = []
    gpu = "h100x1" if "h100x1" in names("servers") else None
    for m, (ms, util, h100) in FIG7A.items():
        tpot, wbytes = one_chip_tpot("lpu-8x-4nm", m)
        peak = load_server("lpu-8x-4nm").chip.memory.peak_bytes_per_s
        out += [(f"LPU Fig7a {m} ms/token", ms, tpot * 1e3),
                (f"LPU Fig7a {m} BW utilisation, %", util, 100 * wbytes / (tpot * peak)),
                (f"LPU Fig7a {m} H100 ms/token", h100, one_chip_tpot(gpu, m)[0] * 1e3 if gpu else None),
                (f"LPU Fig2/7 {m} H100 power W", H100_W[m], board_power_w(gpu, m) if gpu else None)]
    for m, pub in FIG11.items():
        for b, p in zip((16, 32, 64, 128, 256), pub):
            out.append((f"Oaken Fig11 LPU {m} b{b} tok/s", p, decode_throughput(batch_run(m, "fp16", b))))
    for kv, pub in FIG12B.items():
        for b, p in zip((16, 32, 64), pub):
            seconds = b * 1024 / decode_throughput(batch_run("llama2-7b", kv, b))
            out.append((f"Oaken Fig12b {'LPU' if kv == 'fp16' else 'Oaken'} b{b} s", p, seconds))
    q, d, a = codec_percentages()
    out += [("Oaken b64 quant, % of latency", 1.29, q), ("Oaken b64 dequant, % of latency", 3.23, d),
            ("Oaken b64 attention shorter, %", 55.0, a)]
    for n, v in strong_scaling().items():
        out.append((f"Orion GPT-3 20B speedup {n} cards", SCALING[n], v))
    for m, bits in OAKEN_BITS.items():
        out.append((f"Oaken Table2 {m} KV bits", bits, kv_scheme("oaken").bits_per_elem(load_model(m).kv_dim)))
    out += [("OPT-66B fits one LPU ASIC (0/1)", 0.0, float(fits("lpu-8x-4nm", "opt-66b", 1))),
            ("OPT-66B fits Orion-cloud (0/1)", 1.0, float(fits("orion-cloud", "opt-66b", 8)))]
    return out


POINTS = ("%",)  # rows whose figure is itself a percentage: error in points, not relative
CHECKS = ("(0/1)",)  # yes/no facts: right or wrong, not in the error statistics


def error(name: str, pub: float, twin: float | None) -> float | None:
    """Signed error: relative (%) for figures, in points for percentages, 0/100 for yes/no checks."""
    if twin is None:
        return None
    if name.endswith(CHECKS):
        return 0.0 if twin == pub else 100.0
    if name.endswith(POINTS) or " % " in name:
        return twin - pub
    return 100 * (twin - pub) / pub


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.2f}"


def print_table(table: list[tuple[str, float, float | None]], before: dict[str, float | None]) -> None:
    print(f"{'figure':42} {'published':>10} {'before':>10} {'error':>8} {'twin':>10} {'error':>8}")
    for name, pub, twin in table:
        b = before.get(name)
        print(f"{name:42} {fmt(pub):>10} {fmt(b):>10} {fmt(error(name, pub, b)):>8} {fmt(twin):>10} "
              f"{fmt(error(name, pub, twin)):>8}")
    print("error: relative % for figures, points for figures that are percentages; checks: 0 right, 100 wrong")
    for label, value in (("before", lambda n: before.get(n)), ("twin", lambda n: dict((r[0], r[2]) for r in table)[n])):
        for kind, keep in (("relative %", lambda n: not n.endswith(CHECKS) and not (n.endswith(POINTS) or " % " in n)),
                           ("points", lambda n: n.endswith(POINTS) or " % " in n)):
            errs = [abs(e) for n, p, _ in table if keep(n) and (e := error(n, p, value(n))) is not None]
            if errs:
                print(f"{label:>6} {kind:>10}: {len(errs)} figures, worst {max(errs):.2f}, "
                      f"median {statistics.median(errs):.2f}")
        wrong = [n for n, p, _ in table if n.endswith(CHECKS) and value(n) is not None and value(n) != p]
        print(f"{label:>6} {'checks':>10}: {len(wrong)} wrong{': ' + ', '.join(wrong) if wrong else ''}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--save", help="write the twin's values as JSON")
    p.add_argument("--baseline", help="JSON from an earlier --save, shown as 'before'")
    args = p.parse_args(argv)
    table = rows()
    before = json.load(open(args.baseline)) if args.baseline else {}
    print_table(table, before)
    if args.save:
        with open(args.save, "w") as f:
            json.dump({n: t for n, _, t in table}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
