"""A Python client of the twin's services, using only grpc and the generated twin_api code.

    twin up                                   # or: docker compose -f compose/compose.yaml up -d
    export TWIN_AUTH_TOKEN=...                # the token `twin up` prints (compose: in compose/.env)
    python examples/replay_client.py --controller 127.0.0.1:50051 --metrics 127.0.0.1:50052

Starts a replay of a slice of the Azure conversation trace, watches its progress, then reads
the stored summary, the first request records and a time series back from the metrics
service, and compares the run with a second one using INT8 weights. The services require
the bearer token TWIN_AUTH_TOKEN (unless started with --auth off); this client sends it.
"""

from __future__ import annotations

import argparse
import json
import os

import grpc

from twin_api.v1 import common_pb2, controller_pb2, controller_pb2_grpc, metrics_pb2, metrics_pb2_grpc


def metadata() -> list[tuple[str, str]]:
    token = os.environ.get("TWIN_AUTH_TOKEN")
    return [("authorization", f"Bearer {token}")] if token else []


def start_and_watch(controller: controller_pb2_grpc.ControllerStub, weights: str) -> str:
    request = controller_pb2.ReplayRequest(
        trace=controller_pb2.TraceSource(name="azure-conv-2023"),
        options=controller_pb2.TraceOptions(limit=200),
        spec=common_pb2.TwinSpec(server="lpu-8x-4nm", model="llama2-7b", tp=1,
                                 policy=common_pb2.QuantPolicy(weights=weights, kv="fp16")),
        slo=common_pb2.Slo(ttft_s=0.5, tpot_s=0.05))
    run = controller.StartReplay(request, metadata=metadata(), timeout=60)
    print(f"run {run.run_id} started ({weights} weights)")
    for p in controller.WatchRun(controller_pb2.WatchRunRequest(run_id=run.run_id), metadata=metadata(), timeout=600):
        print(f"  {p.status:<9} {p.finished:>4}/{p.total} requests, simulated {p.simulated_s:8.1f} s")
    return run.run_id


def report(metrics: metrics_pb2_grpc.MetricsStub, run_id: str) -> None:
    summary = json.loads(metrics.GetSummary(metrics_pb2.GetSummaryRequest(run_id=run_id), metadata=metadata(),
                                            timeout=30).summary_json)
    print(f"TTFT p99 {summary['ttft_s']['p99'] * 1e3:.1f} ms, TPOT p50 {summary['tpot_s']['p50'] * 1e3:.2f} ms, "
          f"{summary['throughput']['output_tokens_per_s']:.0f} output tok/s, SLO attained {summary['slo']['attained']}")
    pages = metrics.StreamRequests(metrics_pb2.StreamRequestsRequest(run_id=run_id, page_size=5), metadata=metadata(),
                                   timeout=30)
    for r in next(iter(pages)).records:
        print(f"  request {r.request_id}: replica {r.replica}, TTFT {(r.first_token_s - r.arrival_s) * 1e3:.1f} ms")
    series = metrics.GetSeries(metrics_pb2.GetSeriesRequest(run_id=run_id), metadata=metadata(), timeout=30)
    print(f"  {len(series.samples)} time-series samples, e.g. {series.samples[0].name if series.samples else '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--controller", default="127.0.0.1:50051")
    parser.add_argument("--metrics", default="127.0.0.1:50052")
    args = parser.parse_args()
    with grpc.insecure_channel(args.controller) as c, grpc.insecure_channel(args.metrics) as m:
        controller, metrics = controller_pb2_grpc.ControllerStub(c), metrics_pb2_grpc.MetricsStub(m)
        runs = [start_and_watch(controller, weights) for weights in ("fp16", "int8")]
        report(metrics, runs[0])
        table = metrics.CompareRuns(metrics_pb2.CompareRunsRequest(run_ids=runs), metadata=metadata(), timeout=30)
        for row in table.rows:
            print(f"  {row.metric:<34}" + "".join(f"{v:>14.4g}" for v in row.values))


if __name__ == "__main__":
    main()
