"""`twin up`: the whole stack as local processes on loopback ports, for machines without Docker.

Cluster replicas first, then the controller (pointed at all of them with an ``ipv4:``
target, so gRPC's round-robin spreads runs over them) and the metrics service. Each
child announces ``READY <service> <host:port>`` on its stdout once it listens, which is
how port 0 (any free port) works. SIGTERM or Ctrl-C stops them all, gracefully.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import click

from twin.errors import NotRunning


@dataclass
class LocalStack:
    host: str = "127.0.0.1"
    port: int = 50051  # controller; metrics +1, cluster replicas +10, +11, ...; 0: free ports
    clusters: int = 2
    db: str | None = None
    env: dict[str, str] | None = None  # environment of the children (default: this one)
    start_timeout_s: float = 120.0
    addrs: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self) -> dict[str, str]:
        """Start every service; returns {"controller": addr, "metrics": addr, "cluster0": addr, ...}."""
        try:
            replicas = [self.spawn(f"cluster{i}", ["serve", "cluster"], self._port(10 + i))
                        for i in range(self.clusters)]
            target = "ipv4:" + ",".join(replicas)
            self.spawn("controller", ["serve", "controller", "--cluster", target], self._port(0))
            self.spawn("metrics", ["serve", "metrics"], self._port(1))
        except BaseException:
            self.stop()
            raise
        return self.addrs

    def _port(self, offset: int) -> int:
        return 0 if self.port == 0 else self.port + offset

    def spawn(self, name: str, args: list[str], port: int) -> str:
        db = ["--db", self.db] if self.db else []
        cmd = [sys.executable, "-m", "services.cli", *db, *args, "--host", self.host, "--port", str(port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=self.env or dict(os.environ))
        self.processes[name] = proc
        self.addrs[name] = _ready_addr(proc, name, self.start_timeout_s)
        return self.addrs[name]

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to every child, newest first (the controller marks its runs interrupted)."""
        procs = list(reversed(self.processes.values()))
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self.processes.clear()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def _ready_addr(proc: subprocess.Popen, name: str, timeout_s: float) -> str:
    """The address from the child's `READY <service> <addr>` line."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout_s)
    except queue.Empty:
        raise NotRunning(f"{name} did not start within {timeout_s:.0f} s") from None
    if not line.startswith("READY "):
        raise NotRunning(f"{name} exited before it was ready (exit code {proc.wait()}); see its log above")
    return line.split()[2]


@click.command()
@click.option("--clusters", default=2, show_default=True, help="Cluster replicas to start.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address every service listens on.")
@click.option("--port", default=50051, show_default=True,
              help="Controller port; metrics gets +1, cluster replicas +10, +11, ... (0: any free ports).")
@click.pass_obj
def up(obj, clusters: int, host: str, port: int) -> None:
    """Start controller, metrics and cluster replicas as local processes, until Ctrl-C."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with LocalStack(host, port, clusters, obj.db) as stack:
        for name, addr in stack.addrs.items():
            click.echo(f"{name:<11} {addr}")
        click.echo(f"export TWIN_CONTROLLER={stack.addrs['controller']}   # then: twin replay ... --watch")
        stop.wait()
        click.echo("stopping ...")
