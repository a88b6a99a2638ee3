"""The hardware part of a run's result, built per pool and then combined.

A deployment is one or more pools (twin.deployment): colocated, one pool serving whole requests;
disaggregated, a prefill pool and a decode pool, possibly on different servers (an H100 prefill pool
beside an LPU decode pool). Each pool's figures use its own chip, link, tensor parallelism and memory
plan; the run's totals combine them: sums where the figure is additive (joules, mm², tokens, steps),
work over capacity where it is a utilisation (so a total, like each pool's, is at most 1).

Chips that the servers carry but no replica uses still draw their static power and occupy their
die area: they are reported as `idle`, beside the pools, and counted in the totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from twin.area import die_area_mm2, whole_die_mm2
from twin.capacity import INTERCONNECT, compute_word, link_word
from twin.config import ClusterSpec
from twin.energy import dynamic_j, static_power_w
from twin.memory import MemoryPlan
from twin.result_types import Area, Energy, Hardware, PoolHardware



@dataclass(frozen=True)
class DeployedPool:
    """One pool as built: its role, the cluster it is cut from, its memory plan and its replicas."""

    role: str  # both | prefill | decode
    cluster: ClusterSpec  # server type and tp of the pool
    plan: MemoryPlan
    replicas: tuple  # twin.serving.engine.Replica, in index order
    block_tokens: int

    @property
    def chips(self) -> int:
        return len(self.replicas) * self.cluster.chips_per_replica


@dataclass(frozen=True)
class ServerGroup:
    """Servers of one type that pools share (the same `servers_key`): what energy and area count whole."""

    cluster: ClusterSpec
    servers: int
    roles: tuple[str, ...]


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def interconnect_name(cluster: ClusterSpec) -> str:
    return INTERCONNECT.get(cluster.server.link.kind, cluster.server.link.kind)


# ---- utilisation and the hardware section ------------------------------------------------------------

def _work(pool: DeployedPool, span_s: float) -> dict:
    """Work done and capacity offered by the pool's working replicas (per chip, summed over replicas)."""
    chip = pool.cluster.server.chip
    working = [r.stats for r in pool.replicas if r.stats.busy_s > 0]
    busy = sum(s.busy_s for s in working)
    prefill_busy = sum(s.prefill_busy_s for s in working)
    return {"working": len(working), "busy_s": busy, "span_cap_s": len(working) * span_s,
            "mem": sum(s.mem_bytes for s in working), "macs": sum(s.macs for s in working),
            "prefill_macs": sum(s.prefill_macs for s in working), "prefill_busy_s": prefill_busy,
            "peak_bw": chip.memory.peak_bytes_per_s, "peak_macs": chip.macs_per_s}


def _utilisation(works: Sequence[dict]) -> dict:
    """Memory-bandwidth and MAC utilisation: work over what the working chips could have done, over the
    makespan and over their busy time. One pool or several: a sum of work over a sum of capacities."""
    cap = lambda key, t: sum(w[t] * w[key] for w in works)  # noqa: E731
    work = lambda key: sum(w[key] for w in works)  # noqa: E731
    return {"replicas_working": sum(w["working"] for w in works),
            "hbm_bandwidth_util": _ratio(work("mem"), cap("peak_bw", "span_cap_s")),
            "hbm_bandwidth_util_busy": _ratio(work("mem"), cap("peak_bw", "busy_s")),
            "mac_util": _ratio(work("macs"), cap("peak_macs", "span_cap_s")),
            "mac_util_busy": _ratio(work("macs"), cap("peak_macs", "busy_s")),
            "prefill_mac_util": _ratio(work("prefill_macs"), cap("peak_macs", "prefill_busy_s"))}


def _interconnect(pool: DeployedPool) -> dict:
    """The pool's chip-to-chip link, per chip: time carrying bytes, time steps waited on it (exposed), and
    the time it was busy, which includes the exposed wait (a collective's latency and sync occupy it too)."""
    c = pool.cluster
    stats = [r.stats for r in pool.replicas]
    n = max(len(stats), 1)
    transfer = sum(s.esl_bytes for s in stats) / n / c.server.link.bytes_per_s if c.tp > 1 else 0.0
    exposed = sum(s.esl_exposed_s for s in stats) / n
    return {"kind": interconnect_name(c), "link": c.server.link.name, "transfer_s_per_chip": transfer,
            "exposed_s_per_chip": exposed, "busy_s_per_chip": max(transfer, exposed)}


