"""A cluster twin: one SimPy environment, its replicas, a router, and what it records.

    sim = Simulation(cluster, model, QuantPolicy(), ServingConfig())
    for r in requests: sim.submit(r)
    sim.run()
    print(sim.summary())
"""

from __future__ import annotations

from collections.abc import Iterable

import simpy

from twin.arrivals import Arrivals
from twin.config import ClusterSpec, ModelSpec, ServingConfig
from twin.energy import dynamic_j
from twin.errors import InvalidSpec, NotRunning, UnknownName
from twin.hw.cluster import LayerBackend, Server
from twin.memory import MemoryPlan, plan_memory
from twin.metrics import Recorder
from twin.quant.schemes import QuantPolicy, kv_scheme
from twin.serving.cost import CostModel
from twin.serving.engine import Replica, StepBackend
from twin.serving.shape_cost import shape_costs
from twin.serving.context import ContextLimit
from twin.serving.kv_cache import KvCache
from twin.serving.moe import MoeRouting
from twin.serving.request import Request, TraceRequest
from twin.serving.router import make_router
from twin.catalog import load_server
from twin.deployment import Pool, pools, servers_needed
from twin.serving.architecture import equip, pool_serving
from twin.serving.pools import Disaggregation, server_links


TOKEN_ID_BYTES = 4  # int32 token ids sent to the chip


