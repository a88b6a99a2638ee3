"""Auth is on by default: `twin serve` refuses to start without a token unless told `--auth off`
(TWIN_AUTH=off), and `twin up` / LocalStack generate one that every child requires (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import grpc
import pytest

from services.common.channel import open_channel
from services.common.security import Security
from services.up import LocalStack
from twin_api.v1 import cluster_pb2, cluster_pb2_grpc, common_pb2

SPEC = common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=1)
SERVE = [sys.executable, "-P", "-m", "services.cli", "serve", "cluster", "--port", "0"]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the developer's own auth settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("TWIN_AUTH", "TWIN_AUTH_TOKEN")}
    return {**env, **extra}


def create_twin(addr: str, token: str | None) -> cluster_pb2.CreateTwinReply | grpc.StatusCode:
    with open_channel(addr, Security(token=token)) as channel:
        try:
            return cluster_pb2_grpc.ClusterTwinStub(channel).CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC),
                                                                        timeout=10)
        except grpc.RpcError as exc:
            return exc.code()


@pytest.mark.parametrize("argv, env, words", [
    (SERVE, clean_env(), ["TWIN_AUTH_TOKEN", "--auth off"]),
    (SERVE, clean_env(TWIN_AUTH_TOKEN=""), ["TWIN_AUTH_TOKEN", "--auth off"]),  # empty is unset, not a token
    ([sys.executable, "-P", "-m", "services.controller", "--cluster", "ipv4:127.0.0.1:9", "--port", "0"],
     clean_env(), ["TWIN_AUTH_TOKEN"]),
    ([*SERVE[:-3], "metrics", "--auth", "off", "--port", "0"], clean_env(TWIN_AUTH_TOKEN="t"),
     ["TWIN_AUTH", "unset one"]),
], ids=["no token", "empty token", "python -m services.controller", "off with a token"])
def test_a_service_without_a_token_refuses_to_start_with_one_line(argv, env, words) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and done.stdout == "", done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: ") and all(w in line for w in words), line


def test_auth_off_is_an_explicit_choice_and_serves_without_a_token() -> None:
    child = subprocess.Popen(SERVE, env=clean_env(TWIN_AUTH="off"), stdout=subprocess.PIPE, text=True)
    try:
        ready = child.stdout.readline().split()
        assert ready[:2] == ["READY", "cluster"], ready
        assert create_twin(ready[2], token=None).replicas == 8
    finally:
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=30)


def test_the_local_stack_generates_a_token_that_every_child_requires(tmp_path) -> None:
    stack = LocalStack(port=0, clusters=1, db=f"sqlite:///{tmp_path / 'twin.db'}", env=clean_env())
    try:
        addr = stack.spawn("cluster0", ["serve", "cluster"], 0)
        assert stack.token and len(stack.token) >= 32  # secrets.token_urlsafe(32): 43 characters
        assert create_twin(addr, token=None) is grpc.StatusCode.UNAUTHENTICATED
        assert create_twin(addr, token="guess") is grpc.StatusCode.UNAUTHENTICATED
        assert create_twin(addr, token=stack.token).replicas == 8
    finally:
        stack.stop()


def test_the_local_stack_uses_the_token_it_is_given_and_runs_open_when_told() -> None:
    assert LocalStack(env=clean_env(TWIN_AUTH_TOKEN="mine")).child_env()["TWIN_AUTH_TOKEN"] == "mine"
    open_stack = LocalStack(env=clean_env(TWIN_AUTH="off"))
    assert "TWIN_AUTH_TOKEN" not in open_stack.child_env() and open_stack.token is None


def test_twin_up_prints_the_token_it_generated(tmp_path) -> None:
    up = subprocess.Popen([sys.executable, "-P", "-m", "services.cli", "--db", f"sqlite:///{tmp_path / 't.db'}",
                           "up", "--port", "0", "--clusters", "1"], env=clean_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        lines = [up.stdout.readline() for _ in range(4)]  # cluster0, controller, metrics, export
        addrs = dict(line.split() for line in lines[:3])
        export = lines[3].split("#")[0].split()
        assert export[0] == "export" and export[1] == f"TWIN_CONTROLLER={addrs['controller']}", lines
        token = export[2].removeprefix("TWIN_AUTH_TOKEN=")
        assert export[2].startswith("TWIN_AUTH_TOKEN=") and len(token) >= 32
        assert create_twin(addrs["cluster0"], token=None) is grpc.StatusCode.UNAUTHENTICATED
        assert create_twin(addrs["cluster0"], token=token).replicas == 8
    finally:
        up.send_signal(signal.SIGTERM)
        up.communicate(timeout=60)
    assert up.returncode == 0
