"""Quantization: what a weight or a KV element really costs in bytes and on the chip."""

from twin.quant.schemes import KV_SCHEMES, WEIGHT_SCHEMES, KvScheme, QuantPolicy, WeightScheme

__all__ = ["KV_SCHEMES", "WEIGHT_SCHEMES", "KvScheme", "QuantPolicy", "WeightScheme"]
