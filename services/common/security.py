"""Bearer-token auth and optional TLS, configured from the environment.

    TWIN_AUTH_TOKEN  servers require `authorization: Bearer <token>`; clients send it
    TWIN_AUTH        `off`: a server may start without a token (`twin serve --auth off`); by
                     default (`on`) `twin serve` refuses to start without one
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

AUTH_ENV, AUTH_MODES = "TWIN_AUTH", ("on", "off")
TOKEN_ENV = "TWIN_AUTH_TOKEN"


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


def check_server_auth(auth: str, env: Mapping[str, str] | None = None) -> None:
    """A server needs a token unless auth is explicitly off; off with a token set is a contradiction.

    Auth is on by default so that a service never listens unauthenticated by accident (an
    unset or empty variable in a deployment); running open is a decision written down."""
    token = (os.environ if env is None else env).get(TOKEN_ENV)
    if auth == "on" and not token:
        raise InvalidSpec(TOKEN_ENV, "not set; every call needs this bearer token: set it (deploy/make-secrets.sh "
                                     "writes one for compose and Kubernetes), or serve without auth with "
                                     f"--auth off [env {AUTH_ENV}=off]")
    if auth == "off" and token:
        raise InvalidSpec(AUTH_ENV, f"is off but {TOKEN_ENV} is set: unset one of them")
