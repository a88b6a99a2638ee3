"""How a simulation's replicas are laid out: one colocated pool, or a prefill pool and a decode pool.

A pool is a `ClusterSpec` cut into replicas: replica i of a pool sits on server
i // (chips per server / tp) of that pool's servers. Colocated: every replica of the
cluster serves whole requests. Disaggregated (`pd` P:D): on the same server type the first
P replicas prefill and the next D decode, in one layout or (`prefill_tp`, `prefill_pp`,
`prefill_ep`) the prefill pool in its own, on the first chips, and the decode pool after it;
with `prefill_server` the P prefill replicas are servers of that type (default: tp = its
chips), beside the decode cluster.
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
    chip_base: int = 0  # where replica 0 of the layout starts, counting the chips of the pool's servers in turn

    def chip(self, i: int) -> int:
        """The first chip of the pool's i-th replica, counting the chips of the pool's servers in turn."""
        return self.chip_base + (self.first + i) * self.cluster.chips_per_replica

    def server_of(self, i: int) -> int:
        """Server index (within this pool's servers) of the pool's i-th replica (its first, if it spans)."""
        return self.chip(i) // self.cluster.server.chips

    def first_chip(self, i: int) -> int:
        return self.chip(i) % self.cluster.server.chips

    @property
    def chips(self) -> tuple[int, int]:
        """[first, end) of the chips the pool's replicas hold, counted as in `chip`."""
        return self.chip(0), self.chip(self.count)


def pools(cluster: ClusterSpec, serving: ServingConfig, prefill_server: ServerSpec | None = None) -> list[Pool]:
    """The pools of a deployment; `prefill_server` is the server serving.prefill_server names, resolved at the
    edge (twin.replay.RunSpec.build): the core never looks a name up."""
    if serving.pd is None:
        return [Pool("both", cluster, cluster.n_replicas)]
    p, d = parse_pd(serving.pd)
    if serving.prefill_server is None:
        if serving.prefill_tp or serving.prefill_pp or serving.prefill_ep:
            return _shared_servers(cluster, serving, p, d)
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


def _shared_servers(cluster: ClusterSpec, serving: ServingConfig, p: int, d: int) -> list[Pool]:
    """The prefill pool in a layout of its own on the run's servers: its replicas on the first chips, the
    decode replicas after them (from a chip where their own layout can start), all on `cluster.servers`."""
    tp, pp = serving.prefill_tp or cluster.tp, serving.prefill_pp or cluster.pp
    ep = serving.prefill_ep or (cluster.ep if tp == cluster.tp else 1)
    prefill = ClusterSpec(cluster.server, servers=cluster.servers, tp=tp, pp=pp, ep=ep)
    per, step = cluster.server.chips, min(cluster.chips_per_replica, cluster.server.chips)
    base = -(-(p * prefill.chips_per_replica) // step) * step  # decode replicas start on their own boundary
    need, have = base + d * cluster.chips_per_replica, cluster.servers * per
    if need > have:
        raise InvalidSpec("pd", f"--pd {p}:{d} with prefill replicas at tp={tp}, pp={pp} and decode replicas at "
                                f"tp={cluster.tp}, pp={cluster.pp} needs {need} chips; {cluster.servers} x "
                                f"{cluster.server.name} have {have} (add --servers)")
    return [Pool("prefill", prefill, p), Pool("decode", cluster, d, chip_base=base)]


def server_layout(group: list[Pool]) -> list[tuple[ClusterSpec, int, int]] | None:
    """How the servers that `group`'s pools share are wired: (layout, first chip, end chip) per pool, counting
    the chips of those servers in turn; None when the pools share one layout (the servers' whole)."""
    if all(pool.cluster == group[0].cluster for pool in group):
        return None
    return [(pool.cluster, *pool.chips) for pool in group]


def servers_needed(pool: Pool) -> int:
    return math.ceil(pool.chip(pool.count) / pool.cluster.server.chips)
