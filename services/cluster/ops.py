"""The ClusterTwin operations, each a function of (twin, request message) -> reply message.

The unary calls and a Session both use them, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import socket

from google.protobuf import struct_pb2

from services.cluster.twins import Twin
from services.common import columns, convert
from twin.errors import InvalidSpec, quote
from twin.quant.schemes import QuantPolicy
from twin_api.v1 import cluster_pb2

DEFAULT_BATCH = 2000
# Most records in one RecordBatch, whatever a client asks: about 80 bytes a record as messages
# or columns, so a batch stays far under the servers' 16 MiB message limit.
MAX_BATCH = 50_000
STATUSES = ("complete", "cancelled", "interrupted", "failed")


def twin_msg(twin: Twin) -> cluster_pb2.Twin:
    sim = twin.sim
    return cluster_pb2.Twin(twin_id=twin.twin_id, replicas=len(sim.replicas),
                            kv_capacity_tokens=sim.memory.kv_blocks * sim.serving.block_tokens,
                            weight_bytes_per_chip=sim.memory.weight_bytes, policy=sim.policy.label, now_s=sim.now_s,
                            replica=f"{socket.gethostname()}/{os.getpid()}")


def submit(twin: Twin, request: cluster_pb2.SubmitRequest) -> cluster_pb2.SubmitReply:
    requests = [convert.trace_request(r) for r in request.requests]
    if request.HasField("columns"):
        requests += columns.trace_requests(request.columns)
    return cluster_pb2.SubmitReply(submitted=twin.submit(requests))


def advance(twin: Twin, request: cluster_pb2.AdvanceRequest, is_active=lambda: True) -> cluster_pb2.Progress:
    until = request.until_s if request.HasField("until_s") else None
    if request.step_s < 0 or request.step_s != request.step_s:
        raise InvalidSpec("step_s", f"must be a number of seconds of 0 or more, got {request.step_s}")
    now, finished, submitted, error = twin.advance(until, is_active, request.step_s or None)
    return cluster_pb2.Progress(now_s=now, finished=finished, submitted=submitted, error=error)


def drain(twin: Twin, request: cluster_pb2.DrainRequest):
    """Batches of the records made since the last drain, at most `batch_records` records and
    samples each (as messages, or as columns); the final one has last=True."""
    size = min(request.batch_records or DEFAULT_BATCH, MAX_BATCH)
    requests, samples = twin.drain()
    r_at = s_at = 0
    while True:
        some_r = requests[r_at:r_at + size]
        some_s = samples[s_at:s_at + size - len(some_r)]
        r_at, s_at = r_at + len(some_r), s_at + len(some_s)
        batch = _batch(some_r, some_s, request.columns)
        batch.last = r_at >= len(requests) and s_at >= len(samples)
        yield batch
        if batch.last:
            return


def _batch(requests: list, samples: list, as_columns: bool) -> cluster_pb2.RecordBatch:
    if as_columns:
        return cluster_pb2.RecordBatch(request_columns=columns.record_columns(requests),
                                       sample_columns=columns.sample_columns(samples))
    return cluster_pb2.RecordBatch(requests=[convert.record_msg(r) for r in requests],
                                   samples=[convert.sample_msg(s) for s in samples])


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
