"""ClusterTwin servicer: converts messages, calls the twin, converts back.

`create_server(addr, registry) -> (server, port)` serves it with health and reflection.
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from grpc_health.v1 import health

from services.cluster import ops
from services.cluster.session import run_session
from services.cluster.twins import TwinRegistry
from services.common import convert
from services.common.security import Security
from services.common.server import build_server
from twin_api.v1 import cluster_pb2_grpc

SERVICE = "twin_api.v1.ClusterTwin"


class ClusterTwinServicer(cluster_pb2_grpc.ClusterTwinServicer):
    def __init__(self, registry: TwinRegistry):
        self.registry = registry

    def CreateTwin(self, request, context):
        return ops.twin_msg(self.registry.create(convert.run_spec(request.spec)))

    def Submit(self, request, context):
        return ops.submit(self.registry.get(request.twin_id), request)

    def Advance(self, request, context):
        return ops.advance(self.registry.get(request.twin_id), request, context.is_active)

    def Drain(self, request, context):
        yield from ops.drain(self.registry.get(request.twin_id), request)

    def GetComponent(self, request, context):
        return ops.component(self.registry.get(request.twin_id), request)

    def SetPolicy(self, request, context):
        return ops.set_policy(self.registry.get(request.twin_id), request)

    def Summarize(self, request, context):
        return ops.summarize(self.registry.get(request.twin_id), request)

    def DeleteTwin(self, request, context):
        self.registry.delete(request.twin_id)
        return empty_pb2.Empty()

    def Session(self, request_iterator, context):
        yield from run_session(self.registry, request_iterator, context)


def create_server(addr: str, registry: TwinRegistry | None = None, *, security: Security | None = None,
                  health_servicer: health.HealthServicer | None = None,
                  max_workers: int = 32) -> tuple[grpc.Server, int]:
    servicer = ClusterTwinServicer(TwinRegistry() if registry is None else registry)
    return build_server(addr, [(cluster_pb2_grpc.add_ClusterTwinServicer_to_server, servicer, SERVICE)],
                        security=security, health_servicer=health_servicer, max_workers=max_workers)
