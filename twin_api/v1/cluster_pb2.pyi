from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from twin_api.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateTwinRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _common_pb2.TwinSpec
    def __init__(self, spec: _Optional[_Union[_common_pb2.TwinSpec, _Mapping]] = ...) -> None: ...

class Twin(_message.Message):
    __slots__ = ("twin_id", "replicas", "kv_capacity_tokens", "weight_bytes_per_chip", "policy", "now_s", "replica")
    TWIN_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    KV_CAPACITY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_BYTES_PER_CHIP_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    NOW_S_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    twin_id: str
    replicas: int
    kv_capacity_tokens: int
    weight_bytes_per_chip: float
    policy: str
    now_s: float
    replica: str
    def __init__(self, twin_id: _Optional[str] = ..., replicas: _Optional[int] = ..., kv_capacity_tokens: _Optional[int] = ..., weight_bytes_per_chip: _Optional[float] = ..., policy: _Optional[str] = ..., now_s: _Optional[float] = ..., replica: _Optional[str] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("twin_id", "requests", "columns")
    TWIN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    twin_id: str
    requests: _containers.RepeatedCompositeFieldContainer[_common_pb2.TraceRequest]
    columns: _common_pb2.TraceColumns
    def __init__(self, twin_id: _Optional[str] = ..., requests: _Optional[_Iterable[_Union[_common_pb2.TraceRequest, _Mapping]]] = ..., columns: _Optional[_Union[_common_pb2.TraceColumns, _Mapping]] = ...) -> None: ...

class SubmitReply(_message.Message):
    __slots__ = ("submitted",)
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    submitted: int
    def __init__(self, submitted: _Optional[int] = ...) -> None: ...

class AdvanceRequest(_message.Message):
    __slots__ = ("twin_id", "until_s", "step_s")
    TWIN_ID_FIELD_NUMBER: _ClassVar[int]
    UNTIL_S_FIELD_NUMBER: _ClassVar[int]
    STEP_S_FIELD_NUMBER: _ClassVar[int]
    twin_id: str
    until_s: float
    step_s: float
    def __init__(self, twin_id: _Optional[str] = ..., until_s: _Optional[float] = ..., step_s: _Optional[float] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("now_s", "finished", "submitted", "error")
    NOW_S_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    now_s: float
    finished: int
    submitted: int
    error: str
    def __init__(self, now_s: _Optional[float] = ..., finished: _Optional[int] = ..., submitted: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("twin_id", "batch_records", "columns")
    TWIN_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_RECORDS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    twin_id: str
    batch_records: int
    columns: bool
    def __init__(self, twin_id: _Optional[str] = ..., batch_records: _Optional[int] = ..., columns: _Optional[bool] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("requests", "samples", "last", "request_columns", "sample_columns")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[_common_pb2.RequestRecord]
    samples: _containers.RepeatedCompositeFieldContainer[_common_pb2.SeriesSample]
    last: bool
    request_columns: _common_pb2.RequestRecordColumns
    sample_columns: _common_pb2.SeriesColumns
    def __init__(self, requests: _Optional[_Iterable[_Union[_common_pb2.RequestRecord, _Mapping]]] = ..., samples: _Optional[_Iterable[_Union[_common_pb2.SeriesSample, _Mapping]]] = ..., last: _Optional[bool] = ..., request_columns: _Optional[_Union[_common_pb2.RequestRecordColumns, _Mapping]] = ..., sample_columns: _Optional[_Union[_common_pb2.SeriesColumns, _Mapping]] = ...) -> None: ...

class ComponentRequest(_message.Message):
    __slots__ = ("twin_id", "path")
    TWIN_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    twin_id: str
    path: str
    def __init__(self, twin_id: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class ComponentState(_message.Message):
    __slots__ = ("path", "state")
    PATH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    path: str
    state: _struct_pb2.Struct
    def __init__(self, path: _Optional[str] = ..., state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SetPolicyRequest(_message.Message):
    __slots__ = ("twin_id", "policy")
    TWIN_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    twin_id: str
    policy: _common_pb2.QuantPolicy
    def __init__(self, twin_id: _Optional[str] = ..., policy: _Optional[_Union[_common_pb2.QuantPolicy, _Mapping]] = ...) -> None: ...

class SummarizeRequest(_message.Message):
    __slots__ = ("twin_id", "slo", "status")
    TWIN_ID_FIELD_NUMBER: _ClassVar[int]
    SLO_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    twin_id: str
    slo: _common_pb2.Slo
    status: str
    def __init__(self, twin_id: _Optional[str] = ..., slo: _Optional[_Union[_common_pb2.Slo, _Mapping]] = ..., status: _Optional[str] = ...) -> None: ...

class TwinSummary(_message.Message):
    __slots__ = ("summary_json", "components")
    class ComponentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.ComponentFigures
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.ComponentFigures, _Mapping]] = ...) -> None: ...
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    summary_json: str
    components: _containers.MessageMap[str, _common_pb2.ComponentFigures]
    def __init__(self, summary_json: _Optional[str] = ..., components: _Optional[_Mapping[str, _common_pb2.ComponentFigures]] = ...) -> None: ...

class DeleteTwinRequest(_message.Message):
    __slots__ = ("twin_id",)
    TWIN_ID_FIELD_NUMBER: _ClassVar[int]
    twin_id: str
    def __init__(self, twin_id: _Optional[str] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("create", "submit", "advance", "drain", "set_policy", "component", "summarize")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_FIELD_NUMBER: _ClassVar[int]
    ADVANCE_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    SET_POLICY_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARIZE_FIELD_NUMBER: _ClassVar[int]
    create: CreateTwinRequest
    submit: SubmitRequest
    advance: AdvanceRequest
    drain: DrainRequest
    set_policy: SetPolicyRequest
    component: ComponentRequest
    summarize: SummarizeRequest
    def __init__(self, create: _Optional[_Union[CreateTwinRequest, _Mapping]] = ..., submit: _Optional[_Union[SubmitRequest, _Mapping]] = ..., advance: _Optional[_Union[AdvanceRequest, _Mapping]] = ..., drain: _Optional[_Union[DrainRequest, _Mapping]] = ..., set_policy: _Optional[_Union[SetPolicyRequest, _Mapping]] = ..., component: _Optional[_Union[ComponentRequest, _Mapping]] = ..., summarize: _Optional[_Union[SummarizeRequest, _Mapping]] = ...) -> None: ...

class SessionReply(_message.Message):
    __slots__ = ("twin", "submitted", "progress", "records", "component", "summary")
    TWIN_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    twin: Twin
    submitted: SubmitReply
    progress: Progress
    records: RecordBatch
    component: ComponentState
    summary: TwinSummary
    def __init__(self, twin: _Optional[_Union[Twin, _Mapping]] = ..., submitted: _Optional[_Union[SubmitReply, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., records: _Optional[_Union[RecordBatch, _Mapping]] = ..., component: _Optional[_Union[ComponentState, _Mapping]] = ..., summary: _Optional[_Union[TwinSummary, _Mapping]] = ...) -> None: ...