class Simulation:
    def __init__(self, cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy | None = None,
                 serving: ServingConfig | None = None, rules: tuple = ()):
        self.cluster, self.model = cluster, model
        self.policy = policy or QuantPolicy()
        self.serving = serving or ServingConfig()
        self.routing = MoeRouting(self.serving.moe_routing, self.serving.moe_zipf_s)
        self.env = simpy.Environment()
        self.recorder = Recorder()
        self.router = make_router(self.serving.router if self.serving.pd is None else self.serving.prefill_router)
        self.servers = [Server(self.env, cluster, i) for i in range(cluster.servers)]
        self._servers = {"main": self.servers}
        self.replicas: list[Replica] = []
        self._pools = pools(cluster, self.serving, load_server)
        for pool in self._pools:
            self.memory: MemoryPlan = self._add_pool(pool)
        self.entry = [rep for rep in self.replicas if rep.role != "decode"]  # where requests arrive
        self.disaggregation = None if self.serving.pd is None else Disaggregation(
            self.env, self.entry, [rep for rep in self.replicas if rep.role == "decode"],
            self.serving.decode_router, self._kv_links())
        for rep in self.replicas:
            rep.rules = tuple(rules)  # adaptive KV rules (twin.quant.policy), checked at batch changes
        for rule in rules:  # every scheme a rule may switch to must leave room for KV
            self._check_fits(QuantPolicy(self.policy.weights, kv_scheme(rule.kv)))
        host = self.cluster.server.host  # its rates, read at every arrival
        self._host_rates = (host.tokenize_s_per_token, host.pcie_bytes_per_s, host.pcie_latency_s)
        self.arrivals = Arrivals(self.env, self._ingest_s, self._route)
        self.context = ContextLimit(self.serving.max_context or model.max_context, self.serving.on_long_request)

    def _check_fits(self, policy: QuantPolicy) -> None:
        """CapacityExceeded unless `policy` fits every pool, each on its own server with its own options."""
        for pool in self._pools:
            plan_memory(pool.cluster, self.model, policy, pool_serving(self.serving, pool.role))

    def _add_pool(self, pool: Pool) -> MemoryPlan:
        serving = pool_serving(self.serving, pool.role)
        plan = plan_memory(pool.cluster, self.model, self.policy, serving)
        servers = self._servers.get(pool.servers_key)
        if servers is None:  # a pool on servers of its own
            servers = self._servers[pool.servers_key] = [Server(self.env, pool.cluster, i)
                                                         for i in range(servers_needed(pool))]
        # One cost model for the pool: its replicas are alike, so a step shape one evaluates serves all.
        cost = CostModel(self.model, pool.cluster.server, pool.cluster.tp, self.policy, self.routing)
        for i in range(pool.count):
            rep = self._replica(pool, i, plan, servers[pool.server_of(i)], serving, cost)
            equip(rep, pool, plan, serving, self.model)
            self.env.process(rep.run())
            self.replicas.append(rep)
        return plan

    def _replica(self, pool: Pool, i: int, plan: MemoryPlan, server: Server, serving: ServingConfig,
                 cost: CostModel) -> Replica:
        c, first = pool.cluster, pool.first_chip(i)
        kv = KvCache(plan.kv_blocks, serving.block_tokens, plan.kv_block_bytes)
        chips = server.chips[first:first + c.tp]
        backend = (StepBackend(self.env, cost) if serving.fidelity == "step" else
                   LayerBackend(self.env, cost, chips, server.host, first, shape_costs))
        host_bytes = c.server.host.memory_gb * 1e9 / c.replicas_per_server
        replica = Replica(self.env, len(self.replicas), cost, kv, serving, self.recorder, backend, host_bytes)
        replica.place = (pool.servers_key, pool.server_of(i))
        for chip in chips:
            chip.hbm.activity = replica.stats
        return replica

    def _kv_links(self):
        """(prefill replica, decode replica) -> the links their KV crosses."""
        links = {(key, i): server_links(server_spec, i) for key, group in self._servers.items()
                 for i, server_spec in enumerate(s.spec for s in group)}

        def between(src, dst) -> list:
            if src.place == dst.place:
                return [links[src.place]["esl"]]
            out, inn = links[src.place].get("out"), links[dst.place].get("in")
            if out is None or inn is None:
                raise InvalidSpec("network", "a server of this deployment states no network: in its YAML")
            return [out, inn]
        return between

    @property
    def now_s(self) -> float:
        return self.env.now

    def submit(self, spec: TraceRequest) -> None:
        """Schedule a request's arrival. Arrivals must not lie in the simulated past."""
        self.arrivals.submit(spec)

    def feed(self, requests: Iterable[TraceRequest]) -> None:
        """Take requests from an iterable in arrival order, read only as simulated time reaches them."""
        self.arrivals.feed(requests)

    @property
    def submitted(self) -> int:
        return self.arrivals.submitted

    @property
    def done(self) -> bool:
        """Every request submitted or fed has finished (or been rejected)."""
        return self.arrivals.exhausted and self.finished >= self.submitted

    def _route(self, r: Request) -> None:
        fitted = self.context.fit(r.spec)  # over-long: rejected and counted, or clamped and counted
        if fitted is None:
            self.recorder.request(self.context.rejection(r.spec))
            return
        if fitted is not r.spec:
            r = Request(fitted)
        entry = self.entry
        if len(entry) == 1:  # nothing to choose (every router picks the only replica)
            entry[0].enqueue(r)
            return
        loads = [rep.outstanding_tokens for rep in entry]
        cached = [rep.cached_prefix(r) for rep in entry] if self.serving.router == "prefix-affinity" else None
        entry[self.router.choose(loads, cached)].enqueue(r)

    def _ingest_s(self, tokens: int) -> float:
        """Host time before a request can be scheduled: tokenise on the CPU, then DMA the ids over PCIe."""
        tokenize_s, pcie_bytes_per_s, pcie_latency_s = self._host_rates
        return tokens * tokenize_s + tokens * TOKEN_ID_BYTES / pcie_bytes_per_s + pcie_latency_s

    def run(self, until_s: float | None = None) -> None:
        """Advance to `until_s`, or until every submitted request has finished."""
        if until_s is not None:
            if until_s < self.env.now:
                raise NotRunning(f"cannot run back to {until_s} s; the twin is at {self.env.now} s")
            self.env.run(until=until_s)
            return
        while not self.done:
            self.env.step()

    def set_policy(self, policy: QuantPolicy) -> None:
        """Change the quantization policy of a live twin: steps from now on use its cost model.

        The KV cache keeps its blocks (what is resident stays); the new policy must still fit.
        """
        self._check_fits(policy)
        self.policy = policy
        models: dict[tuple[int, int], CostModel] = {}  # one per pool's server and tp, as at build
        for replica in self.replicas:
            server, tp = replica.cost.server, replica.cost.tp
            key = (id(server), tp)
            if key not in models:
                models[key] = CostModel(self.model, server, tp, policy, self.routing)
            replica.use_cost(models[key])
            replica.base_policy = policy  # what adaptive rules fall back to when none matches

    @property
    def finished(self) -> int:
        return self.recorder.recorded

    def component(self, path: str):
        """The hardware component at a path such as 'server0/chip3/hbm' or 'server0/esl/link2'."""
        for server in self.servers:
            if path == server.name:
                return server
            for chip in server.chips:
                for obj in (chip, chip.hbm):
                    if obj.name == path:
                        return obj
                prefix = f"{chip.hbm.name}/ch"
                if path.startswith(prefix) and path[len(prefix):].isdigit():
                    index = int(path[len(prefix):])
                    if index < chip.hbm.spec.channels:
                        return chip.hbm.channel(index)
            for obj in (*server.links, server.host):
                if obj.name == path:
                    return obj
        raise UnknownName("component", path)


