"""Unit constants. Field names carry units (``_gbps``, ``_s``, ``_bytes``); these convert."""

KB = 1e3
MB = 1e6
GB = 1e9
TB = 1e12
GIB = 2**30
GBIT = 1e9 / 8  # bytes per second in one Gbit/s
NS = 1e-9
US = 1e-6
MS = 1e-3
