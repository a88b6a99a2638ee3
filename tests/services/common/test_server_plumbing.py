"""Every server: health, reflection, bearer-token auth, TLS, and the error interceptor's codes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.cluster.servicer import create_server
from services.common.channel import open_channel
from services.common.security import Security
from twin.errors import InvalidSpec
from twin_api.v1 import cluster_pb2, cluster_pb2_grpc, common_pb2

SPEC = common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=1)


def serve(security: Security = Security()):
    server, port = create_server("127.0.0.1:0", security=security)
    server.start()
    return server, f"127.0.0.1:{port}"


def health_status(channel: grpc.Channel, service: str = "") -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_health_and_reflection_answer() -> None:
    server, addr = serve()
    with open_channel(addr, Security()) as channel:
        assert health_status(channel, "twin_api.v1.ClusterTwin") == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    server.stop(0)
    assert {"twin_api.v1.ClusterTwin", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("client_token", [None, "wrong"])
def test_calls_without_the_right_token_are_unauthenticated(client_token: str | None) -> None:
    server, addr = serve(Security(token="s3cret"))
    with open_channel(addr, Security(token=client_token)) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            cluster_pb2_grpc.ClusterTwinStub(channel).CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC), timeout=5)
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING  # probes hold no token
    server.stop(0)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_streaming_calls_check_the_token_too() -> None:
    server, addr = serve(Security(token="s3cret"))
    with open_channel(addr, Security()) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            list(cluster_pb2_grpc.ClusterTwinStub(channel).Drain(cluster_pb2.DrainRequest(twin_id="x"), timeout=5))
    server.stop(0)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_the_right_token_passes() -> None:
    server, addr = serve(Security(token="s3cret"))
    with open_channel(addr, Security(token="s3cret")) as channel:
        twin = cluster_pb2_grpc.ClusterTwinStub(channel).CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC), timeout=5)
    server.stop(0)
    assert twin.replicas == 8


def _self_signed(folder: Path) -> tuple[str, str]:
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_tls_with_token(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server, addr = serve(Security(token="t", tls_cert=cert, tls_key=key))
    with open_channel(addr, Security(token="t", tls_ca=cert)) as channel:
        stub = cluster_pb2_grpc.ClusterTwinStub(channel)
        twin = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC), timeout=10)
    with open_channel(addr, Security(token="t")) as plaintext:
        with pytest.raises(grpc.RpcError) as caught:
            health_status(plaintext)
    server.stop(0)
    assert twin.replicas == 8
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_a_tls_certificate_needs_its_key() -> None:
    with pytest.raises(InvalidSpec, match="TWIN_TLS_CERT"):
        Security(tls_cert="cert.pem")


def test_security_comes_from_the_environment() -> None:
    security = Security.from_env({"TWIN_AUTH_TOKEN": "x", "TWIN_TLS_CA": "ca.pem"})
    assert (security.token, security.tls_ca, security.tls_cert) == ("x", "ca.pem", None)
