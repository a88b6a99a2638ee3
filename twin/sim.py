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
from twin.config import ClusterSpec, ModelSpec, ServerSpec, ServingConfig
from twin import pool_result
from twin.energy import dynamic_j
from twin.errors import InvalidSpec, NotRunning, UnknownName
from twin.hw.cluster import Server, layer_backend, replica_chips
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
from twin.deployment import Pool, pools, server_layout, servers_needed
from twin.serving.features import KeyChains, features_for, pool_serving
from twin.serving.pools import Disaggregation, server_links


TOKEN_ID_BYTES = 4  # int32 token ids sent to the chip


class Simulation:
    def __init__(self, cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy | None = None,
                 serving: ServingConfig | None = None, rules: tuple = (), *,
                 prefill_server: ServerSpec | None = None, draft_model: ModelSpec | None = None,
                 observers: tuple = ()):
        """`prefill_server` and `draft_model` are the specs serving.prefill_server and serving.draft_model
        name, resolved against the run's catalogue by the caller (twin.replay.RunSpec.build). `rules` are
        adaptive KV rules (twin.quant.policy), checked at batch changes. Each of `observers` (a callable
        returning a twin.serving.features.Feature) gives every replica one more feature: checks and probes."""
        self.cluster, self.model = cluster, model
        self.draft_model = draft_model
        self.policy = policy or QuantPolicy()
        self.serving = serving or ServingConfig()
        self.routing = MoeRouting(self.serving.moe_routing, self.serving.moe_zipf_s, self.serving.expert_placement)
        self.env = simpy.Environment()
        self.recorder = Recorder()
        self.router = make_router(self.serving.router if self.serving.pd is None else self.serving.prefill_router)
        self._pools = pools(cluster, self.serving, prefill_server)
        layout = server_layout([pool for pool in self._pools if pool.servers_key == "main"])
        self.servers = [Server(self.env, cluster, i, layout) for i in range(cluster.servers)]
        self._servers = {"main": self.servers}
        self.replicas: list[Replica] = []
        self.rules, self.observers = tuple(rules), tuple(observers)
        self.keys = KeyChains()  # prefix-block keys of requests being routed, shared by the replicas' caches
        self.disaggregation = None if self.serving.pd is None else Disaggregation(
            self.env, self.serving.decode_router, self._kv_links())
        self.pools: list[pool_result.DeployedPool] = [self._add_pool(pool) for pool in self._pools]
        self.server_groups = [pool_result.ServerGroup(self._group_cluster(key), len(group),
                                                      tuple(p.role for p in self._pools if p.servers_key == key))
                              for key, group in self._servers.items()]
        self.entry = [rep for rep in self.replicas if rep.role != "decode"]  # where requests arrive
        for rule in rules:  # every scheme a rule may switch to must leave room for KV
            self._check_fits(QuantPolicy(self.policy.weights, kv_scheme(rule.kv)))
        host = self.cluster.server.host  # its rates, read at every arrival
        self._host_rates = (host.tokenize_s_per_token, host.pcie_bytes_per_s, host.pcie_latency_s)
        self.arrivals = Arrivals(self.env, self._ingest_s, self._route)
        self.context = ContextLimit(self.serving.max_context or model.max_context, self.serving.on_long_request)
        if cluster.pp > 1 and self.serving.speculative:
            raise InvalidSpec("speculative", "speculative decoding is not modelled on a pipeline (pp > 1)")

    def _check_fits(self, policy: QuantPolicy) -> None:
        """CapacityExceeded unless `policy` fits every pool, each on its own server with its own options."""
        for pool in self._pools:
            plan_memory(pool.cluster, self.model, policy, pool_serving(self.serving, pool.role), self.draft_model)

    @property
    def memory(self) -> MemoryPlan:
        """The memory plan of the pool where requests decode (each pool has its own: `pools`)."""
        return next(p.plan for p in reversed(self.pools) if p.role != "prefill")

    def _group_cluster(self, key: str) -> ClusterSpec:
        return next(p.cluster for p in self._pools if p.servers_key == key)

    def _add_pool(self, pool: Pool) -> pool_result.DeployedPool:
        serving = pool_serving(self.serving, pool.role)
        plan = plan_memory(pool.cluster, self.model, self.policy, serving, self.draft_model)
        servers = self._servers.get(pool.servers_key)
        if servers is None:  # a pool on servers of its own
            servers = self._servers[pool.servers_key] = [Server(self.env, pool.cluster, i)
                                                         for i in range(servers_needed(pool))]
        # One cost model for the pool: its replicas are alike, so a step shape one evaluates serves all.
        cost = CostModel(self.model, pool.cluster.server, pool.cluster.tp, self.policy, self.routing,
                         pool.cluster.pp, serving.micro_batches or 0, pool.cluster.ep)
        first = len(self.replicas)
        for i in range(pool.count):
            features = features_for(pool.role, plan, serving, cost, self.draft_model, pool=self.disaggregation,
                                    keys=self.keys, rules=self.rules)
            features += [make() for make in self.observers]
            rep = self._replica(pool, i, plan, servers, serving, cost, features)
            self.env.process(rep.run())
            self.replicas.append(rep)
        return pool_result.DeployedPool(pool.role, pool.cluster, plan, tuple(self.replicas[first:]),
                                        serving.block_tokens)

    def _replica(self, pool: Pool, i: int, plan: MemoryPlan, servers: list[Server], serving: ServingConfig,
                 cost: CostModel, features: list) -> Replica:
        c, first = pool.cluster, pool.first_chip(i)
        kv = KvCache(plan.kv_blocks, serving.block_tokens, plan.kv_block_bytes)
        chips = replica_chips(servers, pool.server_of(i), first, c.chips_per_replica)
        backend = (StepBackend(self.env, cost) if serving.fidelity == "step" else
                   layer_backend(self.env, cost, servers, pool.server_of(i), first, shape_costs))
        host_bytes = c.server.host.memory_gb * 1e9 * (c.servers_per_replica if not c.replicas_per_server else
                                                       1 / c.replicas_per_server)
        replica = Replica(self.env, len(self.replicas), cost, kv, serving, self.recorder, backend, host_bytes,
                          role=pool.role, place=(pool.servers_key, pool.server_of(i)), features=features)
        for chip in chips:
            chip.hbm.activity = replica.stats
        return replica

    def _kv_links(self):
        """(prefill replica, decode replica) -> the links their KV crosses (made at the first transfer, when
        every pool has its servers)."""
        links: dict = {}

        def between(src, dst) -> list:
            if not links:
                links.update({(key, i): server_links(server_spec, i) for key, group in self._servers.items()
                              for i, server_spec in enumerate(s.spec for s in group)})
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
        if self.serving.router != "prefix-affinity":
            entry[self.router.choose(loads)].enqueue(r)
            return
        cached = [rep.cached_prefix(r) for rep in entry]
        entry[self.router.choose(loads, cached)].enqueue(r)
        self.keys.forget(r)  # taken by the cache it reached, unless that replica turned the request away

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
        models: dict[tuple[int, int, int, int], CostModel] = {}  # one per pool's server, tp and pp, as at build
        for replica in self.replicas:
            old = replica.cost
            key = (id(old.server), old.tp, old.pp, old.ep)
            if key not in models:
                models[key] = CostModel(self.model, old.server, old.tp, policy, self.routing, old.pp,
                                        old.micro_batches, old.ep)
            replica.kv_policy.set_base(policy, models[key])

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


def component_figures(sim: Simulation) -> dict[str, dict[str, float]]:
    """Per-replica counters with their dynamic energy (J, all chips of the replica, priced by its own pool's
    chip and link), for the store."""
    out = {}
    for pool in sim.pools:
        spec, tp, link = pool.cluster.server.chip.energy, pool.cluster.chips_per_replica, pool.cluster.server.link
        for r in pool.replicas:
            figures = r.stats.as_dict()
            if spec is not None:
                figures.update(dynamic_j(spec, link.pj_per_byte, r.stats.macs * tp, r.stats.mem_bytes * tp,
                                         r.stats.esl_bytes * tp))
            out[f"replica{r.index}"] = figures
    return dict(sorted(out.items(), key=lambda kv: int(kv[0][len("replica"):])))
