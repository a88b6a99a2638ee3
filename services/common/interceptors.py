"""Server interceptors: bearer-token auth, and the one mapping of domain errors to status codes."""

from __future__ import annotations

import functools
import hmac
import logging
from typing import Callable

import grpc
from sqlalchemy.exc import DBAPIError

from services.common.messages import one_line
from services.store import StoreError
from twin.errors import CapacityExceeded, InvalidSpec, NotRunning, TraceFormatError, TwinError, UnknownName

log = logging.getLogger(__name__)

# Most specific first: StoreError is a TwinError too.
STATUS_OF: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (InvalidSpec, grpc.StatusCode.INVALID_ARGUMENT),
    (TraceFormatError, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownName, grpc.StatusCode.NOT_FOUND),
    (CapacityExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NotRunning, grpc.StatusCode.FAILED_PRECONDITION),
    (StoreError, grpc.StatusCode.UNAVAILABLE),
    (TwinError, grpc.StatusCode.INVALID_ARGUMENT),
)
# Health checks come from probes that hold no token (Docker, Kubernetes).
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/",)


def status_of(exc: Exception) -> grpc.StatusCode:
    return next(code for kind, code in STATUS_OF if isinstance(exc, kind))


def _abort(context, exc: Exception) -> None:
    if isinstance(exc, DBAPIError):  # e.g. a read-only or full database: not the caller's fault
        log.warning("database error: %s", exc.orig)
        context.abort(grpc.StatusCode.UNAVAILABLE, one_line(exc))
    context.abort(status_of(exc), one_line(exc))


def _rewrap(handler: grpc.RpcMethodHandler, wrap: Callable) -> grpc.RpcMethodHandler:
    """The same handler with its behaviour wrapped by `wrap(behaviour, streaming_response)`."""
    kinds = (("unary_unary", grpc.unary_unary_rpc_method_handler),
             ("unary_stream", grpc.unary_stream_rpc_method_handler),
             ("stream_unary", grpc.stream_unary_rpc_method_handler),
             ("stream_stream", grpc.stream_stream_rpc_method_handler))
    for attr, make in kinds:
        behaviour = getattr(handler, attr)
        if behaviour is not None:
            return make(wrap(behaviour, handler.response_streaming),
                        request_deserializer=handler.request_deserializer,
                        response_serializer=handler.response_serializer)
    return handler


def _map_errors(behaviour: Callable, streaming: bool) -> Callable:
    if streaming:
        @functools.wraps(behaviour)
        def stream(request, context):
            try:
                yield from behaviour(request, context)
            except (TwinError, DBAPIError) as exc:
                _abort(context, exc)
        return stream

    @functools.wraps(behaviour)
    def unary(request, context):
        try:
            return behaviour(request, context)
        except (TwinError, DBAPIError) as exc:
            _abort(context, exc)
    return unary


class ErrorInterceptor(grpc.ServerInterceptor):
    """Domain errors (twin.errors) become status codes; the message names the bad field."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        return None if handler is None else _rewrap(handler, _map_errors)


class AuthInterceptor(grpc.ServerInterceptor):
    """Calls without `authorization: Bearer <token>` get UNAUTHENTICATED (health checks excepted)."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_PREFIXES):
            return handler
        sent = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(sent.encode(), self._expected):
            return handler
        message = "missing bearer token" if not sent else "wrong bearer token"
        return _rewrap(handler, lambda _b, streaming: _refuse(message, streaming))


def _refuse(message: str, streaming: bool) -> Callable:
    def refuse(_request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
    if not streaming:
        return refuse

    def refuse_stream(request, context):
        refuse(request, context)
        yield  # a generator, as a streaming handler must be
    return refuse_stream
