"""The ClusterTwin operations, each a function of (twin, request message) -> reply message.

The unary calls and a Session both use them, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import socket

from google.protobuf import struct_pb2

from services.cluster.twins import Twin
from services.common import convert
from twin.errors import InvalidSpec, quote
from twin.quant.schemes import QuantPolicy
from twin_api.v1 import cluster_pb2

DEFAULT_BATCH = 2000
STATUSES = ("complete", "cancelled", "interrupted", "failed")


def twin_msg(twin: Twin) -> cluster_pb2.Twin:
    sim = twin.sim
    return cluster_pb2.Twin(twin_id=twin.twin_id, replicas=len(sim.replicas),
                            kv_capacity_tokens=sim.memory.kv_blocks * sim.serving.block_tokens,
                            weight_bytes_per_chip=sim.memory.weight_bytes, policy=sim.policy.label, now_s=sim.now_s,
                            replica=f"{socket.gethostname()}/{os.getpid()}")


def submit(twin: Twin, request: cluster_pb2.SubmitRequest) -> cluster_pb2.SubmitReply:
    return cluster_pb2.SubmitReply(submitted=twin.submit([convert.trace_request(r) for r in request.requests]))


def advance(twin: Twin, request: cluster_pb2.AdvanceRequest, is_active=lambda: True) -> cluster_pb2.Progress:
    until = request.until_s if request.HasField("until_s") else None
    now, finished, submitted, error = twin.advance(until, is_active)
    return cluster_pb2.Progress(now_s=now, finished=finished, submitted=submitted, error=error)


def drain(twin: Twin, request: cluster_pb2.DrainRequest):
    """Batches of the records made since the last drain; the final one has last=True."""
    size = request.batch_records or DEFAULT_BATCH
    requests, samples = twin.drain()
    r_at = s_at = 0
    while True:
        batch = cluster_pb2.RecordBatch(requests=[convert.record_msg(r) for r in requests[r_at:r_at + size]])
        room = size - len(batch.requests)
        batch.samples.extend(convert.sample_msg(s) for s in samples[s_at:s_at + room])
        r_at, s_at = r_at + len(batch.requests), s_at + len(batch.samples)
        batch.last = r_at >= len(requests) and s_at >= len(samples)
        yield batch
        if batch.last:
            return


def summarize(twin: Twin, request: cluster_pb2.SummarizeRequest) -> cluster_pb2.TwinSummary:
    status = request.status or "complete"
    if status not in STATUSES:
        raise InvalidSpec("status", f"must be one of {', '.join(STATUSES)}, got {quote(status)}")
    summary, components = twin.summarize(convert.slo(request.slo), status)
    return cluster_pb2.TwinSummary(summary_json=json.dumps(summary), components=convert.figures_msgs(components))


def component(twin: Twin, request: cluster_pb2.ComponentRequest) -> cluster_pb2.ComponentState:
    state = struct_pb2.Struct()
    state.update(twin.component(request.path))
    return cluster_pb2.ComponentState(path=request.path, state=state)


def set_policy(twin: Twin, request: cluster_pb2.SetPolicyRequest) -> cluster_pb2.Twin:
    twin.set_policy(QuantPolicy.named(request.policy.weights or "fp16", request.policy.kv or "fp16"))
    return twin_msg(twin)
