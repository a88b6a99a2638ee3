"""`twin serve cluster|controller|metrics`: run one service in the foreground until SIGTERM.

Every option also reads an environment variable, which is how compose configures them.
"""

from __future__ import annotations

import logging
import os

import click

from services.common.security import AUTH_ENV, AUTH_MODES, check_server_auth
from services.controller.uploads import DEFAULT_MAX_BYTES, DEFAULT_TTL_S
from twin.errors import TwinError


def _common(default_port: int):
    def decorate(fn):
        fn = click.option("--auth", envvar=AUTH_ENV, type=click.Choice(AUTH_MODES), default="on", show_default=True,
                          callback=_check_auth, expose_value=False,
                          help="on: refuse to start without TWIN_AUTH_TOKEN; off: serve every caller, "
                               f"no token [env {AUTH_ENV}].")(fn)
        fn = click.option("--port", envvar="PORT", default=default_port, show_default=True,
                          help="Port to listen on; 0 picks a free one [env PORT].")(fn)
        return click.option("--host", envvar="TWIN_HOST", default="127.0.0.1", show_default=True,
                            help="Address to listen on; 0.0.0.0 in a container [env TWIN_HOST].")(fn)
    return decorate


def _check_auth(_ctx: click.Context, _param: click.Parameter, auth: str) -> str:
    try:
        check_server_auth(auth)
    except TwinError as exc:
        raise click.ClickException(str(exc)) from None
    return auth


def _db(fn):
    return click.option("--db", envvar="TWIN_DATABASE_URL", default=None,
                        help="Database URL [env TWIN_DATABASE_URL; default sqlite:///twin.db].")(fn)


def _logging() -> None:
    logging.basicConfig(level=os.environ.get("TWIN_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


@click.group()
def serve() -> None:
    """Run one of the twin's gRPC services (health, reflection, auth via TWIN_AUTH_TOKEN, TLS).

    Every call needs the bearer token TWIN_AUTH_TOKEN; a service refuses to start without one
    unless told `--auth off` (TWIN_AUTH=off)."""


@serve.command("cluster")
@_common(50061)
@click.option("--max-twins", envvar="TWIN_MAX_TWINS", default=64, show_default=True,
              help="Most twins this replica holds at once [env TWIN_MAX_TWINS].")
def serve_cluster(host: str, port: int, max_twins: int) -> None:
    """A cluster replica: live twins, driven by the controller (or any client)."""
    from services.cluster.main import serve as run
    _logging()
    run(host, port, max_twins=max_twins)


@serve.command("controller")
@_common(50051)
@_db
@click.option("--cluster", "cluster_addr", envvar="TWIN_CLUSTER_ADDR", required=True,
              help="Cluster replicas, e.g. dns:///cluster:50061 or ipv4:127.0.0.1:50061,127.0.0.1:50062 "
                   "[env TWIN_CLUSTER_ADDR].")
@click.option("--upload-dir", envvar="TWIN_UPLOAD_DIR", default=None,
              help="Where uploaded traces are kept, across restarts [env TWIN_UPLOAD_DIR; default "
                   "twin-uploads in the system's temporary folder].")
@click.option("--upload-ttl-s", envvar="TWIN_UPLOAD_TTL_S", default=DEFAULT_TTL_S, show_default=True,
              help="Seconds an upload is kept after its last use [env TWIN_UPLOAD_TTL_S].")
@click.option("--max-upload-bytes", envvar="TWIN_MAX_UPLOAD_BYTES", default=DEFAULT_MAX_BYTES, show_default=True,
              help="Largest trace upload [env TWIN_MAX_UPLOAD_BYTES].")
@click.pass_obj
def serve_controller(obj, host: str, port: int, db: str | None, cluster_addr: str, upload_dir: str | None,
                     upload_ttl_s: float, max_upload_bytes: int) -> None:
    """The controller: replays and sweeps on the cluster replicas, stored in the database."""
    from services.controller.main import serve as run
    _logging()
    run(host, port, db=db or getattr(obj, "db", None), cluster=cluster_addr, upload_dir=upload_dir,
        max_upload_bytes=max_upload_bytes, upload_ttl_s=upload_ttl_s)


@serve.command("metrics")
@_common(50052)
@_db
@click.pass_obj
def serve_metrics(obj, host: str, port: int, db: str | None) -> None:
    """The metrics service: stored summaries, request records, series, comparisons (read-only)."""
    from services.metrics.main import serve as run
    _logging()
    run(host, port, db=db or getattr(obj, "db", None))
