"""Load test: N concurrent clients each start and watch small replays against the local stack.

    python bench/bench_load.py [--clients 32] [--runs-per-client 2] [--limit 30] [--db URL]

Starts the stack as `twin up` does (cluster replicas, controller, metrics: local processes
on free loopback ports; SQLite in a temporary folder unless --db), runs the clients, and
prints runs per second and the p50/p99 latency of the unary RPCs (StartReplay, GetRun).
Fails (exit 1) on any RPC error or any run that is lost or incomplete. It asserts nothing
about time: the figures are for reading.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from services.common.channel import open_channel
from services.common.security import Security
from services.store import open_store
from services.up import LocalStack
from twin_api.v1 import common_pb2, controller_pb2, controller_pb2_grpc


class Client:
    """One client: start a replay, watch it to the end, read the run; latencies of unary calls."""

    def __init__(self, stub: controller_pb2_grpc.ControllerStub, limit: int):
        self.stub, self.limit = stub, limit
        self.latencies_s: list[float] = []
        self.runs: list[controller_pb2.Run] = []

    def timed(self, call, request):
        start = time.perf_counter()
        reply = call(request, timeout=120)
        self.latencies_s.append(time.perf_counter() - start)
        return reply

    def run_once(self) -> None:
        request = controller_pb2.ReplayRequest(
            trace=controller_pb2.TraceSource(name="azure-conv-2023"),
            options=controller_pb2.TraceOptions(limit=self.limit),
            spec=common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=1))
        run = self.timed(self.stub.StartReplay, request)
        for _ in self.stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run.run_id), timeout=600):
            pass
        self.runs.append(self.timed(self.stub.GetRun, controller_pb2.GetRunRequest(run_id=run.run_id)))


def drive(addr: str, security: Security, clients: int, runs_per_client: int,
          limit: int) -> tuple[list[Client], float]:
    start_line = threading.Barrier(clients)
    with open_channel(addr, security) as channel:
        stub = controller_pb2_grpc.ControllerStub(channel)
        team = [Client(stub, limit) for _ in range(clients)]

        def work(client: Client) -> None:
            start_line.wait()
            for _ in range(runs_per_client):
                client.run_once()
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(work, team))  # re-raises the first RPC error
        return team, time.perf_counter() - started


def check(team: list[Client], db: str, expected: int, limit: int) -> list[str]:
    """Problems: runs not complete, short of records, or missing from the store."""
    runs = [r for c in team for r in c.runs]
    problems = [f"run {r.run_id}: {r.status} with {r.requests_recorded} records {r.error}"
                for r in runs if r.status != "complete" or r.requests_recorded != limit]
    with open_store(db) as store:
        stored = {r.id for r in store.list_runs(limit=expected + 10, status="complete")}
    missing = {r.run_id for r in runs} - stored
    if len(runs) != expected or missing:
        problems.append(f"{expected} runs started, {len(runs)} read back, {len(missing)} missing from the store")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--runs-per-client", type=int, default=2)
    parser.add_argument("--limit", type=int, default=30, help="requests per replay (Azure conversation trace)")
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with LocalStack(port=0, clusters=args.clusters, db=db) as stack:
            team, wall_s = drive(stack.addrs["controller"], stack.security, args.clients, args.runs_per_client, args.limit)
        expected = args.clients * args.runs_per_client
        problems = check(team, db, expected, args.limit)
    latencies = np.array([t for c in team for t in c.latencies_s]) * 1e3
    print(f"clients {args.clients}, runs {expected} of {args.limit} requests, {args.clusters} cluster replicas")
    print(f"runs per second        {expected / wall_s:8.2f}   ({wall_s:.1f} s wall)")
    print(f"unary RPC latency ms   p50 {np.percentile(latencies, 50):7.1f}   p99 {np.percentile(latencies, 99):7.1f}"
          f"   ({len(latencies)} calls: StartReplay, GetRun)")
    print("errors 0, lost runs 0" if not problems else "PROBLEMS:\n  " + "\n  ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
