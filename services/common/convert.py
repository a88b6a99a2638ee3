"""Conversions between twin_api.v1 messages and the core's dataclasses, both ways."""

from __future__ import annotations

from twin.config import ServingConfig
from twin.metrics import RequestRecord, SeriesSample
from twin.replay import RunSpec
from twin.serving.request import TraceRequest
from twin.summary import Slo
from twin_api.v1 import common_pb2

from twin.serving.fields import FIELDS  # noqa: E402  (one table of serving fields)

# every serving field travels as the proto field of its name; acceptance_dist, a pair, as a repeated field
_SERVING_FIELDS = tuple(f.name for f in FIELDS if f.name != "acceptance_dist")


def _set_fields(msg, names) -> dict:
    """The optional fields of `msg` that are set, as a dict."""
    return {name: getattr(msg, name) for name in names if msg.HasField(name)}


def run_spec(msg: common_pb2.TwinSpec, slo: Slo = Slo()) -> RunSpec:
    """A RunSpec from a TwinSpec; unset fields take the core's defaults (tp: all chips of a server)."""
    from twin.catalog import catalog_for
    from twin.errors import InvalidSpec
    if not msg.server or not msg.model:
        raise InvalidSpec("spec.server" if not msg.server else "spec.model", "is required")
    definitions = _yaml_mapping(msg.definitions_yaml, "spec.definitions_yaml", MAX_DEFINITIONS_BYTES)
    overrides = _yaml_mapping(msg.overrides_yaml, "spec.overrides_yaml", MAX_OVERRIDES_BYTES)
    catalog = catalog_for(definitions)
    server = catalog.server(msg.server, overrides or {})
    catalog.model(msg.model, overrides or {})
    tp = msg.tp if msg.HasField("tp") else server.chips
    return RunSpec(server=msg.server, model=msg.model, servers=msg.servers if msg.HasField("servers") else 1,
                   tp=tp, replicas=msg.replicas if msg.HasField("replicas") else None,
                   weights=msg.policy.weights or "fp16", kv=msg.policy.kv or "fp16",
                   serving=_serving(msg.serving), slo=slo,
                   definitions=definitions, overrides=overrides, pp=msg.pp if msg.HasField("pp") else 1,
                   ep=msg.ep if msg.HasField("ep") else 1, label=msg.label or None)


MAX_DEFINITIONS_BYTES = 64 * 1024
MAX_OVERRIDES_BYTES = 4 * 1024


def _yaml_mapping(text: str, field: str, limit: int) -> dict | None:
    """An optional YAML mapping sent as text: bounded (as text and once loaded: no anchors or aliases, bounded
    nesting), parsed safely, refused with the field's name."""
    from twin import yamltext
    from twin.errors import InvalidSpec
    if not text:
        return None
    if len(text.encode()) > limit:
        raise InvalidSpec(field, f"larger than its limit of {limit // 1024} KB")
    data = yamltext.load(text, field)
    if not isinstance(data, dict):
        raise InvalidSpec(field, "must be a YAML mapping")
    return data


def _serving(msg: common_pb2.ServingConfig) -> ServingConfig:
    """The core's ServingConfig; a bad value raises InvalidSpec naming `spec.serving.<field>`."""
    from twin.errors import InvalidSpec
    fields = _set_fields(msg, _SERVING_FIELDS)
    if msg.acceptance_dist:
        fields["acceptance_dist"] = tuple(msg.acceptance_dist)
    try:
        return ServingConfig(**fields)
    except InvalidSpec as exc:
        raise InvalidSpec(f"spec.serving.{exc.field}", exc.message) from None


def twin_spec(spec: RunSpec) -> common_pb2.TwinSpec:
    import yaml
    serving = {name: getattr(spec.serving, name) for name in _SERVING_FIELDS}
    serving["acceptance_dist"] = list(spec.serving.acceptance_dist or ())
    return common_pb2.TwinSpec(server=spec.server, model=spec.model, servers=spec.servers, tp=spec.tp, pp=spec.pp,
                               ep=spec.ep, label=spec.label or "",
                               replicas=spec.replicas, policy=common_pb2.QuantPolicy(weights=spec.weights, kv=spec.kv),
                               serving=common_pb2.ServingConfig(**serving),
                               definitions_yaml=yaml.safe_dump(spec.definitions) if spec.definitions else "",
                               overrides_yaml=yaml.safe_dump(spec.overrides) if spec.overrides else "")


def slo(msg: common_pb2.Slo) -> Slo:
    return Slo(msg.ttft_s if msg.HasField("ttft_s") else None, msg.tpot_s if msg.HasField("tpot_s") else None)


def slo_msg(value: Slo) -> common_pb2.Slo:
    return common_pb2.Slo(ttft_s=value.ttft_s, tpot_s=value.tpot_s)


def trace_request(msg: common_pb2.TraceRequest) -> TraceRequest:
    return TraceRequest(msg.request_id, msg.arrival_s, msg.input_tokens, msg.output_tokens,
                        msg.session_id or None, tuple(msg.block_ids))


def trace_request_msg(r: TraceRequest) -> common_pb2.TraceRequest:
    return common_pb2.TraceRequest(request_id=r.request_id, arrival_s=r.arrival_s, input_tokens=r.input_tokens,
                                   output_tokens=r.output_tokens, session_id=r.session_id or "",
                                   block_ids=list(r.block_ids))


def record(msg: common_pb2.RequestRecord) -> RequestRecord:
    return RequestRecord(msg.request_id, msg.replica, msg.state, msg.arrival_s, msg.input_tokens,
                         msg.output_tokens, msg.first_token_s if msg.HasField("first_token_s") else None,
                         msg.finish_s if msg.HasField("finish_s") else None, msg.preemptions, msg.reason)


def record_msg(r: RequestRecord) -> common_pb2.RequestRecord:
    return common_pb2.RequestRecord(
        request_id=int(r.request_id), replica=int(r.replica), state=str(r.state), arrival_s=float(r.arrival_s),
        input_tokens=int(r.input_tokens), output_tokens=int(r.output_tokens),
        first_token_s=None if r.first_token_s is None else float(r.first_token_s),
        finish_s=None if r.finish_s is None else float(r.finish_s), preemptions=int(r.preemptions),
        reason=str(r.reason))


def sample_msg(s: SeriesSample) -> common_pb2.SeriesSample:
    return common_pb2.SeriesSample(t_s=float(s.t_s), name=str(s.name), value=float(s.value))


def figures_msgs(components: dict[str, dict[str, float]]) -> dict[str, common_pb2.ComponentFigures]:
    return {name: common_pb2.ComponentFigures(values={k: float(v) for k, v in values.items()})
            for name, values in components.items()}


def figures(msgs) -> dict[str, dict[str, float]]:
    return {name: dict(msg.values) for name, msg in msgs.items()}
