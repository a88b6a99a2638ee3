"""A disaggregated deployment's two pools and the KV transfers between them (SimPy side).

`Disaggregation` holds the prefill and decode replicas, the decode-phase router and the
links. When a prefill step starts, each request it will complete is given a decode
replica; if that replica has KV room the transfer is reserved at once, its layers
starting as the prefill finishes them (`twin.serving.disaggregation.reserve`); if not,
the request waits, holding its KV on the prefill replica, until a decode replica frees
room. The request joins the decode batch when both its prefill has ended and its last
layer has arrived; that moment is its first token.
"""

from __future__ import annotations

from collections import deque

import simpy

from twin.serving.disaggregation import KvLink, TransferLog, layer_ready_times, reserve
from twin.serving.features import DecodeSide, PrefillSide
from twin.serving.request import Request
from twin.serving.router import make_router


class Disaggregation:
    """The pool of a disaggregated deployment. Its replicas each hold one of its sides (twin.serving.features:
    `PrefillSide`, `DecodeSide`), which call it; `links_between(src, dst)` gives the links KV crosses from
    one replica to another."""

    def __init__(self, env: simpy.Environment, decode_router: str, links_between):
        self.env = env
        self.decode: list[DecodeSide] = []
        self.router = make_router(decode_router)
        self.links_between = links_between
        self.log = TransferLog()
        self.waiting: deque = deque()  # (request, prefill side, ready times, layer bytes, since, prefilled)
        self._emitted: dict[int, simpy.Event] = {}

    def side(self, role: str) -> PrefillSide | DecodeSide:
        """The feature a new replica of `role` holds."""
        if role == "prefill":
            return PrefillSide(self)
        side = DecodeSide(self)
        self.decode.append(side)
        return side

    def hand_off(self, src: PrefillSide, r: Request, start: float, shape) -> None:
        rep = src.rep
        cm = rep.cost
        ready = layer_ready_times(start, cm.server.host.step_overhead_s, rep.costs.layer(shape).time_s,
                                  cm.model.layers)
        emitted = self._emitted[r.id] = self.env.event()
        item = (r, src, ready, r.spec.input_tokens * cm.kv_token_layer_bytes, self.env.now, emitted)
        if self.waiting or not self._start(item, self._choose(r)):
            self.waiting.append(item)  # FIFO: no overtaking of requests already waiting for room

    def _choose(self, r: Request) -> DecodeSide:
        loads = [side.rep.outstanding_tokens for side in self.decode]
        return self.decode[self.router.choose(loads)]

    def _start(self, item, dst: DecodeSide) -> bool:
        r, src, ready, layer_bytes, since, emitted = item
        if not dst.room_for(r):
            found = next((side for side in self.decode if side.room_for(r)), None)
            if found is None:
                return False
            dst = found
        dst.reserve_incoming(r)
        transfer = reserve(self.links_between(src.rep, dst.rep), ready, layer_bytes, self.env.now)
        self.log.add(transfer, self.env.now - since, r.id)
        self.env.process(self._finish(r, src, dst, transfer.end_s, emitted))
        return True

    def prefilled(self, r: Request) -> None:
        """The prefill replica has produced the request's first token."""
        self._emitted.pop(r.id).succeed()

    def room(self, side: DecodeSide) -> None:
        """A decode replica freed KV: start the transfers waiting for room, oldest first."""
        while self.waiting and self._start(self.waiting[0], side):
            self.waiting.popleft()

    def _finish(self, r: Request, src: PrefillSide, dst: DecodeSide, end_s: float, emitted: simpy.Event):
        yield self.env.all_of([self.env.timeout(max(0.0, end_s - self.env.now)), emitted])
        src.transferred_out(r)
        r.first_token_s = self.env.now  # the first token leaves from the decode side
        dst.deliver(r)


def server_links(server, index: int) -> dict[str, KvLink]:
    """The KV links of one server: the ESL joining two replicas on it, and its NICs out and in.

    Two replicas on one server exchange KV over the ring links that join their chip groups
    (two of them in a ring), each hop adding the link's latency; across servers the KV leaves
    through the sender's NICs and enters through the receiver's.
    """
    esl = server.link
    links = {"esl": KvLink(f"server{index}/esl-kv", 2 * esl.bytes_per_s, esl.hop_latency_s * server.chips / 2)}
    net = server.network
    if net is not None:
        links["out"] = KvLink(f"server{index}/nic-out", net.bytes_per_s, net.latency_s)
        links["in"] = KvLink(f"server{index}/nic-in", net.bytes_per_s, 0.0)
    return links
