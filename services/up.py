"""`twin up`: the whole stack as local processes on loopback ports, for machines without Docker.

Cluster replicas first, then the controller (pointed at all of them with an ``ipv4:``
target, so gRPC's round-robin spreads runs over them) and the metrics service. Each
child announces ``READY <service> <host:port>`` on its stdout once it listens, which is
how port 0 (any free port) works. SIGTERM or Ctrl-C stops them all, gracefully: the
controller first (it flushes and marks its runs while the replicas still answer).

While it runs, `twin up` supervises: a child that exits is logged and restarted on the same
address after a backoff that doubles with each death; one that dies more than
`Restarts.max_restarts` times within `Restarts.window_s` stops the stack with exit code 1.

Every child requires one bearer token: TWIN_AUTH_TOKEN when set, otherwise one generated here
(and printed by `twin up`), so a local stack is closed to the machine's other users and needs no
set-up; `twin up --auth off` (TWIN_AUTH=off) runs it open. Embedded use (no --controller)
listens on nothing and needs no token.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import click

from services.common.security import AUTH_ENV, AUTH_MODES, TOKEN_ENV, Security, check_server_auth
from twin.errors import NotRunning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Restarts:
    """How a dead child is restarted, and when to give up on it."""

    backoff_s: float = 1.0  # wait before the first restart; doubles with each death in the window
    max_backoff_s: float = 30.0
    max_restarts: int = 5  # more deaths than this within window_s: the stack stops, exit code 1
    window_s: float = 300.0


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
    commands: dict[str, list[str]] = field(default_factory=dict)  # each child's `twin` arguments
    token: str | None = None  # every child's bearer token: given, TWIN_AUTH_TOKEN, or generated (not with TWIN_AUTH=off)

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

    @property
    def security(self) -> Security:
        """What a client of this stack holds: its token."""
        return Security(token=self.token)

    def child_env(self) -> dict[str, str]:
        """The children's environment, with the stack's token (chosen on first use) unless auth is off."""
        env = dict(self.env or os.environ)
        if env.get(AUTH_ENV) == "off":
            return env
        self.token = self.token or env.get(TOKEN_ENV) or secrets.token_urlsafe(32)
        return {**env, TOKEN_ENV: self.token}

    def spawn(self, name: str, args: list[str], port: int) -> str:
        db = ["--db", self.db] if self.db else []
        # -P: not the current directory first on the path, so a clone's sources never shadow the installed build
        cmd = [sys.executable, "-P", "-m", "services.cli", *db, *args, "--host", self.host, "--port", str(port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=self.child_env())
        self.processes[name], self.commands[name] = proc, args
        self.addrs[name] = _ready_addr(proc, name, self.start_timeout_s)
        return self.addrs[name]

    def supervise(self, stop: threading.Event, policy: Restarts = Restarts(), poll_s: float = 0.5) -> int:
        """Until `stop` is set, restart every child that exits; 0 once stopped, 1 when a child
        keeps dying (more than `policy.max_restarts` deaths within `policy.window_s`)."""
        deaths: dict[str, list[float]] = {}
        while not stop.wait(poll_s):
            for name, proc in list(self.processes.items()):
                code = proc.poll()
                if code is None:
                    continue
                now = time.monotonic()
                recent = deaths[name] = [t for t in deaths.get(name, []) if t > now - policy.window_s] + [now]
                if len(recent) > policy.max_restarts:
                    log.error("%s died %d times within %.0f s; stopping the stack", name, len(recent), policy.window_s)
                    return 1
                delay = min(policy.backoff_s * 2 ** (len(recent) - 1), policy.max_backoff_s)
                log.warning("%s exited with code %s; restarting it in %.1f s", name, code, delay)
                if stop.wait(delay):
                    return 0
                self._respawn(name)
        return 0

    def _respawn(self, name: str) -> None:
        """Start `name` again on the address it had, so clients and the controller's target still hold."""
        old = self.processes[name]
        if old.stdout:
            old.stdout.close()
        port = int(self.addrs[name].rsplit(":", 1)[1])
        try:
            self.spawn(name, self.commands[name], port)
            log.warning("%s restarted on %s (pid %d)", name, self.addrs[name], self.processes[name].pid)
        except NotRunning as exc:  # it died again before it was ready: the next pass counts it
            log.warning("%s", exc)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM to every child, newest first, each waited for: the controller flushes and marks
        its runs interrupted while the cluster replicas still answer."""
        for proc in list(reversed(self.processes.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
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
@click.option("--auth", envvar=AUTH_ENV, type=click.Choice(AUTH_MODES), default="on", show_default=True,
              help="on: every call needs a bearer token, TWIN_AUTH_TOKEN or one generated and printed; "
                   f"off: none [env {AUTH_ENV}].")
@click.pass_obj
def up(obj, clusters: int, host: str, port: int, auth: str) -> None:
    """Start controller, metrics and cluster replicas as local processes, until Ctrl-C."""
    env = {**os.environ, AUTH_ENV: auth}
    if auth == "off":
        check_server_auth(auth, env)  # off with a token set: refused here, not by every child
    logging.basicConfig(level=os.environ.get("TWIN_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with LocalStack(host, port, clusters, obj.db, env=env) as stack:
        for name, addr in stack.addrs.items():
            click.echo(f"{name:<11} {addr}")
        generated = f" {TOKEN_ENV}={stack.token}" if stack.token and not os.environ.get(TOKEN_ENV) else ""
        click.echo(f"export TWIN_CONTROLLER={stack.addrs['controller']}{generated}   # then: twin replay ... --watch")
        code = stack.supervise(stop)
        click.echo("stopping ..." if code == 0 else "a service keeps dying (see the log above); stopping ...")
    if code:
        raise SystemExit(code)
