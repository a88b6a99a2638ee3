"""Controller servicer: converts messages, calls the run manager and the store, converts back."""

from __future__ import annotations

import json

import grpc
from grpc_health.v1 import health

from services.common.security import Security
from services.common.server import build_server
from services.controller.active import Snapshot
from services.controller.inputs import TraceCache, replay_inputs
from services.controller.measurements import MeasurementUploads, start_calibration, start_validation
from services.controller.runs import RunManager
from services.controller.uploads import UploadStore
from services.store import RunInfo, RunRow, Store
from twin.errors import InvalidSpec
from twin_api.v1 import controller_pb2, controller_pb2_grpc

SERVICE = "twin_api.v1.Controller"


def run_msg(row: RunInfo) -> controller_pb2.Run:
    msg = controller_pb2.Run(run_id=row.id, kind=row.kind, trace=row.trace, status=row.status, error=row.error,
                             requests_recorded=row.requests_recorded, series_recorded=row.series_recorded)
    msg.created_at.FromDatetime(row.created_at)
    if row.finished_at is not None:
        msg.finished_at.FromDatetime(row.finished_at)
    if isinstance(row, RunRow):
        msg.spec_json = json.dumps(row.spec)
        msg.summary_json = json.dumps(row.summary) if row.summary is not None else ""
    return msg


def progress_msg(s: Snapshot) -> controller_pb2.RunProgress:
    return controller_pb2.RunProgress(run_id=s.run_id, status=s.status, finished=s.finished, total=s.total,
                                      simulated_s=s.simulated_s, error=s.error, attempt=s.attempt,
                                      replica=s.replica)


class ControllerServicer(controller_pb2_grpc.ControllerServicer):
    def __init__(self, runs: RunManager, uploads: UploadStore, store: Store, traces: TraceCache | None = None):
        self.runs, self.uploads, self.store = runs, uploads, store
        self.traces = traces or TraceCache()
        self.measurements = MeasurementUploads.beside(uploads)

    def UploadMeasurement(self, request_iterator, context):
        upload, checked = self.measurements.receive((c.name, "", c.data) for c in request_iterator)
        return controller_pb2.UploadedMeasurement(upload_id=upload.upload_id, name=upload.name,
                                                  size_bytes=upload.size_bytes, kind=checked.kind,
                                                  records=checked.records, sha256=checked.sha256)

    def StartCalibration(self, request, context):
        return run_msg(self.store.get_run(start_calibration(request, self.measurements, self.runs)))

    def StartValidation(self, request, context):
        return run_msg(self.store.get_run(start_validation(request, self.measurements, self.runs)))

    def UploadTrace(self, request_iterator, context):
        upload, trace = self.uploads.receive((c.name, c.format, c.data) for c in request_iterator)
        span = trace.requests[-1].arrival_s - trace.requests[0].arrival_s if trace.requests else 0.0
        return controller_pb2.UploadedTrace(upload_id=upload.upload_id, name=upload.name,
                                            size_bytes=upload.size_bytes, requests=len(trace.requests), span_s=span)

    def StartReplay(self, request, context):
        spec, trace = replay_inputs(request, self.uploads, self.traces, limits=self.runs.run_limits)
        return run_msg(self.store.get_run(self.runs.start_replay(spec, trace)))

    def StartSweep(self, request, context):
        base, trace = replay_inputs(request.base, self.uploads, self.traces, check_spec=False,
                                    limits=self.runs.run_limits)
        axes = [(axis.field, list(axis.values)) for axis in request.axes]
        target = request.target if request.HasField("target") else 0.9
        if request.find_max_rate and (base.slo.ttft_s is None and base.slo.tpot_s is None or not 0 < target <= 1):
            raise InvalidSpec("find_max_rate", "needs base.slo (ttft_s and/or tpot_s) and a target in (0, 1]")
        run_id = self.runs.start_sweep(base, trace, axes, target if request.find_max_rate else None)
        return run_msg(self.store.get_run(run_id))

    def WatchRun(self, request, context):
        for snapshot in self.runs.watch(self.store.resolve_id(request.run_id), context.is_active):
            yield progress_msg(snapshot)

    def GetRun(self, request, context):
        return run_msg(self.store.get_run(request.run_id))

    def ListRuns(self, request, context):
        rows = self.store.list_runs(limit=request.limit or 50, status=request.status or None)
        return controller_pb2.ListRunsReply(runs=[run_msg(row) for row in rows])

    def CancelRun(self, request, context):
        run_id = self.store.resolve_id(request.run_id)
        self.runs.cancel(run_id)
        return run_msg(self.store.get_run(run_id))

    def DeleteRun(self, request, context):
        return controller_pb2.DeleteRunReply(run_id=self.store.delete_run(request.run_id))


def create_server(addr: str, servicer: ControllerServicer, *, security: Security | None = None,
                  health_servicer: health.HealthServicer | None = None,
                  max_workers: int = 64) -> tuple[grpc.Server, int]:
    return build_server(addr, [(controller_pb2_grpc.add_ControllerServicer_to_server, servicer, SERVICE)],
                        security=security, health_servicer=health_servicer, max_workers=max_workers)