def hardware_summary(sim: Simulation, makespan_s: float) -> dict:
    """Utilisation of memory bandwidth, MACs and ESL, KV peak and preemptions."""
    chip, tp = sim.cluster.server.chip, sim.cluster.tp
    span = max(makespan_s, 1e-12)
    stats = [r.stats for r in sim.replicas]
    per_chip = lambda f: sum(f(s) for s in stats) / len(stats)  # noqa: E731  (replicas are alike)
    link = sim.cluster.server.link
    return {
        "memory_efficiency": chip.memory.sustained_efficiency,
        **utilisation(sim, span),
        "prefill_mac_util": _ratio(sum(s.prefill_macs for s in stats),
                                   sum(s.prefill_busy_s for s in stats) * chip.macs_per_s),
        "engines": {e.name: e.type for e in chip.compute_engines},
        "prefill_engine": sim.replicas[0].cost.engine_of(2048),
        "decode_engine": sim.replicas[0].cost.engine_of(1),
        "esl_busy_s": per_chip(lambda s: s.esl_bytes) / link.bytes_per_s if tp > 1 else 0.0,
        "esl_exposed_s": per_chip(lambda s: s.esl_exposed_s),
        "replica_busy": per_chip(lambda s: s.busy_s) / span,
        "kv_peak_occupancy": max(r.kv.peak_occupancy for r in sim.replicas),
        "kv_capacity_tokens": sim.memory.kv_blocks * sim.serving.block_tokens,
        "weights_gb_per_chip": sim.memory.weight_bytes / 1e9,
        "bound_by": _bound_by(sum(s.macs for s in stats) / chip.macs_per_s,
                              sum(s.mem_bytes for s in stats) / chip.memory.sustained_bytes_per_s,
                              sum(s.esl_exposed_s + s.codec_s for s in stats), sum(s.busy_s for s in stats)),
        "preemptions": sum(s.preemptions for s in stats),
        "swap_gb": sum(s.swap_bytes for s in stats) / 1e9,
        "steps": sum(s.steps for s in stats),
        "prefill_tokens": sum(s.prefill_tokens for s in stats),
        "decode_tokens": sum(s.decode_tokens for s in stats),
        "decode_tokens_per_s": sum(_ratio(s.decode_tokens, s.decode_busy_s) for s in stats),
    }


def component_figures(sim: Simulation) -> dict[str, dict[str, float]]:
    """Per-replica counters with their dynamic energy (J, all chips of the replica), for the store."""
    spec, tp, link = sim.cluster.server.chip.energy, sim.cluster.tp, sim.cluster.server.link
    out = {}
    for r in sim.replicas:
        figures = r.stats.as_dict()
        if spec is not None:
            figures.update(dynamic_j(spec, link.pj_per_byte, r.stats.macs * tp, r.stats.mem_bytes * tp,
                                     r.stats.esl_bytes * tp))
        out[f"replica{r.index}"] = figures
    return out


def utilisation(sim: Simulation, span_s: float) -> dict:
    """Memory-bandwidth and MAC utilisation per chip, averaged over the replicas that did work.

    Over the makespan (how much of the hardware the run used) and over the replicas' busy
    time (how hard it worked while working). Idle replicas would only dilute the average.
    """
    chip = sim.cluster.server.chip
    working = [r.stats for r in sim.replicas if r.stats.busy_s > 0]
    n, busy = max(len(working), 1), sum(s.busy_s for s in working)
    mem, macs = sum(s.mem_bytes for s in working), sum(s.macs for s in working)
    peak_bw, peak_macs = chip.memory.peak_bytes_per_s, chip.macs_per_s
    return {"memory_kind": chip.memory.label, "replicas_working": len(working),
            "hbm_bandwidth_util": mem / n / (span_s * peak_bw), "hbm_bandwidth_util_busy": _ratio(mem, busy * peak_bw),
            "mac_util": macs / n / (span_s * peak_macs), "mac_util_busy": _ratio(macs, busy * peak_macs)}


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _bound_by(compute_s: float, memory_s: float, exposed_s: float, busy_s: float) -> str:
    """Which resource the busy time mostly went to: MAC trees, memory streaming, or exposed transfers."""
    if busy_s <= 0:
        return "idle"
    shares = {"compute (MAC trees)": compute_s, "memory bandwidth": memory_s, "ESL / KV codec": exposed_s}
    return max(shares, key=shares.get)