def _pipeline(pool: DeployedPool) -> dict:
    """A pipelined pool's stages, the links between them, and the share of its busy time the schedule left
    each stage idle (the bubble: (N - 1) / (m + N - 1) of a step of m micro-batches through N stages)."""
    cost = pool.replicas[0].cost
    stats = [r.stats for r in pool.replicas]
    busy = sum(s.busy_s for s in stats)
    server = pool.cluster.server
    kinds = ["network" if latency == getattr(server.network, "latency_s", None) and bw == server.network.bytes_per_s
             else interconnect_name(pool.cluster) for latency, bw in cost.stage_links]
    out = {"stages": pool.cluster.pp, "layers_per_stage": cost.stage_layers, "micro_batches": cost.micro_batches,
           "stage_links": kinds, "idle_share": sum(s.pipeline_idle_s for s in stats) / busy if busy else 0.0}
    walked = [getattr(r.backend, "stage_busy_s", None) for r in pool.replicas]  # layer fidelity's stages
    if all(w is not None for w in walked):
        out["stage_busy_s"] = [sum(stage) for stage in zip(*walked)]
    return out


def _experts(pool: DeployedPool) -> dict:
    """An expert-parallel pool (ep > 1): where its experts sit and the busiest chip's share of the routes,
    which sets its MoE layers' time (an even spread: 1 / ep)."""
    cost = pool.replicas[0].cost
    m, routing = cost.model, cost.routing
    chips = routing.placed(m.experts, m.experts_top_k, cost.ep)
    return {"ep": cost.ep, "placement": routing.placement, "experts_per_chip": m.experts // cost.ep,
            "all_to_all_link": interconnect_name(pool.cluster) + (" and network" if cost.spans > 1 else ""),
            "busiest_chip_route_share": max(sum(c) for c in chips) / sum(sum(c) for c in chips)}


def _weight_share(chip) -> dict:
    """The share of peak bandwidth weights stream at, where the serving stack makes it differ from the memory's."""
    if chip.weight_stream_factor == 1.0:
        return {}
    return {"weight_stream_efficiency": chip.weight_bytes_per_s / chip.memory.peak_bytes_per_s}


def _bound_by(pool: DeployedPool) -> str:
    """Which resource the pool's busy time mostly went to: compute, memory streaming, or exposed transfers."""
    chip = pool.cluster.server.chip
    stats = [r.stats for r in pool.replicas]
    busy = sum(s.busy_s for s in stats)
    if busy <= 0:
        return "idle"
    link = link_word(pool.cluster.server.link, any(s.codec_s for s in stats))
    shares = {compute_word(chip): sum(s.macs for s in stats) / chip.macs_per_s,
              "memory bandwidth": sum(s.mem_busy_s for s in stats),  # as streamed (a GPU stack's weights faster)
              link: sum(s.esl_exposed_s + s.codec_s for s in stats)}
    return max(shares, key=shares.get)


def pool_hardware(pool: DeployedPool, span_s: float) -> PoolHardware:
    """One pool's hardware figures, with its own chip, link and memory plan."""
    chip, stats = pool.cluster.server.chip, [r.stats for r in pool.replicas]
    first = pool.replicas[0]
    return {
        "role": pool.role, "server": pool.cluster.server.name, "chip": chip.name, "tp": pool.cluster.tp,
        "pp": pool.cluster.pp, **({"ep": pool.cluster.ep} if pool.cluster.ep > 1 else {}),
        "replicas": len(pool.replicas), "chips": pool.chips,
        "memory_kind": chip.memory.label, "memory_efficiency": chip.memory.sustained_efficiency,
        **_weight_share(chip),
        **_utilisation([_work(pool, span_s)]),
        "engines": {e.name: e.type for e in chip.compute_engines},
        "prefill_engine": first.cost.engine_of(2048) if pool.role != "decode" else None,
        "decode_engine": first.cost.engine_of(1) if pool.role != "prefill" else None,
        "interconnect": _interconnect(pool),
        "replica_busy": sum(s.busy_s for s in stats) / len(stats) / span_s,
        "kv_peak_occupancy": max(r.kv.peak_occupancy for r in pool.replicas),
        "kv_capacity_tokens": pool.plan.kv_blocks * pool.block_tokens,
        "weights_gb_per_chip": pool.plan.weight_bytes / 1e9,
        "bound_by": _bound_by(pool),
        **({"pipeline": _pipeline(pool)} if pool.cluster.pp > 1 else {}),
        **({"experts": _experts(pool)} if pool.cluster.ep > 1 else {}),
        "steps": sum(s.steps for s in stats),
        "prefill_tokens": sum(s.prefill_tokens for s in stats),
        "decode_tokens": sum(s.decode_tokens for s in stats),
    }


