import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from twin_api.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TraceChunk(_message.Message):
    __slots__ = ("name", "format", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: str
    data: bytes
    def __init__(self, name: _Optional[str] = ..., format: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadedTrace(_message.Message):
    __slots__ = ("upload_id", "name", "size_bytes", "requests", "span_s")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SPAN_S_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    name: str
    size_bytes: int
    requests: int
    span_s: float
    def __init__(self, upload_id: _Optional[str] = ..., name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., requests: _Optional[int] = ..., span_s: _Optional[float] = ...) -> None: ...

class MeasurementChunk(_message.Message):
    __slots__ = ("name", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: bytes
    def __init__(self, name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadedMeasurement(_message.Message):
    __slots__ = ("upload_id", "name", "size_bytes", "kind", "records", "sha256")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    name: str
    size_bytes: int
    kind: str
    records: int
    sha256: str
    def __init__(self, upload_id: _Optional[str] = ..., name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., kind: _Optional[str] = ..., records: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class CalibrationRequest(_message.Message):
    __slots__ = ("upload_ids", "spec", "fit", "start", "folds", "name")
    class StartEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    UPLOAD_IDS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    FIT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    FOLDS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    upload_ids: _containers.RepeatedScalarFieldContainer[str]
    spec: _common_pb2.TwinSpec
    fit: _containers.RepeatedScalarFieldContainer[str]
    start: _containers.ScalarMap[str, float]
    folds: int
    name: str
    def __init__(self, upload_ids: _Optional[_Iterable[str]] = ..., spec: _Optional[_Union[_common_pb2.TwinSpec, _Mapping]] = ..., fit: _Optional[_Iterable[str]] = ..., start: _Optional[_Mapping[str, float]] = ..., folds: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class ValidationRequest(_message.Message):
    __slots__ = ("upload_ids", "spec")
    UPLOAD_IDS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    upload_ids: _containers.RepeatedScalarFieldContainer[str]
    spec: _common_pb2.TwinSpec
    def __init__(self, upload_ids: _Optional[_Iterable[str]] = ..., spec: _Optional[_Union[_common_pb2.TwinSpec, _Mapping]] = ...) -> None: ...

class TraceSource(_message.Message):
    __slots__ = ("name", "upload_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    upload_id: str
    def __init__(self, name: _Optional[str] = ..., upload_id: _Optional[str] = ...) -> None: ...

class TraceOptions(_message.Message):
    __slots__ = ("format", "on_bad_row", "window_start_s", "window_end_s", "sample_fraction", "sample_seed", "limit", "speedup", "rate_rps", "mapping", "burstiness")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ON_BAD_ROW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_S_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SEED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SPEEDUP_FIELD_NUMBER: _ClassVar[int]
    RATE_RPS_FIELD_NUMBER: _ClassVar[int]
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    BURSTINESS_FIELD_NUMBER: _ClassVar[int]
    format: str
    on_bad_row: str
    window_start_s: float
    window_end_s: float
    sample_fraction: float
    sample_seed: int
    limit: int
    speedup: float
    rate_rps: float
    mapping: str
    burstiness: float
    def __init__(self, format: _Optional[str] = ..., on_bad_row: _Optional[str] = ..., window_start_s: _Optional[float] = ..., window_end_s: _Optional[float] = ..., sample_fraction: _Optional[float] = ..., sample_seed: _Optional[int] = ..., limit: _Optional[int] = ..., speedup: _Optional[float] = ..., rate_rps: _Optional[float] = ..., mapping: _Optional[str] = ..., burstiness: _Optional[float] = ...) -> None: ...

class ReplayRequest(_message.Message):
    __slots__ = ("trace", "options", "spec", "slo")
    TRACE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SLO_FIELD_NUMBER: _ClassVar[int]
    trace: TraceSource
    options: TraceOptions
    spec: _common_pb2.TwinSpec
    slo: _common_pb2.Slo
    def __init__(self, trace: _Optional[_Union[TraceSource, _Mapping]] = ..., options: _Optional[_Union[TraceOptions, _Mapping]] = ..., spec: _Optional[_Union[_common_pb2.TwinSpec, _Mapping]] = ..., slo: _Optional[_Union[_common_pb2.Slo, _Mapping]] = ...) -> None: ...

class SweepAxis(_message.Message):
    __slots__ = ("field", "values")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    field: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, field: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class SweepRequest(_message.Message):
    __slots__ = ("base", "axes", "find_max_rate", "target")
    BASE_FIELD_NUMBER: _ClassVar[int]
    AXES_FIELD_NUMBER: _ClassVar[int]
    FIND_MAX_RATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    base: ReplayRequest
    axes: _containers.RepeatedCompositeFieldContainer[SweepAxis]
    find_max_rate: bool
    target: float
    def __init__(self, base: _Optional[_Union[ReplayRequest, _Mapping]] = ..., axes: _Optional[_Iterable[_Union[SweepAxis, _Mapping]]] = ..., find_max_rate: _Optional[bool] = ..., target: _Optional[float] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("run_id", "kind", "trace", "status", "created_at", "finished_at", "error", "requests_recorded", "series_recorded", "spec_json", "summary_json")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_RECORDED_FIELD_NUMBER: _ClassVar[int]
    SERIES_RECORDED_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    kind: str
    trace: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    error: str
    requests_recorded: int
    series_recorded: int
    spec_json: str
    summary_json: str
    def __init__(self, run_id: _Optional[str] = ..., kind: _Optional[str] = ..., trace: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., requests_recorded: _Optional[int] = ..., series_recorded: _Optional[int] = ..., spec_json: _Optional[str] = ..., summary_json: _Optional[str] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class RunProgress(_message.Message):
    __slots__ = ("run_id", "status", "finished", "total", "simulated_s", "error", "attempt", "replica")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_S_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    status: str
    finished: int
    total: int
    simulated_s: float
    error: str
    attempt: int
    replica: str
    def __init__(self, run_id: _Optional[str] = ..., status: _Optional[str] = ..., finished: _Optional[int] = ..., total: _Optional[int] = ..., simulated_s: _Optional[float] = ..., error: _Optional[str] = ..., attempt: _Optional[int] = ..., replica: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("limit", "status")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    limit: int
    status: str
    def __init__(self, limit: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class ListRunsReply(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class DeleteRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class DeleteRunReply(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...
