"""python -m services.controller: the same as `twin serve controller`."""

from services.common.serve_cmd import serve_controller

serve_controller.main(prog_name="python -m services.controller")