def hardware(pools: Sequence[DeployedPool], makespan_s: float) -> Hardware:
    """The run's hardware section: totals over the pools, and each pool's own figures under `pools`."""
    span = max(makespan_s, 1e-12)
    per_pool = {p.role: pool_hardware(p, span) for p in pools}
    stats = [r.stats for p in pools for r in p.replicas]
    busiest = max(pools, key=lambda p: sum(r.stats.busy_s for r in p.replicas))
    decoding = next(p for p in reversed(pools) if p.role != "prefill")  # where KV lives for the whole output
    prefilling = pools[0]
    links = [per_pool[p.role]["interconnect"] for p in pools]
    chips = sum(p.chips for p in pools)
    return {
        "memory_kind": " + ".join(dict.fromkeys(p.cluster.server.chip.memory.label for p in pools)),
        "memory_efficiency": decoding.cluster.server.chip.memory.sustained_efficiency,
        **_weight_share(decoding.cluster.server.chip),
        **_utilisation([_work(p, span) for p in pools]),
        "engines": {e.name: e.type for p in pools for e in p.cluster.server.chip.compute_engines},
        "prefill_engine": per_pool[prefilling.role]["prefill_engine"],
        "decode_engine": per_pool[decoding.role]["decode_engine"],
        "interconnect": " + ".join(dict.fromkeys(link["kind"] for link in links)),
        # per chip, weighted by each pool's chips: a pool with more chips counts more
        "link_busy_s_per_chip": sum(l["busy_s_per_chip"] * p.chips for l, p in zip(links, pools)) / chips,
        "link_exposed_s_per_chip": sum(l["exposed_s_per_chip"] * p.chips for l, p in zip(links, pools)) / chips,
        "replica_busy": sum(s.busy_s for s in stats) / len(stats) / span,
        "kv_peak_occupancy": per_pool[decoding.role]["kv_peak_occupancy"],
        "kv_capacity_tokens": per_pool[decoding.role]["kv_capacity_tokens"],
        "weights_gb_per_chip": max(h["weights_gb_per_chip"] for h in per_pool.values()),
        "bound_by": per_pool[busiest.role]["bound_by"],
        "preemptions": sum(s.preemptions for s in stats),
        "swap_gb": sum(s.swap_bytes for s in stats) / 1e9,
        "steps": sum(s.steps for s in stats),
        "prefill_tokens": sum(s.prefill_tokens for s in stats),
        "decode_tokens": sum(s.decode_tokens for s in stats),
        "decode_tokens_per_s": sum(_ratio(s.decode_tokens, s.decode_busy_s) for s in stats),
        "pools": per_pool,
    }


# ---- energy -----------------------------------------------------------------------------------------

def _energy_part(cluster: ClusterSpec, chips: float, hosts: float, stats: Sequence, span: float) -> dict:
    """Joules of one part of the deployment: static over the span, dynamic from its replicas' counters."""
    spec, tp, link = cluster.server.chip.energy, cluster.chips_per_replica, cluster.server.link
    static = static_power_w(cluster, chips, hosts)
    work = dynamic_j(spec, link.pj_per_byte, sum(s.macs for s in stats) * tp,
                     sum(s.mem_bytes for s in stats) * tp, sum(s.esl_bytes for s in stats) * tp) \
        if spec is not None and stats else {"compute_j": 0.0, "memory_access_j": 0.0, "link_j": 0.0}
    components = {"chips": {"static_j": static["chips"] * span, "compute_j": work["compute_j"]},
                  "memory": {"static_j": static["memory"] * span, "access_j": work["memory_access_j"]},
                  "links": {"transfer_j": work["link_j"]},
                  "host": {"static_j": static["host"] * span}}
    peak_dynamic = tp * sum(s.peak_dynamic_w for s in stats)
    return {"components": components, "static_w": sum(static.values()), "peak_dynamic_w": peak_dynamic}


def _energy_figures(parts: Sequence[dict], span: float, output_tokens: int) -> dict:
    components = {k: {j: sum(p["components"][k][j] for p in parts) for j in parts[0]["components"][k]}
                  for k in parts[0]["components"]}
    device = sum(v for k, part in components.items() if k != "host" for v in part.values())
    host = components["host"]["static_j"]
    total = device + host
    floor = sum(p["static_w"] for p in parts)
    avg = total / span if span > 0 else floor
    peak = floor + sum(p["peak_dynamic_w"] for p in parts)
    return {"energy_j": total, "device_j": device, "host_j": host, "avg_power_w": avg,
            "device_avg_power_w": device / span if span > 0 else None,
            "peak_power_w": max(peak, avg), "static_power_w": floor,
            "j_per_output_token": total / output_tokens if output_tokens else None,
            "device_j_per_output_token": device / output_tokens if output_tokens else None,
            "output_tok_s_per_kw": output_tokens / span / (avg / 1e3) if span > 0 and avg > 0 else None,
            "components": components}


