"""python -m services.metrics: the same as `twin serve metrics`."""

from services.common.serve_cmd import serve_metrics

serve_metrics.main(prog_name="python -m services.metrics")
