"""Routing requests across replicas. Policies see loads (and cached prefixes) as data and return an index."""

from __future__ import annotations

import abc
import itertools
from collections.abc import Sequence


class Router(abc.ABC):
    @abc.abstractmethod
    def choose(self, loads: Sequence[int], cached: Sequence[int] | None = None) -> int:
        """Index of the replica for the next request, given each replica's outstanding tokens
        and, for cache-aware policies, the prompt tokens each replica holds in its prefix cache."""


class RoundRobin(Router):
    def __init__(self) -> None:
        self._next = itertools.count()

    def choose(self, loads, cached=None) -> int:
        return next(self._next) % len(loads)


class LeastTokens(Router):
    """The replica with the fewest prompt + output tokens still to serve (ties: lowest index)."""

    def choose(self, loads, cached=None) -> int:
        return min(range(len(loads)), key=loads.__getitem__)


class PrefixAffinity(Router):
    """The replica holding the longest cached prefix of the prompt; ties and misses go by load.

    An affinity choice is overridden when that replica is far busier than the least loaded
    one (more than `IMBALANCE_TOKENS` extra outstanding tokens): a hot prefix must not pin all
    its traffic to one replica, as cache-aware routers balance hit rate against load
    (SGLang's router, Mooncake's Conductor).
    """

    IMBALANCE_TOKENS = 32_768

    def choose(self, loads, cached=None) -> int:
        least = min(range(len(loads)), key=loads.__getitem__)
        if not cached or max(cached) <= 0:
            return least
        best = min(range(len(loads)), key=lambda i: (-cached[i], loads[i]))
        return best if loads[best] - loads[least] <= self.IMBALANCE_TOKENS else least


ROUTERS: dict[str, type[Router]] = {"round-robin": RoundRobin, "least-tokens": LeastTokens,
                                    "prefix-affinity": PrefixAffinity}


def make_router(name: str) -> Router:
    return ROUTERS[name]()
