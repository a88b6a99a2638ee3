"""Routers choose a replica from loads (and, for prefix affinity, cached prefixes) given as data."""

from twin.serving.router import PrefixAffinity, make_router


def test_prefix_affinity_prefers_the_longest_cached_prefix():
    assert PrefixAffinity().choose([500, 100, 900], cached=[0, 0, 1024]) == 2


def test_prefix_affinity_falls_back_to_load_on_a_miss_or_a_tie():
    assert PrefixAffinity().choose([500, 100, 900], cached=[0, 0, 0]) == 1
    assert PrefixAffinity().choose([500, 100, 900], cached=[64, 64, 0]) == 1


def test_prefix_affinity_does_not_pile_onto_an_overloaded_replica():
    r = PrefixAffinity()
    assert r.choose([PrefixAffinity.IMBALANCE_TOKENS + 1001, 1000], cached=[4096, 0]) == 1


def test_a_prefix_every_request_shares_is_not_pinned_to_one_replica_when_nothing_is_outstanding():
    """A sparse trace: each request finishes before the next, so loads are all zero and the replica
    that cached the shared system prompt first would win every time on affinity alone."""
    r, cached = PrefixAffinity(), [0, 0, 0, 0]
    for _ in range(400):
        choice = r.choose([0, 0, 0, 0], cached=cached)
        cached[choice] = 2048  # it now holds the shared prompt
    assert r.routed == [100, 100, 100, 100]


def test_least_tokens_and_round_robin():
    assert make_router("least-tokens").choose([3, 1, 2]) == 1
    rr = make_router("round-robin")
    assert [rr.choose([0, 0]) for _ in range(3)] == [0, 1, 0]
