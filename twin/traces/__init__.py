"""Request traces: public trace formats, synthetic arrivals, transforms and statistics.

Everything a caller needs is re-exported here::

    from twin.traces import TraceOptions, load_trace, trace_stats
    trace = load_trace("azure-conv-2023", TraceOptions(rate_rps=10, max_context=8192))
    print(trace_stats(trace.requests).to_dict())

Readers turn files into ``twin.serving.request.TraceRequest``; this package
imports nothing of the twin but that dataclass and ``twin.errors``.
"""

from twin.traces.builtin import BUILTIN_TRACES, BuiltinTrace, builtin_trace
from twin.traces.formats import FORMATS, ColumnMapping, FormatSpec, parse_mapping
from twin.traces.loader import LoadedTrace, TraceOptions, apply_options, load_trace
from twin.traces.readers import BadRows, detect_format, stream_requests
from twin.traces.stats import LengthStats, TraceStats, trace_stats
from twin.traces.synthetic import SyntheticSpec, generate, iter_synthetic, parse_synthetic
from twin.traces.transforms import clamp, limit, normalise, rate, renumber, sample, speedup, window

__all__ = [
    "BUILTIN_TRACES", "BuiltinTrace", "builtin_trace",
    "FORMATS", "ColumnMapping", "FormatSpec", "parse_mapping",
    "LoadedTrace", "TraceOptions", "apply_options", "load_trace",
    "BadRows", "detect_format", "stream_requests",
    "LengthStats", "TraceStats", "trace_stats",
    "SyntheticSpec", "generate", "iter_synthetic", "parse_synthetic",
    "clamp", "limit", "normalise", "rate", "renumber", "sample", "speedup", "window",
]
