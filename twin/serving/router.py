"""Routing requests across replicas. Policies see loads (and cached prefixes) as data and return an index."""

from __future__ import annotations

import abc
import itertools
import math
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
    """The replica holding the longest cached prefix of the prompt, among those within a load bound.

    Affinity alone pins a prefix every request shares (a system prompt) to one replica while the
    rest idle. So, as in consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam,
    SODA 2018), and as SGLang's cache-aware router and llm-d's load-aware scorer weigh hit rate
    against load, a replica is a candidate only while it has been sent fewer than
    ceil(LOAD_BOUND x (routed + 1) / replicas) requests: over a run every replica serves a fair
    share, sparse traces included (nothing is outstanding when the next request comes, so loads
    alone tell the replicas no apart). Among them the longest cached prefix wins unless that replica has more than `IMBALANCE_TOKENS`
    outstanding tokens over the least loaded one (a hot prefix must not queue behind a busy replica
    now, whatever the shares so far); ties and misses go to the least loaded, then the least sent. A
    prefix everyone shares ends up cached on every replica, each having paid one miss for it.
    """

    IMBALANCE_TOKENS = 32_768
    LOAD_BOUND = 1.1  # (1 + eps): no replica takes more than 10 % over the mean share (so, of 4, none under 70 %)

    def __init__(self) -> None:
        self.routed: list[int] = []  # requests sent to each replica so far

    def choose(self, loads, cached=None) -> int:
        n = len(loads)
        if len(self.routed) != n:
            self.routed = [0] * n
        cap = math.ceil(self.LOAD_BOUND * (sum(self.routed) + 1) / n)
        fair = [i for i in range(n) if self.routed[i] < cap]  # never empty: some replica is at most the mean
        least = min(fair, key=lambda i: (loads[i], self.routed[i]))
        choice = least
        if cached and max(cached[i] for i in fair) > 0:
            best = min(fair, key=lambda i: (-cached[i], loads[i], self.routed[i]))
            choice = best if loads[best] - loads[least] <= self.IMBALANCE_TOKENS else least
        self.routed[choice] += 1
        return choice


ROUTERS: dict[str, type[Router]] = {"round-robin": RoundRobin, "least-tokens": LeastTokens,
                                    "prefix-affinity": PrefixAffinity}


def make_router(name: str) -> Router:
    return ROUTERS[name]()
