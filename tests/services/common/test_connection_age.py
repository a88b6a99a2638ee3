"""The servers' maximum connection age: aged connections are closed so clients re-resolve (and find
new replicas), but a call in flight (a replay's session stream) is never cut by it."""

from __future__ import annotations

import queue
import time

import grpc
import pytest

from services.common.channel import open_channel
from services.common.server import build_server, connection_age_ms


def _echo_server():
    """A server whose /test.Echo/Stream sends whatever the test puts in the queue, and /Ping answers."""
    items: queue.Queue = queue.Queue()

    def stream(request, context):
        while (item := items.get(timeout=20)) is not None:
            yield item

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Ping": grpc.unary_unary_rpc_method_handler(lambda request, context: b"pong")})
    server, port = build_server("127.0.0.1:0", [(lambda _s, srv: srv.add_generic_rpc_handlers((handler,)),
                                                 None, "test.Echo")])
    return server, port, items


def test_a_stream_outlives_the_connection_age_and_new_calls_still_work(monkeypatch):
    monkeypatch.setenv("TWIN_MAX_CONNECTION_AGE_S", "0.3")
    server, port, items = _echo_server()
    server.start()
    try:
        with open_channel(f"127.0.0.1:{port}") as channel:
            stream = channel.unary_stream("/test.Echo/Stream")(b"", timeout=30)
            items.put(b"first")
            assert next(stream) == b"first"
            time.sleep(1.5)  # five connection ages
            items.put(b"second")
            assert next(stream) == b"second"  # the same call, not cut by the age
            items.put(None)
            assert list(stream) == []
            assert channel.unary_unary("/test.Echo/Ping")(b"", timeout=10) == b"pong"  # on a new connection
    finally:
        server.stop(0)


def test_the_age_setting_is_checked(monkeypatch):
    monkeypatch.setenv("TWIN_MAX_CONNECTION_AGE_S", "20")
    assert connection_age_ms() == 20_000
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv("TWIN_MAX_CONNECTION_AGE_S", bad)
        with pytest.raises(ValueError, match="TWIN_MAX_CONNECTION_AGE_S"):
            connection_age_ms()
