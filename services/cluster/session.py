"""A Session: one twin driven over one stream, so a load balancer keeps it on one replica.

The first command creates the twin; it is deleted when the stream ends, however it ends.
"""

from __future__ import annotations

from services.cluster import ops
from services.cluster.twins import TwinRegistry
from services.common import convert
from twin.errors import InvalidSpec, NotRunning
from twin_api.v1 import cluster_pb2


def run_session(registry: TwinRegistry, commands, context):
    twin = None
    try:
        for command in commands:
            kind = command.WhichOneof("command")
            if kind is None:
                raise InvalidSpec("command", "a session command must set one of its fields")
            if (kind == "create") == (twin is not None):
                raise NotRunning("a session starts with one `create` command, and has only one")
            if kind == "create":
                twin = registry.create(convert.run_spec(command.create.spec))
                yield cluster_pb2.SessionReply(twin=ops.twin_msg(twin))
                continue
            yield from _reply(kind, twin, getattr(command, kind), context)
            if not context.is_active():
                return
    finally:
        if twin is not None:
            registry.discard(twin.twin_id)


def _reply(kind: str, twin, request, context):
    if kind == "drain":
        for batch in ops.drain(twin, request):
            yield cluster_pb2.SessionReply(records=batch)
        return
    op, field = {"submit": (ops.submit, "submitted"), "advance": (ops.advance, "progress"),
                 "set_policy": (ops.set_policy, "twin"), "component": (ops.component, "component"),
                 "summarize": (ops.summarize, "summary")}[kind]
    if kind == "advance":  # the long one: it stops early once the client is gone
        yield cluster_pb2.SessionReply(progress=ops.advance(twin, request, context.is_active))
        return
    yield cluster_pb2.SessionReply(**{field: op(twin, request)})

