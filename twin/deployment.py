"""How a simulation's replicas are laid out: one colocated pool, or a prefill pool and a decode pool.

A pool is a `ClusterSpec` cut into replicas: replica i of a pool sits on server
i // (chips per server / tp) of that pool's servers. Colocated: every replica of the
cluster serves whole requests. Disaggregated (`pd` P:D): on the same server type the first
P replicas prefill and the next D decode; with `prefill_server` the P prefill replicas are
whole servers of that type (tp = its chips), beside the decode cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.config import ClusterSpec, ServerSpec, ServingConfig
from twin.errors import InvalidSpec
from twin.serving.disaggregation import parse_pd


@dataclass(frozen=True)
class Pool:
    """`count` replicas with `role` on `cluster`, starting at replica `first` of that cluster's layout."""

    role: str  # both | prefill | decode
    cluster: ClusterSpec
    count: int
    first: int = 0
    servers_key: str = "main"  # pools sharing a key share servers (and ESL)

    def server_of(self, i: int) -> int:
        """Server index (within this pool's servers) of the pool's i-th replica (its first, if it spans)."""
        per = self.cluster.replicas_per_server
        return (self.first + i) // per if per else (self.first + i) * self.cluster.servers_per_replica

    def first_chip(self, i: int) -> int:
        per = self.cluster.replicas_per_server
        return ((self.first + i) % per) * self.cluster.chips_per_replica if per else 0


def pools(cluster: ClusterSpec, serving: ServingConfig, prefill_server: ServerSpec | None = None) -> list[Pool]:
    """The pools of a deployment; `prefill_server` is the server serving.prefill_server names, resolved at the
    edge (twin.replay.RunSpec.build): the core never looks a name up."""
    if serving.pd is None:
        return [Pool("both", cluster, cluster.n_replicas)]
    p, d = parse_pd(serving.pd)
    if serving.prefill_server is None:
        if serving.prefill_tp or serving.prefill_pp or serving.prefill_ep:
            raise InvalidSpec("prefill_tp", "a prefill pool of its own layout needs --prefill-server: pools on the "
                                            "same servers share one layout")
        if p + d > cluster.max_replicas:
            raise InvalidSpec("pd", f"{p}+{d} replicas need {(p + d) * cluster.chips_per_replica} chips at "
                                    f"tp={cluster.tp}, pp={cluster.pp}; "
                                    f"{cluster.servers} x {cluster.server.name} have "
                                    f"{cluster.servers * cluster.server.chips} (add --servers)")
        return [Pool("prefill", cluster, p), Pool("decode", cluster, d, first=p)]
    server = prefill_server
    if server is None or server.name != serving.prefill_server:
        raise InvalidSpec("prefill_server", f"{serving.prefill_server!r} must be resolved against the run's "
                                            "catalogue before the twin is built (twin.replay.RunSpec.build does)")
    tp, pp = serving.prefill_tp or server.chips, serving.prefill_pp or 1  # its own layout (DistServe)
    per_server = max(1, server.chips // (tp * pp))  # replicas of that layout on one prefill server
    spans = max(1, -(-(tp * pp) // server.chips))  # or servers one replica spans
    prefill = ClusterSpec(server, servers=-(-p // per_server) * spans, tp=tp, pp=pp, ep=serving.prefill_ep or 1)
    if d > cluster.max_replicas:
        raise InvalidSpec("pd", f"{d} decode replicas do not fit on {cluster.servers} x {cluster.server.name} "
                                f"at tp={cluster.tp}")
    return [Pool("prefill", prefill, p, servers_key="prefill"), Pool("decode", cluster, d)]


def servers_needed(pool: Pool) -> int:
    per = pool.cluster.replicas_per_server
    return math.ceil((pool.first + pool.count) / per) if per else (pool.first + pool.count) * pool.cluster.servers_per_replica
