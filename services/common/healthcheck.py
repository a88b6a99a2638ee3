"""`python -m services.common.healthcheck [ADDR]`: exit 0 if the server at ADDR is SERVING.

The container health check of compose; ADDR defaults to 127.0.0.1:$PORT.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.channel import open_channel


def check(addr: str, timeout_s: float = 3.0) -> bool:
    with open_channel(addr) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else f"127.0.0.1:{os.environ.get('PORT', '50051')}"
    sys.exit(0 if check(target) else 1)
