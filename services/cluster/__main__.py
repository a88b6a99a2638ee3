"""python -m services.cluster: the same as `twin serve cluster`."""

from services.common.serve_cmd import serve_cluster

serve_cluster.main(prog_name="python -m services.cluster")
