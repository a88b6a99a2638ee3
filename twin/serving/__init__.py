"""Serving: request lifecycle, KV cache, per-replica scheduling, routing and the engines."""
