"""Running the cluster service: `twin serve cluster` or `python -m services.cluster`."""

from __future__ import annotations

from grpc_health.v1 import health

from services.cluster.servicer import create_server
from services.cluster.twins import TwinRegistry
from services.limits import RunLimits
from services.common.security import Security
from services.common.server import serve_until_signalled


def serve(host: str, port: int, *, max_twins: int = 64) -> None:
    """Serve until SIGTERM; live twins are simply dropped (the controller fails their runs over)."""
    health_servicer = health.HealthServicer()
    # A Session holds a worker thread for its whole life: leave room for unary calls too.
    server, bound = create_server(f"{host}:{port}", TwinRegistry(max_twins, limits=RunLimits.from_env()), security=Security.from_env(),
                                  health_servicer=health_servicer, max_workers=max_twins + 8)
    serve_until_signalled(server, health_servicer, "cluster", f"{host}:{bound}", grace_s=5.0)

