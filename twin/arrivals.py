"""Requests on their way in: one SimPy process hands each to the router when the host is done with it.

A request is ready once it has arrived and the host has tokenised it and copied its
ids over PCIe; ready times follow arrival order only roughly (a long prompt takes longer),
so pending requests wait in a heap by ready time. Requests come from `submit` (a service
hands them over in chunks) or from a stream read lazily (`feed`): the stream is read only
as far as the earliest pending ready time, which no later arrival can precede, so a
replay of a million requests holds a handful of them here at a time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator

import simpy

from twin.errors import InvalidSpec
from twin.serving.request import Request, TraceRequest


class Arrivals:
    def __init__(self, env: simpy.Environment, ingest_s: Callable[[int], float], route: Callable[[Request], None]):
        self.env, self.ingest_s, self.route = env, ingest_s, route
        self.submitted = 0  # requests taken in so far (from submit or from the stream)
        self._pending: list[tuple[float, int, Request]] = []  # (ready time, order taken in, request)
        self._order = itertools.count()
        self._stream: Iterator[TraceRequest] = iter(())
        self._next: TraceRequest | None = None  # the stream's next request, read ahead by one
        self._sleeping_until: float | None = None  # while the process waits: until when (inf: for input)
        self._process = env.process(self._run())

    @property
    def exhausted(self) -> bool:
        """Whether every request there will be has been taken in (nothing left in a stream)."""
        return self._next is None

    def submit(self, spec: TraceRequest) -> None:
        self._take(spec)
        self._wake(self._pending[0][0])

    def feed(self, requests: Iterable[TraceRequest]) -> None:
        """Take requests from `requests` (in arrival order) as simulated time reaches them."""
        if self._next is not None:
            raise InvalidSpec("requests", "a stream of requests is already being fed to this twin")
        self._stream = iter(requests)
        self._next = next(self._stream, None)
        if self._next is not None:
            self._wake(self._next.arrival_s)

    def _take(self, spec: TraceRequest) -> None:
        if spec.arrival_s < self.env.now:
            raise InvalidSpec("arrival_s", f"request {spec.request_id} arrives at {spec.arrival_s:.6f} s, "
                                           f"before the simulated now {self.env.now:.6f} s")
        self.submitted += 1
        ready = spec.arrival_s + self.ingest_s(spec.input_tokens)
        heapq.heappush(self._pending, (ready, next(self._order), Request(spec)))

    def _wake(self, ready: float) -> None:
        """Interrupt the process if it sleeps past `ready` (a request that must be routed sooner)."""
        if self._sleeping_until is not None and ready < self._sleeping_until:
            self._sleeping_until = None
            self._process.interrupt()

    def _read(self) -> None:
        """Take in streamed requests up to the earliest pending ready time (no later arrival is ready sooner)."""
        pending = self._pending
        while self._next is not None and (not pending or self._next.arrival_s <= pending[0][0]):
            spec, self._next = self._next, next(self._stream, None)
            self._take(spec)

    def _run(self):
        pending, env = self._pending, self.env
        while True:
            self._read()
            now = env.now
            while pending and pending[0][0] <= now:  # every request ready by now (a trace's ties come together)
                self.route(heapq.heappop(pending)[2])
                self._read()
            self._sleeping_until = pending[0][0] if pending else float("inf")
            try:
                yield env.timeout(pending[0][0] - now) if pending else env.event()
            except simpy.Interrupt:
                pass
            self._sleeping_until = None
