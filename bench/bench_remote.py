"""The `twin up` stack against the embedded replay: the same whole trace, both ways, as a user runs them.

    twin replay azure-conv-2023 --server lpu-8x-4nm --model llama2-7b             (embedded, SQLite file)
    twin --controller C replay azure-conv-2023 ... --watch                          (through `twin up`)

Starts `twin up` (real processes on free loopback ports, its database in a temporary
folder), waits until every service answers its health check, then runs each command
`--runs` times, alternating, after `--warmup` untimed runs of each (default 1: the
controller caches the trace it loaded; 0 times a cold stack's first runs). Prints the
median and min-max of the wall seconds, the CPU seconds of the CLI and of what the
controller and the cluster replicas spent meanwhile, the remote/embedded wall ratio, and
peak RSS (CLI; controller and replicas from /proc). Checks that both ways store the same
summary. Everything it started is stopped by pid, on error or Ctrl-C too.

    python bench/bench_remote.py [--runs 3] [--clusters 2] [--trace FILE] [--warmup 1]

With --trace FILE (e.g. the package's AzureLLMInferenceTrace_conv.csv) both read that file:
the embedded replay from disk, the remote one uploaded to the controller first, every run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import run_child, spread

OPTIONS = ["--server", "lpu-8x-4nm", "--model", "llama2-7b", "--no-progress", "--json"]
TWIN = [sys.executable, "-P", "-m", "services.cli"]  # -P: the installed build, not a clone's sources
TICKS = os.sysconf("SC_CLK_TCK")


def start_stack(tmp: str, clusters: int) -> tuple[subprocess.Popen, dict[str, str]]:
    """`twin up` on free ports; returns it and {service: addr} once every service is healthy."""
    up = subprocess.Popen([*TWIN, "--db", f"sqlite:///{tmp}/stack.db", "up", "--port", "0",
                           "--clusters", str(clusters)], cwd=tmp, stdout=subprocess.PIPE, text=True,
                          stderr=open(Path(tmp) / "up.log", "w"), start_new_session=True)
    addrs = {}
    for line in up.stdout:
        if line.startswith("export "):
            break
        name, addr = line.split()
        addrs[name] = addr
    if "controller" not in addrs:
        raise SystemExit(f"twin up did not start (exit {up.wait()}); see {tmp}/up.log")
    wait_healthy(addrs.values())
    return up, addrs


def wait_healthy(addrs, timeout_s: float = 60.0) -> None:
    from services.common.healthcheck import check
    deadline = time.monotonic() + timeout_s
    for addr in addrs:
        while not check(addr, timeout_s=2.0):
            if time.monotonic() > deadline:
                raise SystemExit(f"{addr} is not healthy after {timeout_s:.0f} s")
            time.sleep(0.2)


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def stop_stack(up: subprocess.Popen, pids: list[int]) -> None:
    """SIGTERM to `twin up` (it stops its children gracefully); any child left is killed by pid."""
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
    try:
        up.wait(60)
    except subprocess.TimeoutExpired:
        up.kill()
        up.wait()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def proc_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(argv: list[str], cwd: str, servers: dict[str, int]) -> dict:
    """Wall s, CPU s and peak RSS MiB of one command (its own rusage), the CPU s of the controller
    and of the cluster replicas meanwhile, and the summary its --json output holds."""
    cpu0 = service_cpu(servers)
    wall, cpu, rss, out = run_child(argv, cwd)
    cpu1 = service_cpu(servers)
    return {"wall": wall, "cpu": cpu, "rss": rss, **{kind: cpu1[kind] - cpu0[kind] for kind in cpu0},
            "summary": json.loads(out)["summary"]}


def service_cpu(servers: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of the controller and of all cluster replicas together."""
    return {kind: sum(proc_cpu_s(pid) for name, pid in servers.items() if name.startswith(kind))
            for kind in ("controller", "cluster")}


def report(rows: dict[str, list[dict]], servers: dict[str, int]) -> None:
    for name, runs in rows.items():
        print(f"{name:>8}: wall {spread([r['wall'] for r in runs])} s, CPU: CLI {spread([r['cpu'] for r in runs])} s, "
              f"controller {spread([r['controller'] for r in runs])} s, cluster {spread([r['cluster'] for r in runs])} s; "
              f"CLI peak RSS {spread([r['rss'] for r in runs], '{:.0f}')} MiB ({len(runs)} runs)")
    ratio = [r["wall"] / e["wall"] for e, r in zip(rows["embedded"], rows["remote"])]
    medians = [statistics.median(r["wall"] for r in rows[name]) for name in ("remote", "embedded")]
    print(f"remote / embedded wall: {spread(ratio)} (pairwise); of the medians {medians[0] / medians[1]:.2f}")
    print("peak RSS of the services: " + ", ".join(f"{n} {proc_peak_mib(p):.0f} MiB" for n, p in servers.items()))
    first = rows["embedded"][0]["summary"]
    differ = sorted({f"{name}: {key}" for name, rs in rows.items() for r in rs for key in first
                     if r["summary"].get(key) != first[key]})
    print(f"same summary both ways: {'yes' if not differ else 'NO, ' + ', '.join(differ)}; "
          f"load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (a shared machine inflates wall time)")


def main(runs: int, clusters: int, trace: str, warmup: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the stack (finally below)
    # `twin up` requires a token; one known here reaches the stack and the remote CLI through the environment
    os.environ.setdefault("TWIN_AUTH_TOKEN", secrets.token_urlsafe(32))
    with tempfile.TemporaryDirectory() as tmp:
        up, pids = None, []
        try:
            up, addrs = start_stack(tmp, clusters)
            pids = children(up.pid)
            servers = {name: pid for pid in pids for name in [service_of(pid)] if name}
            if Path(trace).is_file():
                trace = str(Path(trace).resolve())
            embedded = [*TWIN, "replay", trace, *OPTIONS]  # the default SQLite file, twin.db in the working folder
            remote = [*TWIN, "--controller", addrs["controller"], "--metrics", addrs["metrics"],
                      "replay", trace, *OPTIONS, "--watch"]
            commands = {"embedded": embedded, "remote": remote}
            for _ in range(warmup):  # the controller loads and caches the trace, the replicas import
                for argv in commands.values():
                    timed(argv, tmp, servers)
            rows = {name: [] for name in commands}
            for _ in range(runs):
                for name, argv in commands.items():
                    rows[name].append(timed(argv, tmp, servers))
            report(rows, servers)
        finally:
            if up is not None:
                stop_stack(up, pids)


def service_of(pid: int) -> str | None:
    """`controller`, `cluster<pid>` or `metrics` from a `twin up` child's command line."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return None
    kind = args[args.index("serve") + 1] if "serve" in args else None
    return f"cluster{pid}" if kind == "cluster" else kind


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clusters", type=int, default=2)
    ap.add_argument("--trace", default="azure-conv-2023", help="a built-in trace name or a file to upload")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each first (0: time a cold stack)")
    args = ap.parse_args()
    main(args.runs, args.clusters, args.trace, args.warmup)
