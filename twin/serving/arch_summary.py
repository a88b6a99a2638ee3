"""What the serving architectures did in a run: prefix-cache hits, speculation, KV transfers."""

from __future__ import annotations

from twin.serving.prefix_cache import CacheCounters
from twin.serving.speculative import expected_tokens, tpot_gain


def architecture_summary(sim) -> dict:
    """The `architecture` section of a run summary (only the mechanisms in use)."""
    out = {"deployment": "disaggregated" if sim.disaggregation else "colocated"}
    caches = [rep.prefix.cache for rep in sim.replicas if rep.prefix is not None]
    if caches:
        out["prefix_cache"] = _prefix(sim, caches)
    specs = [rep for rep in sim.replicas if rep.spec is not None]
    if specs:
        out["speculative"] = _speculative(specs)
    if sim.disaggregation is not None:
        pools = {"prefill": sum(r.role == "prefill" for r in sim.replicas),
                 "decode": sum(r.role == "decode" for r in sim.replicas)}
        out["disaggregation"] = {**pools, **sim.disaggregation.log.summary()}
    return out


def _prefix(sim, caches) -> dict:
    c = CacheCounters()
    for cache in caches:
        c.add(cache.counters)
    blocks = c.hit_blocks + c.miss_blocks
    saved = sum(rep.stats.prefix_saved_tokens for rep in sim.replicas)
    return {"lookups": c.lookups, "block_hit_rate": c.hit_blocks / blocks if blocks else 0.0,
            "token_hit_rate": c.hit_tokens / c.lookup_tokens if c.lookup_tokens else 0.0,
            "hit_tokens": c.hit_tokens, "host_hit_tokens": c.host_hit_tokens,
            "prefill_tokens_saved": saved, "evictions": c.evictions, "host_evictions": c.host_evictions,
            "device_capacity_tokens": caches[0].device_tokens,
            # the spread of requests over the replicas with a cache: a router that pins a prefix shows here
            "replica_lookups_min": min(cache.counters.lookups for cache in caches),
            "replica_lookups_max": max(cache.counters.lookups for cache in caches)}


def _speculative(reps) -> dict:
    steps = sum(r.stats.spec_seq_steps for r in reps)
    tokens = sum(r.stats.spec_tokens for r in reps)
    busy = sum(r.stats.busy_s for r in reps)
    draft = sum(r.stats.draft_s for r in reps)
    cfg, rep = reps[0].spec.acceptance.config, reps[0]
    expected = expected_tokens(cfg.acceptance, cfg.k) if cfg.beta is None else None
    mean_a = cfg.acceptance if cfg.beta is None else cfg.beta[0] / (cfg.beta[0] + cfg.beta[1])
    return {"k": cfg.k, "draft": cfg.draft_model or f"skip {cfg.draft_skip:.0%} of layers",
            "tokens_per_step": tokens / steps if steps else 0.0, "expected_tokens_per_step": expected,
            "draft_time_share": draft / busy if busy else 0.0,
            "verify_time_share": 1 - draft / busy if busy else 0.0,
            "tpot_gain_one_sequence": tpot_gain(rep.cost, rep.spec.drafts, mean_a)}
