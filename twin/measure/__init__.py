"""Measurements of a real serving engine, and the twin fitted and checked against them.

A measurement is what one benchmark run of a real engine recorded per request: when it arrived,
its prompt and output lengths, and its TTFT, TPOT and end-to-end latency. ``load_measurement``
reads the twin's own export (CSV or JSON Lines, vLLM benchmark column names) and vLLM's
``benchmark_serving.py --save-result`` JSON; ``compare`` replays the same workload on a twin and
sets its predictions beside the measurements; ``fit`` fits the twin's physical parameters to them.
"""

from twin.measure.records import MeasuredRequest, Measurement, load_measurement

__all__ = ["MeasuredRequest", "Measurement", "load_measurement"]
