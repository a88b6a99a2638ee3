"""lpu-twin: a discrete-event digital twin of an LLM-inference cluster of HyperAccel LPU chips.

The package is the simulation core. It imports only the standard library, SimPy,
numpy and PyYAML; gRPC, SQL and the CLI live in ``services``.
"""

__version__ = "0.1.0"
