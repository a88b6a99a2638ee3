"""Running the metrics service: `twin serve metrics` or `python -m services.metrics`."""

from __future__ import annotations

from grpc_health.v1 import health

from services.common.security import Security
from services.common.server import serve_until_signalled
from services.common.storage import open_store_patiently
from services.metrics.servicer import create_server


def serve(host: str, port: int, *, db: str | None) -> None:
    store = open_store_patiently(db)
    health_servicer = health.HealthServicer()
    server, bound = create_server(f"{host}:{port}", store, security=Security.from_env(),
                                  health_servicer=health_servicer)
    try:
        serve_until_signalled(server, health_servicer, "metrics", f"{host}:{bound}")
    finally:
        store.close()

