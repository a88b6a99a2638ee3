"""Prefill/decode disaggregation: P prefill replicas, D decode replicas, the KV moved between them.

As in Splitwise (Patel et al., ISCA 2024) and DistServe (Zhong et al., OSDI 2024), a
request is prefilled on a prefill replica and decoded on a decode replica; its KV crosses
a link. Splitwise sends the KV layer by layer while the prefill is still computing the
later layers, so only the tail of the transfer shows; that is what `KvLink.reserve`
models: layer i may start once the prefill has finished layer i and the link is free.

A link is a FIFO of transfers (a contended resource whose queue order is arrival order),
accounted by reservation: each transfer reserves the link from when each layer may start
until its bytes have serialised; propagation latency is added once per layer on arrival.
Between two replicas of one server the link is the ESL ring (the two ring links joining
the two replicas' chip groups carry the shards); between servers it is the host network
(`network:` in the server YAML: NICs x bandwidth and a latency), contended at the
sender's egress and the receiver's ingress.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.errors import InvalidSpec


def parse_pd(text: str) -> tuple[int, int]:
    """'P:D' -> (P prefill replicas, D decode replicas)."""
    p, sep, d = str(text).partition(":")
    try:
        pools = int(p), int(d)
    except ValueError:
        pools = (0, 0)
    if not sep or min(pools) < 1:
        raise InvalidSpec("pd", f"expected P:D with P, D >= 1 replicas (e.g. 1:1), got {text!r}")
    return pools


@dataclass
class KvLink:
    """A one-way link for KV: `bytes_per_s`, `latency_s`, free from `free_at` on (FIFO reservation)."""

    name: str
    bytes_per_s: float
    latency_s: float
    free_at: float = 0.0
    busy_s: float = 0.0
    bytes_moved: float = 0.0


@dataclass(frozen=True)
class Transfer:
    """One request's KV transfer: when each layer started, when the last layer arrived."""

    bytes: float
    layer_starts: tuple[float, ...]
    end_s: float
    ready_end_s: float  # when the prefill finished its last layer
    ready: tuple[float, ...] = ()  # when the prefill finished each layer

    @property
    def start_s(self) -> float:
        return self.layer_starts[0]

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def exposed_s(self) -> float:
        """Time the transfer ran past the prefill's last layer."""
        return max(0.0, self.end_s - self.ready_end_s)


def reserve(links: list[KvLink], ready: list[float], layer_bytes: float, not_before: float) -> Transfer:
    """Send one layer's KV after another over every link of `links` (all carry the bytes: a path).

    Layer i starts at max(its prefill layer done, the previous layer sent, every link free,
    `not_before`), and occupies the links for bytes / the slowest link's rate.
    """
    rate = min(link.bytes_per_s for link in links)
    latency = sum(link.latency_s for link in links)
    free = max([not_before] + [link.free_at for link in links])
    starts, serial = [], layer_bytes / rate if rate != float("inf") else 0.0
    for t in ready:
        start = max(t, free)
        starts.append(start)
        free = start + serial
    for link in links:
        link.free_at = free
        link.busy_s += serial * len(ready)
        link.bytes_moved += layer_bytes * len(ready)
    return Transfer(layer_bytes * len(ready), tuple(starts), free + latency, ready[-1] if ready else not_before,
                    tuple(ready))


def layer_ready_times(start_s: float, overhead_s: float, layer_s: float, layers: int) -> list[float]:
    """When each layer of a prefill step starting at `start_s` is done (the host's step overhead comes first)."""
    return [start_s + overhead_s + (i + 1) * layer_s for i in range(layers)]


@dataclass
class TransferLog:
    """What the transfers of a run moved and how long they took."""

    bytes: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    exposed: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)  # time a prefilled request waited for decode KV room
    transfers: dict[int, Transfer] = field(default_factory=dict)  # by request id (the last one), for checks

    def add(self, t: Transfer, wait_s: float, request_id: int = -1) -> None:
        self.transfers[request_id] = t
        self.bytes.append(t.bytes)
        self.durations.append(t.duration_s)
        self.exposed.append(t.exposed_s)
        self.waits.append(wait_s)

    def summary(self) -> dict:
        if not self.bytes:
            return {"transfers": 0}
        import numpy as np  # here: the replay path loads numpy only when a run has transfers to sum up
        d, total = np.asarray(self.durations), float(sum(self.durations))
        return {"transfers": len(self.bytes), "kv_gb_moved": float(sum(self.bytes)) / 1e9,
                "transfer_mean_s": float(d.mean()), "transfer_p99_s": float(np.percentile(d, 99)),
                "hidden_share": 1 - float(sum(self.exposed)) / total if total > 0 else 1.0,
                "wait_for_room_mean_s": float(np.mean(self.waits))}
