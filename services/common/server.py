"""Building and running a gRPC server: interceptors, health, reflection, graceful shutdown.

    server, port = build_server("127.0.0.1:0", [(add_FooServicer_to_server, servicer, "pkg.Foo")])
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent import futures
from typing import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.interceptors import AuthInterceptor, ErrorInterceptor
from services.common.security import Security

log = logging.getLogger(__name__)

Registration = tuple[Callable, object, str]  # (add_XServicer_to_server, servicer, full service name)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Connections older than this are closed (GOAWAY; calls in flight finish, there is no grace
# limit), so clients re-resolve DNS names and reach replicas added since: `--scale cluster=N`.
MAX_CONNECTION_AGE_ENV, DEFAULT_MAX_CONNECTION_AGE_S = "TWIN_MAX_CONNECTION_AGE_S", 60.0


def connection_age_ms() -> int:
    raw = os.environ.get(MAX_CONNECTION_AGE_ENV) or str(DEFAULT_MAX_CONNECTION_AGE_S)
    try:
        age = float(raw)
    except ValueError:
        raise ValueError(f"{MAX_CONNECTION_AGE_ENV} must be seconds, got {raw[:40]!r}") from None
    if age <= 0:
        raise ValueError(f"{MAX_CONNECTION_AGE_ENV} must be above 0, got {age}")
    return int(age * 1000)


def build_server(addr: str, services: Sequence[Registration], *, security: Security | None = None,
                 health_servicer: health.HealthServicer | None = None,
                 max_workers: int = 32) -> tuple[grpc.Server, int]:
    """A started-ready (not started) server on `addr` ("host:0" picks a free port) and its port."""
    security = security or Security()
    interceptors = [AuthInterceptor(security.token)] if security.token else []
    interceptors.append(ErrorInterceptor())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), interceptors=interceptors,
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                  ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                                  ("grpc.max_connection_age_ms", connection_age_ms())])
    health_servicer = health_servicer or health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [name for _, _, name in services]
    for add, servicer, name in services:
        add(servicer, server)
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    credentials = security.server_credentials()
    port = server.add_secure_port(addr, credentials) if credentials else server.add_insecure_port(addr)
    return server, port


def serve_until_signalled(server: grpc.Server, health_servicer: health.HealthServicer, name: str, addr: str,
                          on_stop: Callable[[], None] = lambda: None, grace_s: float = 10.0) -> None:
    """Start, announce `READY name addr` on stdout, and on SIGTERM/SIGINT shut down gracefully.

    Shutdown: health turns NOT_SERVING, `on_stop` lets the service wind down its work (the
    controller marks in-flight runs interrupted), then in-flight calls get `grace_s` to end.
    """
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"READY {name} {addr}", flush=True)
    log.info("%s listening on %s", name, addr)
    # Waits a moment at a time: the kernel may hand the signal to one of gRPC's threads, and then a
    # wait without a timeout is never interrupted, so the handler would not run until something woke it.
    while not stop.wait(0.2):
        pass
    log.info("%s shutting down", name)
    health_servicer.enter_graceful_shutdown()
    on_stop()
    server.stop(grace_s).wait()
