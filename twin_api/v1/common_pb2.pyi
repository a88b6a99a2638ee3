from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TwinSpec(_message.Message):
    __slots__ = ("server", "model", "servers", "tp", "replicas", "policy", "serving", "pp", "ep", "label", "definitions_yaml", "overrides_yaml")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    TP_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    PP_FIELD_NUMBER: _ClassVar[int]
    EP_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DEFINITIONS_YAML_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_YAML_FIELD_NUMBER: _ClassVar[int]
    server: str
    model: str
    servers: int
    tp: int
    replicas: int
    policy: QuantPolicy
    serving: ServingConfig
    pp: int
    ep: int
    label: str
    definitions_yaml: str
    overrides_yaml: str
    def __init__(self, server: _Optional[str] = ..., model: _Optional[str] = ..., servers: _Optional[int] = ..., tp: _Optional[int] = ..., replicas: _Optional[int] = ..., policy: _Optional[_Union[QuantPolicy, _Mapping]] = ..., serving: _Optional[_Union[ServingConfig, _Mapping]] = ..., pp: _Optional[int] = ..., ep: _Optional[int] = ..., label: _Optional[str] = ..., definitions_yaml: _Optional[str] = ..., overrides_yaml: _Optional[str] = ...) -> None: ...

class QuantPolicy(_message.Message):
    __slots__ = ("weights", "kv")
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    KV_FIELD_NUMBER: _ClassVar[int]
    weights: str
    kv: str
    def __init__(self, weights: _Optional[str] = ..., kv: _Optional[str] = ...) -> None: ...

class ServingConfig(_message.Message):
    __slots__ = ("max_batch", "policy", "chunk_tokens", "block_tokens", "preemption", "router", "fidelity", "sample_every_s", "seed", "pd", "prefill_server", "prefill_router", "decode_router", "prefix_cache", "prefix_cache_share", "prefix_cache_gb", "prefix_cache_host_gb", "speculative", "acceptance", "acceptance_dist", "draft_model", "draft_skip", "moe_routing", "moe_zipf_s", "max_context", "on_long_request", "micro_batches", "prefill_tp", "prefill_pp", "prefill_ep", "expert_placement", "gpu_stack")
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CHUNK_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PREEMPTION_FIELD_NUMBER: _ClassVar[int]
    ROUTER_FIELD_NUMBER: _ClassVar[int]
    FIDELITY_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_EVERY_S_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PD_FIELD_NUMBER: _ClassVar[int]
    PREFILL_SERVER_FIELD_NUMBER: _ClassVar[int]
    PREFILL_ROUTER_FIELD_NUMBER: _ClassVar[int]
    DECODE_ROUTER_FIELD_NUMBER: _ClassVar[int]
    PREFIX_CACHE_FIELD_NUMBER: _ClassVar[int]
    PREFIX_CACHE_SHARE_FIELD_NUMBER: _ClassVar[int]
    PREFIX_CACHE_GB_FIELD_NUMBER: _ClassVar[int]
    PREFIX_CACHE_HOST_GB_FIELD_NUMBER: _ClassVar[int]
    SPECULATIVE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCE_DIST_FIELD_NUMBER: _ClassVar[int]
    DRAFT_MODEL_FIELD_NUMBER: _ClassVar[int]
    DRAFT_SKIP_FIELD_NUMBER: _ClassVar[int]
    MOE_ROUTING_FIELD_NUMBER: _ClassVar[int]
    MOE_ZIPF_S_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ON_LONG_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MICRO_BATCHES_FIELD_NUMBER: _ClassVar[int]
    PREFILL_TP_FIELD_NUMBER: _ClassVar[int]
    PREFILL_PP_FIELD_NUMBER: _ClassVar[int]
    PREFILL_EP_FIELD_NUMBER: _ClassVar[int]
    EXPERT_PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    GPU_STACK_FIELD_NUMBER: _ClassVar[int]
    max_batch: int
    policy: str
    chunk_tokens: int
    block_tokens: int
    preemption: str
    router: str
    fidelity: str
    sample_every_s: float
    seed: int
    pd: str
    prefill_server: str
    prefill_router: str
    decode_router: str
    prefix_cache: str
    prefix_cache_share: float
    prefix_cache_gb: float
    prefix_cache_host_gb: float
    speculative: int
    acceptance: float
    acceptance_dist: _containers.RepeatedScalarFieldContainer[float]
    draft_model: str
    draft_skip: float
    moe_routing: str
    moe_zipf_s: float
    max_context: int
    on_long_request: str
    micro_batches: int
    prefill_tp: int
    prefill_pp: int
    prefill_ep: int
    expert_placement: str
    gpu_stack: str
    def __init__(self, max_batch: _Optional[int] = ..., policy: _Optional[str] = ..., chunk_tokens: _Optional[int] = ..., block_tokens: _Optional[int] = ..., preemption: _Optional[str] = ..., router: _Optional[str] = ..., fidelity: _Optional[str] = ..., sample_every_s: _Optional[float] = ..., seed: _Optional[int] = ..., pd: _Optional[str] = ..., prefill_server: _Optional[str] = ..., prefill_router: _Optional[str] = ..., decode_router: _Optional[str] = ..., prefix_cache: _Optional[str] = ..., prefix_cache_share: _Optional[float] = ..., prefix_cache_gb: _Optional[float] = ..., prefix_cache_host_gb: _Optional[float] = ..., speculative: _Optional[int] = ..., acceptance: _Optional[float] = ..., acceptance_dist: _Optional[_Iterable[float]] = ..., draft_model: _Optional[str] = ..., draft_skip: _Optional[float] = ..., moe_routing: _Optional[str] = ..., moe_zipf_s: _Optional[float] = ..., max_context: _Optional[int] = ..., on_long_request: _Optional[str] = ..., micro_batches: _Optional[int] = ..., prefill_tp: _Optional[int] = ..., prefill_pp: _Optional[int] = ..., prefill_ep: _Optional[int] = ..., expert_placement: _Optional[str] = ..., gpu_stack: _Optional[str] = ...) -> None: ...

