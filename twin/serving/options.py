"""Rules for the serving-architecture options of `ServingConfig`: disaggregation, prefix cache, speculation.

Kept apart from `twin.config` so that file stays about specs; each rule names the field it checks.
"""

from __future__ import annotations

import math

from twin.errors import InvalidSpec

ROUTERS = ("round-robin", "least-tokens", "prefix-affinity")
PREFIX_CACHES = ("none", "lru")
MAX_DRAFT_TOKENS = 16


def check_architecture(c) -> None:
    """Validate the architecture fields of a ServingConfig `c`."""
    _check_pd(c)
    _check_prefix_cache(c)
    _check_speculative(c)


def _check_pd(c) -> None:
    if c.pd is not None:
        from twin.serving.disaggregation import parse_pd
        parse_pd(c.pd)
    elif c.prefill_server is not None:
        raise InvalidSpec("prefill_server", "needs a disaggregated deployment (pd P:D)")
    for name in ("prefill_router", "decode_router"):
        if getattr(c, name) not in ROUTERS:
            raise InvalidSpec(name, f"must be one of {', '.join(ROUTERS)}, got {getattr(c, name)!r}")


def _check_prefix_cache(c) -> None:
    if c.prefix_cache not in PREFIX_CACHES:
        raise InvalidSpec("prefix_cache", f"must be one of {', '.join(PREFIX_CACHES)}, got {c.prefix_cache!r}")
    if not 0 < c.prefix_cache_share < 1:
        raise InvalidSpec("prefix_cache_share", f"must be in (0, 1), got {c.prefix_cache_share!r}")
    if c.prefix_cache_gb is not None and not (c.prefix_cache_gb > 0):
        raise InvalidSpec("prefix_cache_gb", f"must be > 0 (inf: unbounded), got {c.prefix_cache_gb!r}")
    if not (c.prefix_cache_host_gb >= 0 and math.isfinite(c.prefix_cache_host_gb)):
        raise InvalidSpec("prefix_cache_host_gb", f"must be a finite number >= 0, got {c.prefix_cache_host_gb!r}")
    if c.router == "prefix-affinity" and c.prefix_cache == "none":
        raise InvalidSpec("router", "prefix-affinity needs a prefix cache (prefix_cache lru)")


def _check_speculative(c) -> None:
    if not (isinstance(c.speculative, int) and 0 <= c.speculative <= MAX_DRAFT_TOKENS):
        raise InvalidSpec("speculative", f"K must be an integer in [0, {MAX_DRAFT_TOKENS}], got {c.speculative!r}")
    if not 0 <= c.acceptance <= 1:
        raise InvalidSpec("acceptance", f"must be in [0, 1], got {c.acceptance!r}")
    if c.acceptance_dist is not None and not (len(c.acceptance_dist) == 2 and min(c.acceptance_dist) > 0):
        raise InvalidSpec("acceptance_dist", f"Beta a,b must be two numbers > 0, got {c.acceptance_dist!r}")
    if c.draft_skip is not None and not 0 < c.draft_skip < 1:
        raise InvalidSpec("draft_skip", f"must be in (0, 1), got {c.draft_skip!r}")
    if c.speculative and (c.draft_model is None) == (c.draft_skip is None):
        raise InvalidSpec("draft_model", "speculative decoding needs a draft model or a draft layer-skip share")
    if not c.speculative and (c.draft_model is not None or c.draft_skip is not None):
        raise InvalidSpec("speculative", "a draft model or layer skip needs speculative K >= 1")


def parse_beta(text: str) -> tuple[float, float]:
    """'a,b' -> (a, b) for --acceptance-dist."""
    try:
        a, b = (float(x) for x in str(text).split(","))
    except ValueError:
        raise InvalidSpec("acceptance_dist", f"expected a,b (Beta parameters), got {text!r}") from None
    return a, b
