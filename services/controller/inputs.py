"""A replay request's inputs, checked before any run exists: the spec, and the trace it names.

Clients name built-in traces, synthetic sources or their own uploads: never a path on
the controller's disk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from services.common import convert
from services.controller.uploads import UploadStore
from services.limits import RunLimits
from twin.errors import InvalidSpec, quote
from twin.replay import RunSpec
from twin.traces import BUILTIN_TRACES, LoadedTrace, TraceOptions, load_trace, parse_mapping, parse_synthetic
from twin_api.v1 import controller_pb2


class TraceCache:
    """Built-in and synthetic traces as loaded with given options, the most recent `size` kept.

    Reading the Azure trace costs a fifth of a second of CPU; many clients replay the same
    slice, and a loaded trace is never changed, so it is shared.
    """

    def __init__(self, size: int = 16):
        self.size = size
        self._traces: OrderedDict[tuple[str, TraceOptions], LoadedTrace] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, name: str, options: TraceOptions) -> LoadedTrace:
        key = (name, options)
        with self._lock:  # held while loading: clients asking at once for one trace load it once
            if key not in self._traces:
                self._traces[key] = load_trace(name, options)
                while len(self._traces) > self.size:
                    self._traces.popitem(last=False)
            self._traces.move_to_end(key)
            return self._traces[key]


def replay_inputs(request: controller_pb2.ReplayRequest, uploads: UploadStore, traces: TraceCache,
                  check_spec: bool = True, limits: RunLimits | None = None) -> tuple[RunSpec, LoadedTrace]:
    """(spec, trace). Raises InvalidSpec, UnknownName or CapacityExceeded (the model does not fit,
    or the run asks for more than `limits` allow)."""
    limits = limits or RunLimits()
    spec = convert.run_spec(request.spec, convert.slo(request.slo))
    if check_spec:
        limits.check_spec(spec)
        spec.build()
    options = trace_options(request.options)  # the twin rejects or clamps over-long requests, counted
    trace = _trace(request.trace, options, uploads, traces, limits)
    limits.check_trace(trace)
    return spec, trace


def _trace(source: controller_pb2.TraceSource, options: TraceOptions, uploads: UploadStore, traces: TraceCache,
           limits: RunLimits) -> LoadedTrace:
    kind = source.WhichOneof("source")
    if kind == "upload_id":
        return uploads.load(uploads.get(source.upload_id), options)
    if kind is None or not source.name:
        raise InvalidSpec("trace", "give a built-in trace name, a synthetic: source or an upload id")
    name = _served_name(source.name)
    limits.check_source(name)
    return traces.load(name, options)


def _served_name(name: str) -> str:
    if name in BUILTIN_TRACES:
        return name
    if name.startswith("synthetic:") and parse_synthetic(name).lengths in (None, *BUILTIN_TRACES):
        return name
    raise InvalidSpec("trace.name", f"{quote(name)} is not a built-in trace ({', '.join(BUILTIN_TRACES)}) or a "
                                    "synthetic: source over built-in lengths; upload files with UploadTrace")


def trace_options(msg: controller_pb2.TraceOptions) -> TraceOptions:
    """The trace options of a request: the same fields, and the same no-clamping, as the CLI's (trace_options_from)."""
    def get(name: str, default=None):
        return getattr(msg, name) if msg.HasField(name) else default
    return TraceOptions(fmt=msg.format or None, mapping=parse_mapping(msg.mapping) if msg.mapping else None,
                        on_bad_row=msg.on_bad_row or "raise",
                        window_start_s=msg.window_start_s, window_end_s=get("window_end_s"),
                        sample_fraction=get("sample_fraction", 1.0), sample_seed=msg.sample_seed,
                        limit=get("limit"), speedup=get("speedup", 1.0), rate_rps=get("rate_rps"),
                        burstiness=get("burstiness"))