class Slo(_message.Message):
    __slots__ = ("ttft_s", "tpot_s")
    TTFT_S_FIELD_NUMBER: _ClassVar[int]
    TPOT_S_FIELD_NUMBER: _ClassVar[int]
    ttft_s: float
    tpot_s: float
    def __init__(self, ttft_s: _Optional[float] = ..., tpot_s: _Optional[float] = ...) -> None: ...

class TraceRequest(_message.Message):
    __slots__ = ("request_id", "arrival_s", "input_tokens", "output_tokens", "session_id", "block_ids")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_S_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_IDS_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    arrival_s: float
    input_tokens: int
    output_tokens: int
    session_id: str
    block_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, request_id: _Optional[int] = ..., arrival_s: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., session_id: _Optional[str] = ..., block_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class RequestRecord(_message.Message):
    __slots__ = ("request_id", "replica", "state", "arrival_s", "input_tokens", "output_tokens", "first_token_s", "finish_s", "preemptions", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_S_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TOKEN_S_FIELD_NUMBER: _ClassVar[int]
    FINISH_S_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    replica: int
    state: str
    arrival_s: float
    input_tokens: int
    output_tokens: int
    first_token_s: float
    finish_s: float
    preemptions: int
    reason: str
    def __init__(self, request_id: _Optional[int] = ..., replica: _Optional[int] = ..., state: _Optional[str] = ..., arrival_s: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., first_token_s: _Optional[float] = ..., finish_s: _Optional[float] = ..., preemptions: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class SeriesSample(_message.Message):
    __slots__ = ("t_s", "name", "value")
    T_S_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    t_s: float
    name: str
    value: float
    def __init__(self, t_s: _Optional[float] = ..., name: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class ComponentFigures(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, float]
    def __init__(self, values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TraceColumns(_message.Message):
    __slots__ = ("request_id", "arrival_s", "input_tokens", "output_tokens", "session_id", "block_counts", "block_ids", "block_sizes")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_S_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_COUNTS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_IDS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZES_FIELD_NUMBER: _ClassVar[int]
    request_id: _containers.RepeatedScalarFieldContainer[int]
    arrival_s: _containers.RepeatedScalarFieldContainer[float]
    input_tokens: _containers.RepeatedScalarFieldContainer[int]
    output_tokens: _containers.RepeatedScalarFieldContainer[int]
    session_id: _containers.RepeatedScalarFieldContainer[str]
    block_counts: _containers.RepeatedScalarFieldContainer[int]
    block_ids: _containers.RepeatedScalarFieldContainer[int]
    block_sizes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, request_id: _Optional[_Iterable[int]] = ..., arrival_s: _Optional[_Iterable[float]] = ..., input_tokens: _Optional[_Iterable[int]] = ..., output_tokens: _Optional[_Iterable[int]] = ..., session_id: _Optional[_Iterable[str]] = ..., block_counts: _Optional[_Iterable[int]] = ..., block_ids: _Optional[_Iterable[int]] = ..., block_sizes: _Optional[_Iterable[int]] = ...) -> None: ...

class RequestRecordColumns(_message.Message):
    __slots__ = ("request_id", "replica", "state", "arrival_s", "input_tokens", "output_tokens", "first_token_s", "finish_s", "preemptions", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_S_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TOKEN_S_FIELD_NUMBER: _ClassVar[int]
    FINISH_S_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: _containers.RepeatedScalarFieldContainer[int]
    replica: _containers.RepeatedScalarFieldContainer[int]
    state: _containers.RepeatedScalarFieldContainer[str]
    arrival_s: _containers.RepeatedScalarFieldContainer[float]
    input_tokens: _containers.RepeatedScalarFieldContainer[int]
    output_tokens: _containers.RepeatedScalarFieldContainer[int]
    first_token_s: _containers.RepeatedScalarFieldContainer[float]
    finish_s: _containers.RepeatedScalarFieldContainer[float]
    preemptions: _containers.RepeatedScalarFieldContainer[int]
    reason: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[_Iterable[int]] = ..., replica: _Optional[_Iterable[int]] = ..., state: _Optional[_Iterable[str]] = ..., arrival_s: _Optional[_Iterable[float]] = ..., input_tokens: _Optional[_Iterable[int]] = ..., output_tokens: _Optional[_Iterable[int]] = ..., first_token_s: _Optional[_Iterable[float]] = ..., finish_s: _Optional[_Iterable[float]] = ..., preemptions: _Optional[_Iterable[int]] = ..., reason: _Optional[_Iterable[str]] = ...) -> None: ...

class SeriesColumns(_message.Message):
    __slots__ = ("t_s", "name", "value")
    T_S_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    t_s: _containers.RepeatedScalarFieldContainer[float]
    name: _containers.RepeatedScalarFieldContainer[str]
    value: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, t_s: _Optional[_Iterable[float]] = ..., name: _Optional[_Iterable[str]] = ..., value: _Optional[_Iterable[float]] = ...) -> None: ...
