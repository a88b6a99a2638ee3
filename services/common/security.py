"""Optional bearer-token auth and TLS, configured from the environment.

    TWIN_AUTH_TOKEN  servers require `authorization: Bearer <token>`; clients send it
    TWIN_TLS_CERT    server certificate chain (PEM path); with TWIN_TLS_KEY, servers speak TLS
    TWIN_TLS_KEY     server private key (PEM path)
    TWIN_TLS_CA      clients: the root certificate to trust (PEM path); set, clients use TLS
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import grpc

from twin.errors import InvalidSpec


@dataclass(frozen=True)
class Security:
    token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise InvalidSpec("TWIN_TLS_CERT", "a TLS certificate and key go together: set both or neither")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Security:
        env = os.environ if env is None else env
        return cls(*(env.get(k) or None for k in ("TWIN_AUTH_TOKEN", "TWIN_TLS_CERT", "TWIN_TLS_KEY", "TWIN_TLS_CA")))

    def server_credentials(self) -> grpc.ServerCredentials | None:
        if not self.tls_cert:
            return None
        pair = (Path(self.tls_key).read_bytes(), Path(self.tls_cert).read_bytes())
        return grpc.ssl_server_credentials([pair])

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        if not self.tls_ca:
            return None
        return grpc.ssl_channel_credentials(root_certificates=Path(self.tls_ca).read_bytes())
