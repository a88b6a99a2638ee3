"""`twin --controller ADDR runs ...`: the same run commands through the controller and metrics services.

Listing, watching, cancelling and deleting go to the controller; summaries, records, series
and comparisons to the metrics service (by default on the controller's host, next port up,
as `twin up` and the compose file lay them out). gRPC errors become the CLI's one error shape.
"""

from __future__ import annotations

from typing import Iterator

import grpc

from services.common import convert
from services.common.channel import open_channel
from services.exits import from_rpc
from services.runs_backend import run_msg_dict
from twin.metrics import RequestRecord, SeriesSample
from twin_api.v1 import controller_pb2, controller_pb2_grpc, metrics_pb2, metrics_pb2_grpc

CALL_TIMEOUT_S = 60.0
PAGE = 5000


def default_metrics(controller: str) -> str:
    """host:port+1 of the controller's address (the layout of `twin up` and compose)."""
    host, _, port = controller.rpartition(":")
    return f"{host}:{int(port) + 1}" if port.isdigit() else controller


class RemoteRuns:
    def __init__(self, controller: str, metrics: str | None = None):
        self.controller_addr, self.metrics_addr = controller, metrics or default_metrics(controller)
        self.where = f"controller {controller}"
        self._channels = [open_channel(controller), open_channel(self.metrics_addr)]
        self.ctl = controller_pb2_grpc.ControllerStub(self._channels[0])
        self.met = metrics_pb2_grpc.MetricsStub(self._channels[1])

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def _call(self, where: str, fn, *args, **kw):
        try:
            return fn(*args, timeout=CALL_TIMEOUT_S, **kw)
        except grpc.RpcError as exc:
            raise from_rpc(exc, where) from exc

    def _c(self, fn, *args):
        return self._call(f"controller {self.controller_addr}", fn, *args)

    def _m(self, fn, *args):
        return self._call(f"metrics {self.metrics_addr}", fn, *args)

    def list(self, limit: int, status: str | None) -> list[dict]:
        reply = self._c(self.ctl.ListRuns, controller_pb2.ListRunsRequest(limit=limit, status=status or ""))
        return [run_msg_dict(r) for r in reply.runs]

    def get(self, run_id: str) -> dict:
        return run_msg_dict(self._c(self.ctl.GetRun, controller_pb2.GetRunRequest(run_id=run_id)))

    def components(self, run_id: str) -> dict[str, dict[str, float]]:
        reply = self._m(self.met.GetSummary, metrics_pb2.GetSummaryRequest(run_id=run_id))
        return convert.figures(reply.components)

    def records(self, run_id: str) -> Iterator[list[RequestRecord]]:
        stream = self.met.StreamRequests(metrics_pb2.StreamRequestsRequest(run_id=run_id, page_size=PAGE))
        try:
            for page in stream:
                yield [convert.record(m) for m in page.records]
        except grpc.RpcError as exc:
            raise from_rpc(exc, f"metrics {self.metrics_addr}") from exc

    def series(self, run_id: str) -> list[SeriesSample]:
        reply = self._m(self.met.GetSeries, metrics_pb2.GetSeriesRequest(run_id=run_id))
        return [SeriesSample(s.t_s, s.name, s.value) for s in reply.samples]

    def compare(self, run_ids: list[str]) -> list[tuple[str, list[float]]]:
        reply = self._m(self.met.CompareRuns, metrics_pb2.CompareRunsRequest(run_ids=run_ids))
        return [(row.metric, list(row.values)) for row in reply.rows]

    def delete(self, run_id: str) -> str:
        return self._c(self.ctl.DeleteRun, controller_pb2.DeleteRunRequest(run_id=run_id)).run_id

    def cancel(self, run_id: str) -> dict:
        return run_msg_dict(self._c(self.ctl.CancelRun, controller_pb2.CancelRunRequest(run_id=run_id)))

    def watch(self, run_id: str) -> Iterator[tuple[str, int, int, float]]:
        try:
            for p in self.ctl.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id)):
                yield p.status, p.finished, p.total, p.simulated_s
        except grpc.RpcError as exc:
            raise from_rpc(exc, f"controller {self.controller_addr}") from exc

