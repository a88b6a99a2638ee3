"""Client channels: the bearer token on every call, TLS, and round-robin with retries.

A target such as ``dns:///cluster:50051`` resolves to every replica behind the name, and
the service config spreads calls over them (``round_robin``), retrying UNAVAILABLE.
``ipv4:127.0.0.1:50061,127.0.0.1:50062`` lists replicas by hand, e.g. for ``twin up``.
"""

from __future__ import annotations

import json

import grpc

from services.common.security import Security

RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.2s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{"name": [{"service": "twin_api.v1.ClusterTwin"}, {"service": "twin_api.v1.Controller"},
                               {"service": "twin_api.v1.Metrics"}],
                      "retryPolicy": RETRY_POLICY}],
}


class _Token(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
             grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details):
        metadata = [*(details.metadata or ()), self._header]
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


class _Details(grpc.ClientCallDetails):
    def __init__(self, base, metadata):
        self.method, self.timeout, self.credentials = base.method, base.timeout, base.credentials
        self.wait_for_ready, self.compression = base.wait_for_ready, base.compression
        self.metadata = metadata


def open_channel(target: str, security: Security | None = None) -> grpc.Channel:
    """A channel to `target` with round-robin, retries, and the token and TLS of `security`."""
    security = Security.from_env() if security is None else security
    options = [("grpc.service_config", json.dumps(SERVICE_CONFIG)), ("grpc.enable_retries", 1),
               ("grpc.max_receive_message_length", 16 * 1024 * 1024),
               # a DNS name is re-resolved when a server ages a connection out: allow it every 5 s
               ("grpc.dns_min_time_between_resolutions_ms", 5000),
               # A replica restarted on its address (twin up, compose) is found within 2 s, not
               # after gRPC's default reconnect backoff of up to 120 s.
               ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)]
    credentials = security.channel_credentials()
    channel = (grpc.secure_channel(target, credentials, options) if credentials
               else grpc.insecure_channel(target, options))
    return grpc.intercept_channel(channel, _Token(security.token)) if security.token else channel