def _parts(pools: Sequence[DeployedPool], groups: Sequence[ServerGroup]) -> tuple[dict, dict]:
    """Each pool's share of its servers (its chips, and hosts in proportion to them), and the idle rest."""
    shares, idle = {}, {}
    for group in groups:
        per_server = group.cluster.server.chips
        used = 0
        for p in pools:
            if p.role in group.roles:
                shares[p.role] = (p.chips, p.chips / per_server)
                used += p.chips
        spare = group.servers * per_server - used
        if spare > 0:
            idle[group.cluster.server.name] = (group.cluster, spare, spare / per_server)
    return shares, idle


def energy(pools: Sequence[DeployedPool], groups: Sequence[ServerGroup], makespan_s: float,
           output_tokens: int) -> Energy | None:
    """The run's energy: device (chips, memory, links) and host separately, per pool and in total.
    None when a pool's chip states no power figures (the total would be wrong)."""
    if any(p.cluster.server.chip.energy is None for p in pools):
        return None
    span = max(makespan_s, 0.0)
    shares, idle = _parts(pools, groups)
    parts = {p.role: _energy_part(p.cluster, shares[p.role][0], shares[p.role][1],
                                  [r.stats for r in p.replicas], span) for p in pools}
    idle_parts = {name: _energy_part(cluster, chips, hosts, [], span) for name, (cluster, chips, hosts) in idle.items()}
    out = _energy_figures([*parts.values(), *idle_parts.values()], span, output_tokens)
    out["pools"] = {role: _energy_figures([part], span, 0) for role, part in parts.items()}
    for figures in out["pools"].values():
        for key in ("j_per_output_token", "device_j_per_output_token", "output_tok_s_per_kw"):
            figures.pop(key)  # a pool alone produces no output tokens of its own (prefill makes the first)
    if idle_parts:
        out["idle"] = {name: _energy_figures([part], span, 0)["energy_j"] for name, part in idle_parts.items()}
    return out


# ---- area -------------------------------------------------------------------------------------------

def area(pools: Sequence[DeployedPool], groups: Sequence[ServerGroup], output_tokens_per_s: float) -> Area:
    """Whole-die area of every chip the deployment's servers carry, per pool and in total, and tok/s per mm²:
    a GPU's published die, an LPU's published-fit core plus its modelled uncore (twin.area)."""
    shares, idle = _parts(pools, groups)
    per_pool = {}
    for p in pools:
        chip = p.cluster.server.chip
        whole, uncore = whole_die_mm2(chip, p.cluster.server)
        per_pool[p.role] = {"chip": chip.name, "die_mm2_per_chip": whole, "core_mm2_per_chip": die_area_mm2(chip),
                            "uncore_mm2_per_chip": uncore, "chips": shares[p.role][0],
                            "total_mm2": None if whole is None else whole * shares[p.role][0],
                            "source": _area_source(chip, whole, uncore)}
    idle_mm2 = {name: (whole_die_mm2(cluster.server.chip, cluster.server)[0], chips)
                for name, (cluster, chips, _) in idle.items()}
    known = [a["total_mm2"] for a in per_pool.values()] + [None if m is None else m * n for m, n in idle_mm2.values()]
    total = None if any(k is None for k in known) else sum(known)
    chips = sum(a["chips"] for a in per_pool.values()) + sum(n for _, n in idle_mm2.values())
    first = next(iter(per_pool.values()))
    same_chip = len({a["chip"] for a in per_pool.values()}) == 1
    return {"die_mm2_per_chip": first["die_mm2_per_chip"] if same_chip else None, "chips": chips,
            "total_mm2": total, "source": " + ".join(dict.fromkeys(a["source"] for a in per_pool.values())),
            "output_tok_s_per_mm2": output_tokens_per_s / total if total else None, "pools": per_pool}


def _area_source(chip, whole: float | None, uncore: dict | None) -> str:
    if chip.die_area_mm2 is not None:
        return "published whole die"
    if uncore is not None:
        return "modelled: core fitted to published LPU cores + uncore from published block estimates"
    return "per-unit LPU core model, uncore not modelled" if whole is not None else "not published"
