"""Routing requests across replicas. Policies see loads as data and return an index."""

from __future__ import annotations

import abc
import itertools


class Router(abc.ABC):
    @abc.abstractmethod
    def choose(self, loads: list[int]) -> int:
        """Index of the replica for the next request, given each replica's outstanding tokens."""


class RoundRobin(Router):
    def __init__(self) -> None:
        self._next = itertools.count()

    def choose(self, loads: list[int]) -> int:
        return next(self._next) % len(loads)


class LeastTokens(Router):
    """The replica with the fewest prompt + output tokens still to serve (ties: lowest index)."""

    def choose(self, loads: list[int]) -> int:
        return min(range(len(loads)), key=loads.__getitem__)


ROUTERS: dict[str, type[Router]] = {"round-robin": RoundRobin, "least-tokens": LeastTokens}


def make_router(name: str) -> Router:
    return ROUTERS[name]()
