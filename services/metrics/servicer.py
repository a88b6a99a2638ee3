"""Metrics servicer: reads the store, converts to messages. Read-only."""

from __future__ import annotations

import json

import grpc
from grpc_health.v1 import health

from services.common import convert
from services.common.security import Security
from services.common.server import build_server
from services.metrics.compare import compare
from services.store import Store
from twin.errors import InvalidSpec
from twin_api.v1 import metrics_pb2, metrics_pb2_grpc

SERVICE = "twin_api.v1.Metrics"
DEFAULT_PAGE, MAX_PAGE = 1000, 10000


class MetricsServicer(metrics_pb2_grpc.MetricsServicer):
    def __init__(self, store: Store):
        self.store = store

    def GetSummary(self, request, context):
        run = self.store.get_run(request.run_id)
        return metrics_pb2.RunSummary(
            run_id=run.id, status=run.status, error=run.error,
            summary_json=json.dumps(run.summary) if run.summary is not None else "",
            components=convert.figures_msgs(self.store.components(run.id)))

    def StreamRequests(self, request, context):
        size = request.page_size or DEFAULT_PAGE
        if size > MAX_PAGE:
            raise InvalidSpec("page_size", f"must be at most {MAX_PAGE}, got {size}")
        offset, run_id = request.offset, self.store.resolve_id(request.run_id)
        while context.is_active():
            page = self.store.request_records(run_id, offset=offset, limit=size)
            if not page:
                return
            yield metrics_pb2.RequestPage(records=[convert.record_msg(r) for r in page], offset=offset)
            offset += len(page)

    def GetSeries(self, request, context):
        samples = self.store.series(self.store.resolve_id(request.run_id), request.name or None)
        return metrics_pb2.Series(samples=[convert.sample_msg(s) for s in samples])

    def CompareRuns(self, request, context):
        if len(request.run_ids) < 2:
            raise InvalidSpec("run_ids", f"compare needs two or more runs, got {len(request.run_ids)}")
        summaries = [self.store.get_run(run_id).summary for run_id in request.run_ids]
        rows = [metrics_pb2.ComparisonRow(metric=name, values=values) for name, values in compare(summaries)]
        return metrics_pb2.Comparison(run_ids=list(request.run_ids), rows=rows)


def create_server(addr: str, store: Store, *, security: Security | None = None,
                  health_servicer: health.HealthServicer | None = None,
                  max_workers: int = 16) -> tuple[grpc.Server, int]:
    servicer = MetricsServicer(store)
    return build_server(addr, [(metrics_pb2_grpc.add_MetricsServicer_to_server, servicer, SERVICE)],
                        security=security, health_servicer=health_servicer, max_workers=max_workers)
