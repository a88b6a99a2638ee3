"""Running the controller: `twin serve controller` or `python -m services.controller`.

Configuration (see `twin serve controller --help`): TWIN_DATABASE_URL, TWIN_CLUSTER_ADDR
(e.g. dns:///cluster:50061), TWIN_UPLOAD_DIR, TWIN_MAX_UPLOAD_BYTES, the TWIN_<LIMIT>
variables of `runs.Limits` (among them TWIN_DB_OUTAGE_S, how long a run rides out a database it
cannot reach; keep it below TWIN_RUN_LEASE_S, after which other processes take the run over),
and the auth/TLS variables of `services.common.security`.
"""

from __future__ import annotations

import logging

from grpc_health.v1 import health

from services.common.channel import open_channel
from services.common.security import Security
from services.common.server import serve_until_signalled
from services.common.storage import open_store_patiently
from services.store.repo import process_owner
from services.controller.reclaim import Reclaimer
from services.controller.runs import Limits, RunManager
from services.controller.servicer import ControllerServicer, create_server
from services.limits import RunLimits
from services.controller.uploads import DEFAULT_MAX_BYTES, DEFAULT_TTL_S, UploadStore
from twin_api.v1 import cluster_pb2_grpc

log = logging.getLogger(__name__)


def serve(host: str, port: int, *, db: str | None, cluster: str, upload_dir: str | None = None,
          max_upload_bytes: int = DEFAULT_MAX_BYTES, limits: Limits | None = None,
          upload_ttl_s: float = DEFAULT_TTL_S) -> None:
    store = open_store_patiently(db, owner=process_owner(f"controller {host}:{port}"))
    reclaimer = Reclaimer(store)  # runs whose process died; live runs of other processes stay
    reclaimer.sweep()
    reclaimer.start()
    channel = open_channel(cluster)
    runs = RunManager(store, cluster_pb2_grpc.ClusterTwinStub(channel), limits or Limits.from_env(),
                      RunLimits.from_env())
    servicer = ControllerServicer(runs, UploadStore(upload_dir, max_upload_bytes, upload_ttl_s), store)
    health_servicer = health.HealthServicer()
    server, bound = create_server(f"{host}:{port}", servicer, security=Security.from_env(),
                                  health_servicer=health_servicer)
    try:
        serve_until_signalled(server, health_servicer, "controller", f"{host}:{bound}", on_stop=runs.shutdown)
    finally:
        reclaimer.stop()
        channel.close()
        store.close()

